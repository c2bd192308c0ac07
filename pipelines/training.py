"""Training: ingest -> features -> point-in-time retrieval -> split -> train ->
evaluate (vs baseline and production) -> reference profile -> gated promotion."""

from __future__ import annotations

from zenml import Model, pipeline
from zenml.enums import ExecutionMode

from runway.config import Settings
from steps.evaluate import evaluate_model
from steps.features import retrieve_features, sync_feature_store
from steps.ingest import ingest_batch
from steps.profile import profile_reference
from steps.promote import promote_model
from steps.train import split_frame, train_model


@pipeline(enable_cache=True, execution_mode=ExecutionMode.FAIL_FAST)
def training_pipeline(settings: Settings, fingerprint: str, batches: list[str] | None = None, as_of: str | None = None) -> None:
    history = ingest_batch(settings=settings, stream=settings.streams.history, fingerprint=fingerprint, batches=batches, as_of=as_of)
    feature_version = sync_feature_store(settings=settings, history=history)
    frame = retrieve_features(settings=settings, rows=history, feature_version=feature_version)
    train, holdout = split_frame(settings=settings, frame=frame)
    model = train_model(settings=settings, train_frame=train)
    profile_reference(settings=settings, train_frame=train, model=model)
    evaluation = evaluate_model(settings=settings, model=model, holdout_frame=holdout, history=history)
    promote_model(settings=settings, evaluation=evaluation)


def model_for(settings: Settings) -> Model:
    """The Model Control Plane entry every training run registers a version of."""
    return Model(
        name=settings.model.name,
        description=settings.description or None,
        tags=[settings.use_case, settings.environment.name, settings.model.task, settings.model.estimator],
    )


def build(settings: Settings):
    """The pipeline with its model attached, ready to call."""
    return training_pipeline.with_options(model=model_for(settings), run_name=f"training-{settings.use_case}-{{date}}-{{time}}")


def run_training(settings: Settings, batches: list[str] | None = None, as_of: str | None = None) -> dict:
    """Fingerprint the source, run the pipeline, return the decision and evaluation.

    With ``as_of`` (ISO time) the run only learns from actuals recorded by then.
    """
    import time

    from runway.data import contract as quarantine_lib

    batch = quarantine_lib.read_or_quarantine(settings, settings.streams.history, batches=batches)
    t0 = time.perf_counter()
    try:
        run = build(settings)(settings=settings, fingerprint=batch.fingerprint, batches=batches, as_of=as_of)
    except Exception:
        from runway.governance import registry

        registry.discard_failed_versions(settings.model.name)  # a failed training leaves no empty version
        raise
    seconds = time.perf_counter() - t0
    evaluation = run.steps["evaluate_model"].outputs["evaluation"][0].load()
    decision = run.steps["promote_model"].outputs["promotion_decision"][0].load()
    _export_figures(settings, seconds, evaluation, decision)
    return {
        "run": run.name,
        "run_id": str(run.id),
        "seconds": round(seconds, 1),
        "decision": decision,
        "evaluation": evaluation,
        "cached_steps": sorted(name for name, s in run.steps.items() if s.status.value == "cached"),
    }


def _export_figures(settings: Settings, seconds: float, evaluation: dict, decision: dict | None = None) -> None:
    """Run duration, the primary metric per stage and the gate's decision, for Prometheus (.prom file or Pushgateway)."""
    from runway.serving.metrics import gate_figures, record_pipeline_metrics

    m = evaluation["primary_metric"]
    values = [
        ({"model": settings.model.name, "metric": m, "stage": stage}, evaluation[key][m])
        for stage, key in (("holdout", "candidate"), ("baseline", "baseline"), ("production", "production"))
        if evaluation.get(key)
    ]
    record_pipeline_metrics(
        settings,
        "training",
        {"pipeline_last_run_success": 1, "pipeline_run_duration_seconds": seconds, "pipeline_rows": {"holdout": evaluation["rows"]}, "model_metric": values}
        | (gate_figures(settings.model.name, decision) if decision else {}),
    )
