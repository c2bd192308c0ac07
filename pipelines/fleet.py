"""The fleet pipelines: one static run per command, chunks as steps.

training: prepare_fleet -> train_chunk_0 .. train_chunk_{n-1} -> summary.
The chunk steps only depend on the plan, so on Kubeflow they run as
parallel tasks; locally they run one after the other and each uses a
process pool (``tenants.workers``). ``n = ceil(tenants / chunk_size)``.
inference: score_fleet (one step: per-tenant scoring is milliseconds).
monitoring: monitor_fleet (drift, performance, KPI, alerts per tenant).
"""

from __future__ import annotations

import math
import time
import uuid

import pandas as pd
from zenml import pipeline
from zenml.enums import ExecutionMode

from runway.config import Settings
from steps.fleet import fleet_training_summary, monitor_fleet, prepare_fleet, score_fleet, train_fleet_chunk

COMPILE_TENANTS = 1000  # what `compile` sizes the fleet spec for when the use case lists none


@pipeline(enable_cache=False, execution_mode=ExecutionMode.CONTINUE_ON_FAILURE)
def fleet_training_pipeline(
    settings: Settings, tenant_ids: list[str], chunk_count: int, run_key: str, fingerprint: str, as_of: str | None = None, pooled: bool = True
) -> None:
    plan = prepare_fleet(
        settings=settings, tenant_ids=tenant_ids, chunk_count=chunk_count, run_key=run_key, fingerprint=fingerprint, as_of=as_of, pooled=pooled
    )
    names = []
    for k in range(chunk_count):
        name = f"train_chunk_{k}"
        train_fleet_chunk(settings=settings, plan=plan, chunk=k, id=name)
        names.append(name)
    fleet_training_summary(settings=settings, plan=plan, after=names)


@pipeline(enable_cache=False)
def fleet_inference_pipeline(settings: Settings, tenant_ids: list[str], batch: str, fingerprint: str) -> None:
    score_fleet(settings=settings, tenant_ids=tenant_ids, batch=batch, fingerprint=fingerprint)


@pipeline(enable_cache=False)
def fleet_monitoring_pipeline(settings: Settings, tenant_ids: list[str], batch: str, as_of: str, fingerprint: str) -> None:
    monitor_fleet(settings=settings, tenant_ids=tenant_ids, batch=batch, as_of=as_of, fingerprint=fingerprint)


def chunk_count(settings: Settings, n_tenants: int) -> int:
    size = settings.tenants.chunk_size if settings.tenants else 100
    return max(1, math.ceil(n_tenants / size))


def _fingerprint(settings: Settings, tenant_ids: list[str], stream: str) -> str:
    from runway.fleet import data as data_lib

    files = []
    for t in tenant_ids if settings.tenants and settings.tenants.source == "folders" else [None]:
        files += data_lib._files(settings, stream, t)  # noqa: SLF001
    return data_lib._fingerprint(files)  # noqa: SLF001


def run_fleet_training(settings: Settings, tenant_ids: list[str], as_of: str | None = None) -> dict:
    """Train the selected tenants; the pooled model only when the selection is the whole fleet."""
    from runway.fleet import tenants as tenants_lib

    n = chunk_count(settings, len(tenant_ids))
    pooled = set(tenant_ids) >= set(tenants_lib.discover(settings))
    t0 = time.perf_counter()
    run_key = uuid.uuid4().hex[:12]
    pipe = fleet_training_pipeline.with_options(run_name=f"fleet-training-{settings.use_case}-{{date}}-{{time}}")
    from zenml.client import Client

    from runway.fleet.training import remove_work_dir, work_dir

    try:
        run = pipe(
            settings=settings,
            tenant_ids=tenant_ids,
            chunk_count=n,
            run_key=run_key,
            fingerprint=_fingerprint(settings, tenant_ids, settings.streams.history),
            as_of=as_of,
            pooled=pooled,
        )
    except BaseException:
        remove_work_dir(work_dir(run_key))
        raise
    seconds = time.perf_counter() - t0
    run = Client().get_pipeline_run(run.id)
    if run.status.is_finished:  # when a chunk failed the summary step did not run to remove the chunk frames
        remove_work_dir(work_dir(run_key))
    step = run.steps.get("fleet_training_summary")
    if step is None or step.status.value != "completed":
        failed = {name: s.status.value for name, s in run.steps.items() if s.status.value not in ("completed", "cached")}
        raise RuntimeError(f"fleet training run {run.name} did not finish: steps {failed}")
    summary = step.outputs["fleet_summary"][0].load()
    return {"run": run.name, "run_id": str(run.id), "seconds": round(seconds, 1), "chunks": n, **summary}


def run_fleet_inference(settings: Settings, tenant_ids: list[str], batch: str) -> dict:
    pipe = fleet_inference_pipeline.with_options(run_name=f"fleet-inference-{settings.use_case}-{batch}-{{time}}")
    run = pipe(settings=settings, tenant_ids=tenant_ids, batch=batch, fingerprint=_fingerprint(settings, tenant_ids, settings.streams.scoring))
    from zenml.client import Client

    run = Client().get_pipeline_run(run.id)
    return {"run": run.name, **run.steps["score_fleet"].outputs["fleet_serving"][0].load()}


def run_fleet_monitoring(settings: Settings, tenant_ids: list[str], batch: str) -> dict:
    from runway.data.labels import labels_due

    due = labels_due(pd.Timestamp(batch).date(), settings.schedule)
    pipe = fleet_monitoring_pipeline.with_options(run_name=f"fleet-monitoring-{settings.use_case}-{batch}-{{time}}")
    as_of = pd.Timestamp(due, tz="UTC").isoformat()
    run = pipe(
        settings=settings,
        tenant_ids=tenant_ids,
        batch=batch,
        as_of=as_of,
        fingerprint=_fingerprint(settings, tenant_ids, settings.streams.history),
    )
    from zenml.client import Client

    run = Client().get_pipeline_run(run.id)
    return {"run": run.name, "as_of": as_of, **run.steps["monitor_fleet"].outputs["fleet_monitoring"][0].load()}


def retrain_flagged(settings: Settings, monitoring: dict) -> dict | None:
    """Retrain the tenants whose monitoring of ``monitoring["batch"]`` decided
    so (``retrain``), through the same sharded training run and gate, with the
    labels known at that window's cut-off. ``None`` when no tenant asked."""
    flagged = sorted(t for t, row in monitoring.get("tenants", {}).items() if row.get("retrain"))
    if not flagged:
        return None
    as_of = monitoring.get("as_of")
    return {**run_fleet_training(settings, flagged, as_of=as_of), "window": monitoring.get("batch"), "retrained": flagged}
