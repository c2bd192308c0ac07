"""Batch inference: ingest plan + known actuals -> Feast features -> verified
production model with fallback chain -> predictions sink -> whylogs profiles."""

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
def batch_inference_pipeline(settings: Settings, sales_fingerprint: str, plan_fingerprint: str, week: str, as_of: str) -> None:
    sales = ingest_batch(settings=settings, stream="sales", fingerprint=sales_fingerprint, as_of=as_of, id="ingest_sales")
    plan = ingest_batch(settings=settings, stream="plan", fingerprint=plan_fingerprint, batches=[week], id="ingest_plan")
    feature_version = sync_feature_store(settings=settings, sales=sales, plan=plan)
    predictions, inputs, _ = predict_batch(settings=settings, plan=plan, sales=sales, feature_version=feature_version, batch_label=week)
    profile_batch(settings=settings, predictions=predictions, model_inputs=inputs)


def run_batch_inference(settings: Settings, week: date) -> dict:
    """Score the plan for ``week`` as a job at the week's start would."""
    from runway.data import sources

    label = week.isoformat()
    sales = sources.read_batches(settings, "sales")
    plan = sources.read_batches(settings, "plan", batches=[label])
    as_of = pd.Timestamp(week, tz="UTC").isoformat()
    run = batch_inference_pipeline.with_options(run_name=f"inference-{settings.use_case}-{label}-{{time}}")(
        settings=settings, sales_fingerprint=sales.fingerprint, plan_fingerprint=plan.fingerprint, week=label, as_of=as_of
    )
    return {"run": run.name, "week": label, "summary": run.steps["predict_batch"].outputs["serving_summary"][0].load()}
