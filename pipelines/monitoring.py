"""Monitoring: a window of predictions vs the serving model's reference ->
input/output drift, delayed-label performance, KPIs -> alert policy ->
retraining decision (and optional automatic rollback) -> HTML report."""

from __future__ import annotations

from datetime import date

import pandas as pd
from zenml import pipeline
from zenml.enums import ExecutionMode

from runway.config import Settings
from runway.data.labels import labels_due
from steps.ingest import ingest_batch
from steps.monitoring import alerts_and_triggers, assess_window, load_reference, load_window, render_monitoring_report


@pipeline(enable_cache=False, execution_mode=ExecutionMode.FAIL_FAST)
def monitoring_pipeline(settings: Settings, batches: list[str], window_id: str, as_of: str, history_fingerprint: str, on_demand: bool = False) -> None:
    actuals = ingest_batch(settings=settings, stream=settings.streams.history, fingerprint=history_fingerprint, as_of=as_of, id="ingest_actuals")
    predictions, inputs = load_window(settings=settings, batches=batches)
    reference, reference_predictions, reference_info = load_reference(settings=settings, window_predictions=predictions, window_inputs=inputs)
    assessment = assess_window(
        settings=settings,
        window_id=window_id,
        as_of=as_of,
        reference_inputs=reference,
        reference_predictions=reference_predictions,
        reference_info=reference_info,
        window_predictions=predictions,
        window_inputs=inputs,
        actuals=actuals,
    )
    decision = alerts_and_triggers(settings=settings, assessment=assessment, on_demand=on_demand)
    render_monitoring_report(settings=settings, assessment=assessment, decision=decision, reference_inputs=reference, window_inputs=inputs)


def run_monitoring(settings: Settings, weeks: list[date], as_of: date | None = None, on_demand: bool = False) -> dict:
    """Monitor the predictions of ``weeks``, with labels known by ``as_of``
    (default: when the last week's actuals are due)."""
    from runway.data import contract as quarantine_lib

    labels = [w.isoformat() for w in weeks]
    window_id = labels[0] if len(labels) == 1 else f"{labels[0]}..{labels[-1]}"
    if as_of is None:
        as_of = labels_due(max(weeks), settings.schedule)
    history = quarantine_lib.read_or_quarantine(settings, settings.streams.history)
    run = monitoring_pipeline.with_options(run_name=f"monitoring-{settings.use_case}-{window_id}-{{time}}")(
        settings=settings,
        batches=labels,
        window_id=window_id,
        as_of=pd.Timestamp(as_of, tz="UTC").isoformat(),
        history_fingerprint=history.fingerprint,
        on_demand=on_demand,
    )
    assessment = run.steps["assess_window"].outputs["assessment"][0].load()
    decision = run.steps["alerts_and_triggers"].outputs["monitoring_decision"][0].load()
    from runway.serving.metrics import monitoring_figures, record_pipeline_metrics

    features = assessment.get("drift", {}).get("features", [])
    drifted = len(assessment.get("drifted_features", []))
    record_pipeline_metrics(
        settings,
        "monitoring",
        {"pipeline_last_run_success": 1, "drift_share": {settings.model.name: drifted / len(features) if features else 0.0}}
        | monitoring_figures(settings.model.name, assessment, decision),
    )
    report = settings.use_case_path("reports", f"monitoring-{window_id}.html")
    return {
        "run": run.name,
        "window": window_id,
        "assessment": {k: v for k, v in assessment.items() if k not in ("drift", "output_drift_detail", "segments", "kpi_table")},
        "decision": decision,
        "report": str(report),
    }
