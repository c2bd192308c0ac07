"""Batch inference: ingest the scoring batch + the history known by then ->
Feast features -> verified production model with fallback chain ->
predictions sink -> whylogs profiles."""

from __future__ import annotations

from datetime import date

import pandas as pd
from zenml import pipeline
from zenml.enums import ExecutionMode

from runway.config import Settings
from steps.features import sync_feature_store
from steps.inference import predict_batch, profile_batch
from steps.ingest import ingest_batch


@pipeline(enable_cache=True, execution_mode=ExecutionMode.FAIL_FAST)
def batch_inference_pipeline(settings: Settings, history_fingerprint: str, scoring_fingerprint: str, batch: str, as_of: str) -> None:
    history = ingest_batch(settings=settings, stream=settings.streams.history, fingerprint=history_fingerprint, as_of=as_of, id="ingest_history")
    scoring = ingest_batch(settings=settings, stream=settings.streams.scoring, fingerprint=scoring_fingerprint, batches=[batch], id="ingest_scoring")
    feature_version = sync_feature_store(settings=settings, history=history, scoring=scoring)
    predictions, inputs, _ = predict_batch(settings=settings, scoring=scoring, history=history, feature_version=feature_version, batch_label=batch)
    profile_batch(settings=settings, predictions=predictions, model_inputs=inputs)


def run_batch_inference(settings: Settings, batch: date) -> dict:
    """Score the scoring batch starting ``batch`` as a job at its start would."""
    from runway.data import contract as quarantine_lib

    label = batch.isoformat()
    history = quarantine_lib.read_or_quarantine(settings, settings.streams.history)
    scoring = quarantine_lib.read_or_quarantine(settings, settings.streams.scoring, batches=[label])
    as_of = pd.Timestamp(batch, tz="UTC").isoformat()
    run = batch_inference_pipeline.with_options(run_name=f"inference-{settings.use_case}-{label}-{{time}}")(
        settings=settings, history_fingerprint=history.fingerprint, scoring_fingerprint=scoring.fingerprint, batch=label, as_of=as_of
    )
    summary = run.steps["predict_batch"].outputs["serving_summary"][0].load()
    from runway.serving.metrics import record_pipeline_metrics

    record_pipeline_metrics(
        settings,
        "batch_inference",
        {"pipeline_last_run_success": 1, "pipeline_rows": {"scored": summary["rows"]}, "pipeline_predictions": summary["served_by"]},
    )
    return {"run": run.name, "batch": label, "summary": summary}
