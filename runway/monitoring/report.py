"""Self-contained HTML report of one monitoring run.

One HTML string, no external files, scripts, fonts or CDNs: every chart is a
matplotlib PNG embedded as a ``data:image/png;base64`` URI, styles are inline.
It opens from an e-mail attachment, an artifact store or ZenML's dashboard
(``HTMLString`` visualization) alike.

The report names no metric or KPI of its own: it charts what it is given.
Sections: header (model, version, window, generation time, overall severity),
alerts, drift table (rows coloured by severity), PSI bar chart, one chart per
metric over past windows and one of the KPI's money columns, KPI by segment,
for classification the ROC curve, reliability plot and score distribution of
this window's labelled scores, schema changes, and one reference-vs-current
distribution chart per feature.

Usage::

    html = render_report(drift_result, reference_df, current_df,
                         model_name="churn_classifier", model_version="12",
                         window="2024-W07", history=past_windows, alerts=alerts,
                         metrics=["roc_auc", "brier"], kpi=kpi_table,
                         kpi_columns=plugin.KPI_HEADLINE, currency="EUR",
                         y_true=labels, score=scores, threshold=0.31)
    write_report(html, "reports/2024-W07.html")
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

from runway.config.schema import Task
from runway.evaluation.metrics import metric_names
from runway.monitoring.drift import DriftResult, FeatureDrift, max_severity

COLORS = {"ok": "#2e7d32", "warn": "#ef8f00", "alert": "#c62828"}
TINTS = {"ok": "#ffffff", "warn": "#fff4e0", "alert": "#fde7e7"}
REF_COLOR, CUR_COLOR = "#5b7db1", "#e07b39"
_DPI = 80
_TOP_CATEGORIES = 12


# ------------------------------------------------------------- helpers ---


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        mag = math.fabs(v)  # abs() of float | np.floating infers as object
        if v != 0 and (mag < 10**-digits or mag >= 1e6):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(v)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _badge(sev: str) -> str:
    return f'<span class="badge" style="background:{COLORS.get(sev, "#777")}">{_e(sev)}</span>'


def _placeholder(text: str, size: tuple[float, float] = (4.2, 2.6)) -> str:
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10, color="#555")
    return _png(fig)


def _sample(s: pd.Series, max_rows: int, seed: int) -> pd.Series:
    # Plots only: a deterministic sample keeps 1M-row windows fast to draw.
    return s.sample(n=max_rows, random_state=seed) if len(s) > max_rows else s


# --------------------------------------------------------------- plots ---


def _numeric_plot(f: FeatureDrift, ref: pd.Series | None, cur: pd.Series | None) -> str:
    def values(s: pd.Series | None) -> np.ndarray:
        if s is None:
            return np.empty(0)
        try:
            a = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            return np.empty(0)
        return a[np.isfinite(a)]

    r, c = values(ref), values(cur)
    if r.size == 0 and c.size == 0:
        return _placeholder(f"{f.feature}\nno numeric values to plot")
    both = np.concatenate([r, c])
    lo, hi = np.percentile(both, [0.5, 99.5])  # clip far outliers so the bulk is visible
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, 41).tolist()
    fig = Figure(figsize=(4.2, 2.6))
    ax = fig.add_subplot()
    for arr, color, label in ((r, REF_COLOR, "reference"), (c, CUR_COLOR, "current")):
        if arr.size:
            # Values outside the shown range are left out (not piled into the
            # edge bins, which would draw a spike that is not in the data).
            ax.hist(arr, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=color, label=f"{label} (n={arr.size:,})")
            ax.hist(arr, bins=edges, density=True, histtype="step", color=color, linewidth=1.2)
    outside = float(np.mean((both < lo) | (both > hi)))
    if outside > 0:
        ax.text(0.99, 0.02, f"{outside:.1%} outside range not shown", transform=ax.transAxes, ha="right", fontsize=6, color="#666")
    ax.set_title(f"{f.feature}  [{f.severity}]  PSI {_fmt(f.psi)}  KS {_fmt(f.ks_stat)}", fontsize=9, color=COLORS[f.severity])
    ax.tick_params(labelsize=7)
    ax.set_yticks([])
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def _categorical_plot(f: FeatureDrift, ref: pd.Series | None, cur: pd.Series | None) -> str:
    def shares(s: pd.Series | None) -> pd.Series:
        if s is None or s.notna().sum() == 0:
            return pd.Series(dtype=float)
        vc = s.dropna().astype(str).value_counts()
        return vc / vc.sum()

    r, c = shares(ref), shares(cur)
    if r.empty and c.empty:
        return _placeholder(f"{f.feature}\nno values to plot")
    table = pd.concat([r.rename("reference"), c.rename("current")], axis=1).fillna(0.0)
    table = table.loc[table.max(axis=1).sort_values(ascending=False).index]
    if len(table) > _TOP_CATEGORIES:
        rest = table.iloc[_TOP_CATEGORIES:].sum()
        table = pd.concat([table.iloc[:_TOP_CATEGORIES], rest.to_frame("(other)").T])
    fig = Figure(figsize=(4.2, 2.6))
    ax = fig.add_subplot()
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["reference"], width=0.4, color=REF_COLOR, label="reference")
    ax.bar(x + 0.2, table["current"], width=0.4, color=CUR_COLOR, label="current")
    ax.set_xticks(x, [t if len(t) <= 12 else t[:11] + "…" for t in table.index.astype(str)], rotation=45, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("share", fontsize=7)
    ax.set_title(f"{f.feature}  [{f.severity}]  JS {_fmt(f.js)}", fontsize=9, color=COLORS[f.severity])
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def _psi_chart(drift: DriftResult) -> str | None:
    feats = [f for f in drift.features if f.kind == "numeric" and math.isfinite(f.psi)]
    if not feats:
        return None
    feats.sort(key=lambda f: f.psi)
    fig = Figure(figsize=(6.5, max(1.6, 0.26 * len(feats) + 0.9)))
    ax = fig.add_subplot()
    ax.barh([f.feature for f in feats], [f.psi for f in feats], color=[COLORS[f.severity] for f in feats])
    th = drift.thresholds
    for key, style in (("psi_warn", ":"), ("psi_alert", "--")):
        if th.get(key) is not None and math.isfinite(th[key]):
            ax.axvline(th[key], color="#444", linestyle=style, linewidth=1, label=f"{key} {th[key]:g}")
    ax.set_xlabel("PSI", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_title("PSI per numeric feature (bar colour = feature severity)", fontsize=9)
    return _png(fig)


def _history_frame(history: Sequence[Mapping[str, Any]] | pd.DataFrame | None) -> pd.DataFrame:
    if history is None:
        return pd.DataFrame()
    h = history.copy() if isinstance(history, pd.DataFrame) else pd.DataFrame([dict(r) for r in history])
    if h.empty:
        return h
    if "window" not in h.columns:
        raise ValueError(f"history needs a 'window' label per entry; got columns {list(h.columns)}")
    h["window"] = h["window"].astype(str)
    return h


def _line_chart(h: pd.DataFrame, series: list[tuple[str, str]], title: str, ylabel: str) -> str | None:
    present = [(col, label) for col, label in series if col in h.columns and pd.to_numeric(h[col], errors="coerce").notna().any()]
    if h.empty or not present:
        return None
    fig = Figure(figsize=(6.5, 2.6))
    ax = fig.add_subplot()
    x = np.arange(len(h))
    for col, label in present:
        ax.plot(x, pd.to_numeric(h[col], errors="coerce"), marker="o", markersize=3, linewidth=1.4, label=label)
    step = max(1, len(h) // 12)  # at most ~12 tick labels
    ax.set_xticks(x[::step], h["window"].iloc[::step], rotation=30, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


# Columns of a history row that count rows, not metrics or money.
_COUNT_COLUMNS = frozenset({"rows", "rows_missing"})


def _numeric_columns(h: pd.DataFrame) -> list[str]:
    return [c for c in h.columns if c != "window" and pd.to_numeric(h[c], errors="coerce").notna().any() and not pd.api.types.is_bool_dtype(h[c])]


def resolve_series(h: pd.DataFrame, metrics: Sequence[str] | None, kpi_columns: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(metric columns, KPI money columns) of the history to chart.

    Given names are kept in order (those the history lacks are dropped).
    Defaults: metrics are the history columns that are metric names of any
    task (``runway.evaluation.metrics.metric_names``); the KPI columns are
    the remaining numeric columns except row counts.
    """
    numeric = _numeric_columns(h) if not h.empty else []
    known = {m for task in get_args(Task) for m in metric_names(task)}
    ms = [m for m in dict.fromkeys(metrics) if m in numeric] if metrics is not None else [c for c in numeric if c in known]
    if kpi_columns is not None:
        ks = [k for k in dict.fromkeys(kpi_columns) if k in numeric and k not in ms]
    else:
        ks = [c for c in numeric if c not in ms and c not in known and c not in _COUNT_COLUMNS]
    return ms, ks


def _performance_charts(h: pd.DataFrame, metrics: list[str], kpi_columns: list[str], currency: str) -> list[str]:
    out: list[str] = []
    if h.empty:
        return out
    # One chart per metric: metrics have different units and scales, so
    # sharing an axis would flatten one of them.
    for m in metrics:
        b64 = _line_chart(h, [(m, m)], f"{m} per window", m)
        if b64:
            out.append(_img(b64, f"{m} over time", "wide"))
    if kpi_columns:
        b64 = _line_chart(h, [(k, k) for k in kpi_columns], f"KPI per window ({currency})", currency)
        if b64:
            out.append(_img(b64, "KPI over time", "wide"))
    return out


# ------------------------------------------------------- classification ---


def _labelled_scores(y_true: Any, score: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if y_true is None or score is None:
        return None
    y = pd.to_numeric(pd.Series(np.asarray(y_true).ravel()), errors="coerce").to_numpy(dtype=float)
    p = pd.to_numeric(pd.Series(np.asarray(score).ravel()), errors="coerce").to_numpy(dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"y_true and score differ in length: {y.size} vs {p.size}")
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    if y.size == 0:
        return None
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold 0/1 labels")
    return y.astype(int), p


def roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(false positive rates, true positive rates, area) over every distinct score (ties count once)."""
    order = np.argsort(-p, kind="mergesort")
    y, p = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(p)), y.size - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    pos, neg = int(y.sum()), int(y.size - y.sum())
    tpr = np.r_[0.0, tp / pos] if pos else np.zeros(last.size + 1)
    fpr = np.r_[0.0, fp / neg] if neg else np.zeros(last.size + 1)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)) if pos and neg else float("nan")
    return fpr, tpr, area


def reliability_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean score, observed positive rate and rows per equal-width score bin (empty bins left out)."""
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    df = pd.DataFrame({"bin": idx, "y": y, "p": p}).groupby("bin").agg(score=("p", "mean"), observed=("y", "mean"), rows=("y", "size"))
    return df.reset_index()


def _roc_plot(y: np.ndarray, p: np.ndarray) -> str:
    if y.min() == y.max():
        return _placeholder(f"ROC curve\nneeds both classes (all {y.size:,} labels are {y[0]})")
    fpr, tpr, area = roc_points(y, p)
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color=CUR_COLOR, linewidth=1.6, label=f"model (AUC {area:.3f})")
    ax.plot([0, 1], [0, 1], color="#888", linestyle=":", linewidth=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"ROC curve ({int(y.sum()):,} positives of {y.size:,})", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _png(fig)


def _calibration_plot(y: np.ndarray, p: np.ndarray, bins: int = 10) -> str:
    rb = reliability_bins(y, p, bins)
    return calibration_chart(
        rb["score"], rb["observed"], rb["rows"], bar_x=(rb["bin"] + 0.5) / bins, bar_width=0.9 / bins, title=f"Calibration ({bins} bins; bars: share of rows)"
    )


def calibration_chart(score: Any, observed: Any, rows: Any, *, bar_x: Any, bar_width: float, title: str) -> str:
    """Reliability curve over the diagonal, with each bin's share of rows drawn
    behind it (the monitoring report and the model card both draw this)."""
    rows = np.asarray(rows, dtype=float)
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.add_subplot()
    share = ax.twinx()  # share of rows per bin, drawn behind the curve
    share.bar(bar_x, rows / (rows.sum() or 1), width=bar_width, color=REF_COLOR, alpha=0.18)
    share.set_yticks([])
    ax.set_zorder(share.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], color="#888", linestyle=":", linewidth=1, label="perfectly calibrated")
    ax.plot(score, observed, marker="o", markersize=3.5, color=CUR_COLOR, linewidth=1.4, label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("mean predicted probability (bin)", fontsize=8)
    ax.set_ylabel("observed positive rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return _png(fig)


def _score_distribution_plot(y: np.ndarray, p: np.ndarray, threshold: float | None) -> str:
    fig = Figure(figsize=(4.2, 3.2))
    ax = fig.add_subplot()
    lo, hi = float(min(p.min(), 0.0)), float(max(p.max(), 1.0))
    edges = np.linspace(lo, hi, 41).tolist()
    for label, mask, color in (("negatives", y == 0, REF_COLOR), ("positives", y == 1, CUR_COLOR)):
        if mask.any():
            ax.hist(p[mask], bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=color, label=f"{label} (n={int(mask.sum()):,})")
            ax.hist(p[mask], bins=edges, density=True, histtype="step", color=color, linewidth=1.2)
    if threshold is not None and math.isfinite(threshold):
        ax.axvline(threshold, color="#444", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    ax.set_xlabel("score", fontsize=8)
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_title("Score distribution: positives vs negatives", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def _classification_section(y_true: Any, score: Any, threshold: float | None) -> str:
    data = _labelled_scores(y_true, score)
    if data is None:
        return ""
    y, p = data
    figs = [
        (_roc_plot(y, p), "ROC curve"),
        (_calibration_plot(y, p), "Calibration (reliability) plot"),
        (_score_distribution_plot(y, p, threshold), "Score distribution"),
    ]
    summary = f"{y.size:,} labelled rows, {int(y.sum()):,} positive ({y.mean():.1%})"
    if threshold is not None and math.isfinite(threshold):
        flagged = p >= threshold
        summary += f"; at threshold {threshold:.3g}: {int(flagged.sum()):,} flagged, {int((flagged & (y == 1)).sum()):,} of them positive"
    return (
        "<h2>Classification: labelled scores of this window</h2>"
        f'<p class="muted">{_e(summary)}</p><div class="plots">' + "".join(f"<figure>{_img(b64, alt, 'wide')}</figure>" for b64, alt in figs) + "</div>"
    )


# -------------------------------------------------------------- tables ---


def _review_section(review: Mapping[str, Any] | None) -> str:
    """Rows queued for human review, per batch (nothing without a review band)."""
    if not review:
        return ""
    queued, scored = dict(review.get("queued") or {}), dict(review.get("scored") or {})
    batches = sorted(set(queued) | set(scored))
    if not batches:
        return '<h2>Human review queue</h2><p class="muted">No batch in this window.</p>'
    rows = []
    for b in batches:
        n, total = queued.get(b), scored.get(b)
        share = f"{n / total:.1%}" if n is not None and total else "–"
        shown_n = "not written" if n is None else f"{n:,}"
        shown_total = f"{total:,}" if total is not None else "–"
        rows.append(f"<tr><td>{_e(b)}</td><td>{_e(shown_n)}</td><td>{_e(shown_total)}</td><td>{share}</td></tr>")
    total_queued = sum(v for v in queued.values() if v is not None)
    return (
        f"<h2>Human review queue ({total_queued:,} rows)</h2>"
        "<table><tr><th>batch</th><th>queued for review</th><th>scored</th><th>share</th></tr>" + "".join(rows) + "</table>"
    )


def _drift_table(drift: DriftResult) -> str:
    head = "<tr><th>feature</th><th>kind</th><th>severity</th><th>PSI</th><th>KS D</th><th>KS p</th><th>JS</th><th>missing ref → cur</th><th>why</th></tr>"
    rows = []
    order = sorted(drift.features, key=lambda f: (-["ok", "warn", "alert"].index(f.severity), f.feature))
    for f in order:
        missing = f"{_fmt(f.missing_ref * 100, 1)}% → {_fmt(f.missing_cur * 100, 1)}%" if math.isfinite(f.missing_ref) else "–"
        rows.append(
            f'<tr style="background:{TINTS[f.severity]}"><td><a href="#feat-{_e(f.feature)}">{_e(f.feature)}</a></td><td>{_e(f.kind)}</td>'
            f"<td>{_badge(f.severity)}</td><td>{_fmt(f.psi)}</td><td>{_fmt(f.ks_stat)}</td><td>{_fmt(f.ks_pvalue)}</td>"
            f"<td>{_fmt(f.js)}</td><td>{missing}</td><td>{_e('; '.join(f.reasons))}</td></tr>"
        )
    return f'<table class="grid">{head}{"".join(rows)}</table>'


def _alerts_list(alerts: Sequence[Any]) -> str:
    if not alerts:
        return '<p class="muted">No alerts raised for this window (breaches alone do not page: see the alert policy).</p>'
    items = []
    for a in alerts:
        d = a.to_dict() if hasattr(a, "to_dict") else (asdict(a) if is_dataclass(a) and not isinstance(a, type) else dict(a))
        msg = d.get("message") or d.get("detail") or ""
        items.append(f"<li>{_badge(str(d.get('severity', 'alert')))} <b>{_e(d.get('kind', ''))} {_e(d.get('feature', ''))}</b> — {_e(msg)}</li>")
    return f'<ul class="alerts">{"".join(items)}</ul>'


def _schema_table(drift: DriftResult) -> str:
    if not drift.schema_changes:
        return '<p class="muted">No schema changes.</p>'
    rows = "".join(
        f'<tr style="background:{TINTS[s.severity]}"><td>{_e(s.column)}</td><td>{_e(s.change)}</td><td>{_e(s.reference_dtype or "–")}</td>'
        f"<td>{_e(s.current_dtype or '–')}</td><td>{_badge(s.severity)}</td></tr>"
        for s in drift.schema_changes
    )
    return f'<table class="grid"><tr><th>column</th><th>change</th><th>reference dtype</th><th>current dtype</th><th>severity</th></tr>{rows}</table>'


def _kpi_table(kpi: pd.DataFrame | None, money: Sequence[str], currency: str) -> str:
    if kpi is None or len(kpi) == 0:
        return ""
    # Every column the use case's KPI frame has, level and segment first;
    # the currency goes into the money columns' headers instead.
    cols = [c for c in ("level", "segment") if c in kpi.columns] + [c for c in kpi.columns if c not in ("level", "segment", "currency")]
    in_currency = set(money)
    head = "".join(f"<th>{_e(c)}{' (' + _e(currency) + ')' if c in in_currency else ''}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_fmt(r[c], 2) if isinstance(r[c], (float, np.floating)) else r[c])}</td>" for c in cols) + "</tr>" for _, r in kpi.iterrows()
    )
    return f'<h2>KPI by segment (this window)</h2><table class="grid"><tr>{head}</tr>{body}</table>'


_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 6px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px} .muted{color:#777;font-size:13px}
.badge{color:#fff;border-radius:3px;padding:1px 7px;font-size:12px;font-weight:600}
table.grid{border-collapse:collapse;font-size:12.5px} table.grid td,table.grid th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
table.grid th{background:#f3f3f3}
.plots{display:flex;flex-wrap:wrap;gap:10px} .plots figure{margin:0;border:1px solid #eee;padding:4px}
.plots figcaption{font-size:12px;color:#444} img.plot{width:336px} img.wide{max-width:100%} .plots img.wide{width:440px}
ul.alerts li{margin:4px 0;font-size:13.5px}
"""


# ---------------------------------------------------------------- main ---


def render_report(
    drift: DriftResult,
    reference: pd.DataFrame | None,
    current: pd.DataFrame | None,
    *,
    model_name: str = "",
    model_version: str | int = "",
    window: str = "",
    history: Sequence[Mapping[str, Any]] | pd.DataFrame | None = None,
    alerts: Sequence[Any] = (),
    kpi: pd.DataFrame | None = None,
    currency: str = "EUR",
    generated_at: datetime | None = None,
    notes: Sequence[str] = (),
    title: str = "Runway monitoring report",
    max_plot_rows: int = 200_000,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    kpi_columns: Sequence[str] | None = None,
    y_true: Any = None,
    score: Any = None,
    threshold: float | None = None,
    review_queue: Mapping[str, Any] | None = None,
) -> str:
    """Render the monitoring report as one self-contained HTML string.

    Args:
        drift: ``drift_report(reference, current, ...)`` of this window.
        reference, current: the frames the drift was computed on (for the
            distribution charts; at most ``max_plot_rows`` sampled rows are
            drawn). ``None`` draws a placeholder per feature.
        model_name, model_version, window: shown in the header.
        history: past windows, oldest first, each a mapping with ``window`` and
            the use case's metrics and KPI totals (whatever they are), or a
            DataFrame with those columns. Include this window to see it.
        alerts: ``alerts.Alert`` objects (or dicts) raised this window.
        kpi: the use case's KPI frame of this window (``level``, ``segment``
            and its numbers; shown as a table, every column).
        currency: for money axes and columns.
        generated_at: default now (UTC).
        notes: extra lines for the header, e.g. the seasonal-reference note.
        metrics: history columns charted one per chart, in order (e.g. the
            use case's ``evaluation.metrics``). Default: the history columns
            that are metric names of any task.
        kpi_columns: history columns in ``currency`` charted together (the
            plug-in's ``KPI_HEADLINE``); also the KPI table's money columns.
            Default: the history's other numeric columns except row counts.
        y_true, score: this window's labels (0/1) and scores of a binary
            classifier: adds the ROC curve, reliability plot and score
            distribution (rows with a missing label or score are left out).
        threshold: the decision threshold, drawn on the score distribution.
        review_queue: ``{"queued": {batch: rows}, "scored": {batch: rows}}``:
            rows sent to human review per batch (``inference.review_band``).
    """
    if not isinstance(drift, DriftResult):
        raise TypeError(f"drift must be a DriftResult, got {type(drift).__name__}")
    gen = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    overall = max_severity(drift.severity, *(str(getattr(a, "severity", None) or dict(a).get("severity", "ok")) for a in alerts))
    h = _history_frame(history)
    metric_cols, money_cols = resolve_series(h, metrics, kpi_columns)

    parts: list[str] = []
    parts.append(
        f"<h1>{_e(title)} {_badge(overall)}</h1>"
        f'<div class="meta">model <b>{_e(model_name or "–")}</b> version <b>{_e(model_version if model_version != "" else "–")}</b>'
        f" · window <b>{_e(window or '–')}</b> · generated at {_e(gen)}"
        f" · reference {drift.n_reference:,} rows · current {drift.n_current:,} rows</div>"
    )
    for n in notes:
        parts.append(f'<div class="meta">{_e(n)}</div>')
    th = ", ".join(f"{_e(k)}={v:g}" if isinstance(v, (int, float)) else f"{_e(k)}={_e(v)}" for k, v in drift.thresholds.items())
    parts.append(f'<div class="muted">thresholds: {th}</div>')

    parts.append("<h2>Alerts</h2>" + _alerts_list(alerts))
    counts = {s: sum(f.severity == s for f in drift.features) for s in ("alert", "warn", "ok")}
    parts.append(f"<h2>Drift ({counts['alert']} alert, {counts['warn']} warn, {counts['ok']} ok)</h2>" + _drift_table(drift))
    if drift.skipped:
        parts.append('<p class="muted">Not compared: ' + "; ".join(_e(s) for s in drift.skipped) + "</p>")
    psi_png = _psi_chart(drift)
    if psi_png:
        parts.append(_img(psi_png, "PSI per feature", "wide"))

    parts.append("<h2>Performance and KPI over time</h2>")
    charts = _performance_charts(h, metric_cols, money_cols, currency)
    parts.append(
        '<div class="plots">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"
        if charts
        else '<p class="muted">No history of past windows yet.</p>'
    )
    parts.append(_kpi_table(kpi, money_cols if kpi_columns is None else list(kpi_columns), currency))
    parts.append(_classification_section(y_true, score, threshold))
    parts.append(_review_section(review_queue))

    parts.append("<h2>Schema changes</h2>" + _schema_table(drift))

    parts.append('<h2>Distributions: reference vs current</h2><div class="plots">')
    for f in drift.features:
        ref = reference[f.feature] if reference is not None and f.feature in reference.columns else None
        cur = current[f.feature] if current is not None and f.feature in current.columns else None
        if ref is not None:
            ref = _sample(ref, max_plot_rows, seed)
        if cur is not None:
            cur = _sample(cur, max_plot_rows, seed)
        if ref is None and cur is None:
            b64 = _placeholder(f"{f.feature}\nno data passed to the report")
        elif f.kind == "numeric":
            b64 = _numeric_plot(f, ref, cur)
        else:
            b64 = _categorical_plot(f, ref, cur)
        caption = f"{_badge(f.severity)} {_e(f.feature)}" + (f" — {_e('; '.join(f.reasons))}" if f.reasons else "")
        parts.append(f'<figure id="feat-{_e(f.feature)}">{_img(b64, f"distribution of {f.feature}")}<figcaption>{caption}</figcaption></figure>')
    parts.append("</div>")

    body = "\n".join(p for p in parts if p)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} – {_e(model_name)} {_e(window)}</title><style>{_CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_report(html_text: str, path: str | os.PathLike[str]) -> Path:
    """Atomically write the report (temp file + fsync + rename, durable)."""
    if not isinstance(html_text, str):
        raise TypeError(f"html must be a str, got {type(html_text).__name__}")
    from runway.data.io import atomic_write_bytes

    return atomic_write_bytes(path, html_text.encode("utf-8"))
