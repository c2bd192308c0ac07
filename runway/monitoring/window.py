"""Assess one monitoring window: input drift, output drift, delayed-label
performance, business KPIs and segments, turned into alert breaches.

Pure library code: the monitoring step gathers the frames, calls
``assess_window`` and records what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.data.labels import join_labels
from runway.evaluation.metrics import compute_all, metric_direction, slice_metrics
from runway.monitoring import drift as drift_lib
from runway.monitoring.alerts import Breach, BreachSeverity
from runway.monitoring.kpi import TOTAL
from runway.monitoring.triggers import performance_breach
from runway.plugins import load_plugin

PREDICTION = "prediction"


@dataclass
class WindowAssessment:
    window_id: str
    drift: drift_lib.DriftResult
    output_drift: drift_lib.DriftResult
    label_completeness: float
    performance: dict[str, float] | None
    segments: pd.DataFrame
    kpi: pd.DataFrame | None
    kpi_totals: dict[str, Any]
    served_by: dict[str, int]
    breaches: list[Breach] = field(default_factory=list)
    # Predictions with their label (only rows whose label had arrived).
    labelled: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "window": self.window_id,
            "input_drift": self.drift.severity,
            "drifted_features": [f.feature for f in self.drift.flagged("alert")],
            "schema_changes": [c.describe() for c in self.drift.schema_changes],
            "output_drift": self.output_drift.severity,
            "label_completeness": round(self.label_completeness, 4),
            "performance": self.performance,
            "kpi": self.kpi_totals,
            "served_by": self.served_by,
            "breaches": [b.to_dict() for b in self.breaches],
        }


def monitored_columns(features: list[str], frame: pd.DataFrame, categorical: list[str]) -> tuple[list[str], list[str]]:
    numeric = [c for c in features if c in frame.columns and c not in categorical]
    cats = [c for c in categorical if c in frame.columns]
    return numeric, cats


def _one_per_entity_week(frame: pd.DataFrame, keys: list[str], ts: str) -> pd.DataFrame:
    """First row of each entity in each week (the reference spans several weeks)."""
    week = pd.to_datetime(frame[ts], utc=True).dt.tz_localize(None).dt.to_period("W")
    return frame.assign(_week=week.to_numpy()).sort_values(ts).drop_duplicates(subset=[*keys, "_week"]).drop(columns="_week")


def drift_at_feature_grain(
    reference: pd.DataFrame, current: pd.DataFrame, settings: Settings, numeric: list[str], categorical: list[str], feature_keys: dict[str, list[str]]
) -> drift_lib.DriftResult:
    """Test each feature at the grain it varies at.

    A store-level feature repeats once per item on every row of that store:
    testing rows would count one store-day many times and turn noise into
    "drift". Features are grouped by their feature view's join keys and
    de-duplicated on (keys, date) before the statistics run; the use case's
    ``slow_features`` (rolling aggregates) on (keys, week).
    """
    ts, full = settings.timestamp, list(settings.entity_keys)
    slow = set(settings.monitoring.slow_features)
    groups: dict[tuple[tuple[str, ...], bool], list[str]] = {}
    for col in [*numeric, *categorical]:
        keys = tuple(feature_keys.get(col, full))
        groups.setdefault((keys if set(keys) < set(full) else tuple(full), col in slow), []).append(col)
    results = []
    for (keys, is_slow), cols in groups.items():
        # Slow features: one row per entity per week; coarser-keyed features:
        # one row per (their keys, day); the rest: every row is one entity-day.
        grain = [k for k in keys if k in reference.columns and k in current.columns]
        if is_slow and grain:
            ref, cur = _one_per_entity_week(reference, grain, ts), _one_per_entity_week(current, grain, ts)
        elif tuple(keys) != tuple(full):
            ref, cur = reference.drop_duplicates(subset=[*grain, ts]), current.drop_duplicates(subset=[*grain, ts])
        else:
            ref, cur = reference, current
        results.append(drift_lib.drift_report(ref, cur, settings.monitoring.drift, categorical=[c for c in cols if c in categorical], columns=cols))
    # Schema is judged once, on the full frames.
    schema = drift_lib.schema_changes(dict(reference.dtypes.astype(str)), dict(current.dtypes.astype(str)))
    feats = tuple(f for r in results for f in r.features)
    severity = drift_lib.max_severity(*(f.severity for f in feats), *(c.severity for c in schema))
    return drift_lib.DriftResult(
        feats,
        tuple(schema),
        severity,
        len(reference),
        len(current),
        results[0].thresholds if results else {},
        tuple(x for r in results for x in r.skipped),
        drift_lib.psi_method(settings.monitoring.drift.psi_bins),
    )


def reference_for_window(settings: Settings, reference: pd.DataFrame, window: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The same season's rows when the history has them, else all of it."""
    if not settings.monitoring.seasonal_reference:
        return reference, "whole training frame"
    from runway.monitoring.alerts import seasonal_reference_window

    ts = settings.timestamp
    try:
        ref = seasonal_reference_window(
            reference, window[ts].min().date(), window[ts].max().date(), timestamp_col=ts, pad_days=settings.monitoring.seasonal_pad_days
        )
    except ValueError as exc:
        return reference, f"whole training frame ({exc})"
    return ref.frame.reset_index(drop=True), f"{ref.kind}: {ref.note}"


def assess_window(
    settings: Settings,
    window_id: str,
    reference_inputs: pd.DataFrame,
    current_inputs: pd.DataFrame,
    predictions: pd.DataFrame,
    reference_predictions: np.ndarray,
    actuals: pd.DataFrame | None,
    cutoff: pd.Timestamp,
    features: list[str],
    reference_metric: float | None = None,
    feature_keys: dict[str, list[str]] | None = None,
    threshold: float | None = None,
) -> WindowAssessment:
    if current_inputs.empty:
        raise ValueError(f"monitoring window {window_id} has no rows")
    mon = settings.monitoring
    keys, ts, target = settings.entity_keys, settings.timestamp, settings.target
    task, metric = settings.model.task, settings.evaluation.primary_metric
    # Entity keys are identifiers, not distributions: drift-tested only when listed.
    categorical = [c for c in mon.categorical if c in reference_inputs.columns or c in current_inputs.columns]
    numeric, cats = monitored_columns([f for f in features if f not in mon.drift_exclude], current_inputs, categorical)
    # Schema is compared on every column either side has, so a renamed or
    # retyped input shows up even if the model never reads it.
    cols = sorted(set(reference_inputs.columns) | set(current_inputs.columns))
    drift = drift_at_feature_grain(
        reference_inputs.reindex(columns=[c for c in cols if c in reference_inputs.columns]),
        current_inputs.reindex(columns=[c for c in cols if c in current_inputs.columns]),
        settings,
        [c for c in numeric if c in reference_inputs.columns],
        [c for c in cats if c in reference_inputs.columns],
        feature_keys or {},
    )
    output_drift = drift_lib.drift_report(pd.DataFrame({PREDICTION: reference_predictions}), predictions[[PREDICTION]], mon.drift)

    served = predictions["served_by"].value_counts().to_dict() if "served_by" in predictions else {}
    kpi_tot: dict[str, Any]
    perf, segments, kpi, kpi_tot, completeness, labelled = None, pd.DataFrame(), None, {}, 0.0, None
    if actuals is not None and len(actuals):
        joined = join_labels(predictions, actuals, keys, ts, target, cutoff)
        completeness = joined.completeness
        labelled = joined.frame.dropna(subset=["actual"])
        if len(labelled) and completeness >= settings.schedule.min_label_completeness:
            y, p = labelled["actual"].to_numpy(dtype=float), labelled[PREDICTION].to_numpy(dtype=float)
            perf = {**compute_all(task, y, p, threshold=threshold, names=settings.evaluation.metrics or None), "rows": len(labelled)}
            seg_cols = [c for c in mon.segment_by if c in labelled.columns]
            segments = (
                pd.concat(
                    [
                        slice_metrics(labelled, c, "actual", PREDICTION, task=task, threshold=threshold).rename(columns={c: "segment"}).assign(by=c)
                        for c in seg_cols
                    ],
                    ignore_index=True,
                )
                if seg_cols
                else pd.DataFrame()
            )
            kpi, kpi_tot = business_kpi(settings, labelled, seg_cols, threshold)

    breaches: list[Breach] = []
    for f in drift.flagged("warn"):
        # Numeric features breach on PSI, categorical ones on JS (their PSI is
        # reported but JS is what grades them, against js_alert).
        value = f.psi if f.kind == "numeric" else f.js
        breaches.append(
            Breach(
                f.feature,
                _breach_severity(f.severity, f.feature),
                float(value) if np.isfinite(value) else None,
                mon.drift.psi_alert if f.kind == "numeric" else mon.drift.js_alert,
                "; ".join(f.reasons),
                "drift",
            )
        )
    for c in drift.schema_changes:
        if c.severity in ("warn", "alert"):
            breaches.append(Breach(c.column, c.severity, None, None, c.describe(), "schema"))
    for f in output_drift.flagged("warn"):
        breaches.append(
            Breach(
                PREDICTION,
                _breach_severity(f.severity, PREDICTION),
                float(f.psi) if np.isfinite(f.psi) else None,
                mon.drift.psi_alert,
                "; ".join(f.reasons),
                "output",
            )
        )
    live = perf.get(metric) if perf else None
    if live is not None and np.isfinite(live) and (why := performance_breach(live, reference_metric, metric_direction(metric), mon.retraining, metric)):
        breaches.append(Breach(metric, "alert", live, reference_metric, why, "performance"))
    return WindowAssessment(
        window_id, drift, output_drift, completeness, perf, segments, kpi, kpi_tot, {str(k): int(v) for k, v in served.items()}, breaches, labelled
    )


def _breach_severity(severity: drift_lib.Severity, key: str) -> BreachSeverity:
    """A flagged drift's severity as a breach's (``flagged("warn")`` never returns "ok")."""
    if severity == "ok":
        raise ValueError(f"{key}: severity 'ok' is not a breach")
    return severity


def business_kpi(settings: Settings, labelled: pd.DataFrame, segment_cols: list[str], threshold: float | None) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """The use case's KPI (its plug-in's ``kpi_frame``) per segment and the total row."""
    plugin = load_plugin(settings)
    if settings.monitoring.kpi is None or not plugin.has("kpi_frame"):
        return None, {}
    scored = labelled.assign(_threshold=threshold) if threshold is not None else labelled
    frame = plugin.hook("kpi_frame")(scored, "actual", PREDICTION, segment_cols, settings.monitoring.kpi)
    total = frame[frame["level"] == TOTAL]
    if len(total) != 1:
        raise ValueError(f"plug-in '{settings.plugin}': kpi_frame must return exactly one row with level 'total'")
    row = {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in total.iloc[0].drop(["level", "segment"]).items()}
    return frame, {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
