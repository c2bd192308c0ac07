"""Self-contained HTML model card of one model version.

Rendered from the version's lineage document (``lineage.version_lineage``:
the verified decision-log entry of its training plus every later decision
about it), in the house style of the monitoring report: one HTML string,
charts as inline PNGs, no external files. Written to
``<workspace>/<use_case>/reports/model_card_<model>_v<N>.html`` and, at
training time, also saved as a ZenML ``HTMLString`` artifact.

Sections: header (decision badge), identity (artifact, code, config),
the gate, metrics against baseline and production with intervals, slices,
permutation importance (bar chart), for classification the threshold and
calibration (reliability plot from the logged bins), data (batches with
fingerprints), features, windows, approvals and later decisions, and the
resolved configuration (secrets redacted).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from runway.monitoring.report import _CSS, COLORS, CUR_COLOR, REF_COLOR, _e, _fmt, _img, _png, write_report
from runway.monitoring.report import calibration_chart as report_chart

if TYPE_CHECKING:
    from runway.config import Settings

CARD_PREFIX = "model_card"
_TOP_FEATURES = 20
# Actions a reviewer takes on a version (another module writes them); shown first.
APPROVAL_ACTIONS = ("approve", "reject", "request_approval", "awaiting_approval")


def card_name(model: str, version: str | int) -> str:
    return f"{CARD_PREFIX}_{model}_v{version}.html"


def card_path(settings: Settings, doc: dict) -> Path:
    """Where the card of ``doc``'s version goes: its own use case's reports folder."""
    use_case = doc.get("use_case") or settings.use_case
    return settings.workspace_path(use_case, "reports", card_name(doc["model"], doc["version"]))


# ------------------------------------------------------------------ charts --


def importance_chart(importance: dict) -> str:
    feats = importance["features"][:_TOP_FEATURES][::-1]  # most important on top
    fig = Figure(figsize=(5.6, max(1.6, 0.28 * len(feats) + 0.8)))
    ax = fig.add_subplot()
    values = [f["importance"] for f in feats]
    ax.barh(
        [f["feature"] for f in feats],
        values,
        xerr=[f["std"] for f in feats],
        color=[CUR_COLOR if v > 0 else REF_COLOR for v in values],
        error_kw={"elinewidth": 0.8, "ecolor": "#555"},
    )
    ax.axvline(0, color="#888", linewidth=0.8)
    ax.set_xlabel(f"increase in {importance['metric']} loss when shuffled", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"Permutation importance ({importance['rows']:,} holdout rows x {importance['repeats']})", fontsize=9)
    return _png(fig)


def calibration_chart(calibration: dict) -> str:
    bins = calibration.get("bins") or []
    predicted = [b["mean_predicted"] for b in bins]
    return report_chart(
        predicted,
        [b["observed_rate"] for b in bins],
        [b["rows"] for b in bins],
        bar_x=predicted,
        bar_width=0.06,
        title=f"Calibration on the holdout (ECE {_fmt(calibration.get('ece'))})",
    )


# ----------------------------------------------------------------- sections --


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(c) if not isinstance(c, str) else c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="grid"><tr>{th}</tr>{body}</table>'


def _kv(rows: list[tuple[str, Any]]) -> str:
    return '<table class="grid">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v if isinstance(v, str) else _fmt(v))}</td></tr>" for k, v in rows) + "</table>"


def _interval(g: dict | None) -> str:
    if not g:
        return "–"
    return f"{_fmt(g.get('point'))} [{_fmt(g.get('low'))}, {_fmt(g.get('high'))}] ({g.get('samples')} resamples)"


def _metrics_section(doc: dict) -> str:
    metrics = doc.get("metrics") or {}
    ev = doc.get("evaluation") or {}
    who = [w for w in ("candidate", "baseline", "production") if metrics.get(w)]
    names = [k for k in (metrics.get("candidate") or {}) if k != "rows"]
    head = ["metric", *[f"{w}{' (' + str(ev.get('baseline_label')) + ')' if w == 'baseline' else ''}" for w in who]]
    rows = [[n, *[(metrics[w] or {}).get(n) for w in who]] for n in names] + [["rows", *[(metrics[w] or {}).get("rows") for w in who]]]
    m = ev.get("primary_metric")
    gains = _kv(
        [
            (f"gain in {m} vs {ev.get('baseline_label')}", _interval(ev.get("gain_vs_baseline"))),
            (
                f"gain in {m} vs production{' v' + str(ev['production_version']) if ev.get('production_version') else ''}",
                _interval(ev.get("gain_vs_production")),
            ),
        ]
    )
    return f"<h2>Metrics on the holdout (primary: {_e(m)}, {_e(ev.get('direction'))} is better)</h2>{_table(head, rows)}<p></p>{gains}"


def _slices_section(doc: dict) -> str:
    ev = doc.get("evaluation") or {}
    slices = ev.get("slices") or []
    if not slices:
        return "<h2>Slices</h2><p class='muted'>no slices configured (evaluation.slice_by)</p>"
    cols = list(slices[0])
    return f"<h2>Slices by {_e(ev.get('slice_by'))}</h2>{_table(cols, [[s.get(c) for c in cols] for s in slices])}"


def _gate_section(doc: dict) -> str:
    d = doc["decision"]
    checks = d.get("checks") or []
    rows = [[("pass" if c.get("passed") else "FAIL"), c.get("name", ""), c.get("detail", "")] for c in checks]
    return f"<h2>Gate</h2><p>{_e(d.get('reason'))}</p>{_table(['result', 'check', 'detail'], rows) if rows else ''}"


def _importance_section(doc: dict) -> str:
    imp = doc.get("importance")
    if not imp or not imp.get("features"):
        return "<h2>Permutation feature importance</h2><p class='muted'>not recorded</p>"
    rows = [[f["feature"], f["importance"], f["std"]] for f in imp["features"]]
    return (
        "<h2>Permutation feature importance (holdout)</h2>"
        f"<p class='muted'>loss increase in {_e(imp['metric'])} when the feature is shuffled; seed {_e(imp['seed'])}, "
        f"baseline {_e(_fmt(imp.get('baseline')))}</p>"
        f'<div class="plots"><figure>{_img(importance_chart(imp), "permutation importance", "wide")}</figure></div>'
        f"{_table(['feature', 'importance', 'std'], rows)}"
    )


def _classification_section(doc: dict) -> str:
    clf = doc.get("classification")
    if not clf:
        return ""
    cal = clf.get("calibration") or {}
    detail = clf.get("threshold_detail") or {}
    kv = _kv(
        [
            ("decision threshold", clf.get("threshold")),
            ("chosen", clf.get("threshold_source") or "–"),
            *[(f"  {k}", v if isinstance(v, str) else _fmt(v)) for k, v in detail.items()],
            ("production's threshold", clf.get("production_threshold")),
            ("expected calibration error (ECE)", cal.get("ece")),
        ]
    )
    bins = cal.get("bins") or []
    plot = f'<div class="plots"><figure>{_img(calibration_chart(cal), "calibration")}</figure></div>' if bins else ""
    table = _table(["bin", "rows", "mean predicted", "observed rate"], [[b["bin"], b["rows"], b["mean_predicted"], b["observed_rate"]] for b in bins])
    return f"<h2>Threshold and calibration</h2>{kv}{plot}{table if bins else ''}"


def _data_section(doc: dict) -> str:
    data = doc["data"]
    rows = [[b.get("file") or b.get("table") or "", b["sha256"], b.get("bytes", b.get("rows", ""))] for b in data.get("batches") or []]
    verified = "yes" if data.get("fingerprint_verified") else "NO: the files changed while the run was going on"
    kv = _kv(
        [
            ("stream", f"{data['stream']} ({data['source_kind']})"),
            ("labels known as of", data.get("as_of") or "all recorded"),
            ("combined fingerprint", str(data.get("fingerprint"))),
            ("files re-hashed match it", verified),
        ]
    )
    return f"<h2>Data</h2>{kv}<p></p>{_table(['batch', 'sha256', 'bytes'], rows)}"


def _features_section(doc: dict) -> str:
    f, w = doc["features"], doc["windows"]
    return "<h2>Features and windows</h2>" + _kv(
        [
            ("feature service", f"{f['service']} (version {f['service_version']})"),
            ("feature tables content hash", str(f.get("feature_version"))),
            ("feature definitions sha256", f["definitions_sha256"]),
            ("model features", ", ".join(f.get("model_features") or [])),
            ("training window", f"{w['training'][0]} .. {w['training'][1]} ({w.get('training_rows')} rows)"),
            ("holdout window", f"{w['holdout'][0]} .. {w['holdout'][1]} ({w.get('holdout_rows')} rows)"),
        ]
    )


def _approvals_section(doc: dict) -> str:
    since = doc.get("decisions_since") or []
    if not since:
        return "<h2>Approvals and later decisions</h2><p class='muted'>none recorded for this version yet</p>"
    ordered = sorted(since, key=lambda e: (e.get("action") not in APPROVAL_ACTIONS, str(e.get("time"))))
    rows = [
        [
            str(e.get("time"))[:19],
            e.get("action") or "",
            str(e.get("approved_by") or e.get("rejected_by") or e.get("triggered_by") or "–"),
            e.get("env") or "",
            e.get("reason") or "",
        ]
        for e in ordered
    ]
    return f"<h2>Approvals and later decisions</h2>{_table(['time', 'action', 'who', 'env', 'reason'], rows)}"


def render(doc: dict) -> str:
    """The model card of ``doc`` (``lineage.version_lineage``'s answer)."""
    d, code = doc["decision"], doc["code"]
    sev = "ok" if d.get("action") == "promote" else "alert"
    spec = doc.get("estimator") or {}
    head = (
        f"<h1>Model card: {_e(doc['model'])} v{_e(doc['version'])} <span class='badge' style='background:{COLORS[sev]}'>{_e(d.get('action'))}</span></h1>"
        f"<p class='meta'>use case {_e(doc.get('use_case'))} · {_e(doc.get('task'))} · decided {_e(str(d.get('time'))[:19])} in {_e(d.get('env'))} · "
        f"card generated {_e(datetime.now(UTC).isoformat(timespec='seconds'))}</p>"
    )
    identity = "<h2>Identity</h2>" + _kv(
        [
            ("artifact sha256", str(doc.get("artifact_sha256"))),
            ("code commit", f"{code['commit']}{' (dirty tree)' if code['dirty'] else ''}"),
            ("config sha256", doc["config"]["sha256"]),
            ("previous production", str(d.get("previous_production") or "–")),
            ("pipeline run", str((doc.get("run") or {}).get("name") or "–")),
            ("estimator", f"{spec.get('name', '')} {json.dumps(dict(spec.get('params') or []))} random_state {spec.get('random_state')}"),
        ]
    )
    config = json.dumps(doc["config"]["resolved"], indent=2, sort_keys=True)
    body = "\n".join(
        [
            head,
            identity,
            _gate_section(doc),
            _metrics_section(doc),
            _slices_section(doc),
            _importance_section(doc),
            _classification_section(doc),
            _data_section(doc),
            _features_section(doc),
            _approvals_section(doc),
            f"<h2>Resolved configuration (secrets redacted)</h2><details><summary>show</summary><pre>{_e(config)}</pre></details>",
            f"<p class='muted'>From the verified decision log: <code>python run.py lineage {_e(doc['model'])} {_e(doc['version'])} --json</code></p>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Model card – {_e(doc['model'])} v{_e(doc['version'])}</title><style>{_CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def write(settings: Settings, doc: dict) -> tuple[str, Path]:
    """Render and atomically write the card of ``doc``; returns (html, path)."""
    html_text = render(doc)
    return html_text, write_report(html_text, card_path(settings, doc))
