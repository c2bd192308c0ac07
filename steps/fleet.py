"""Fleet steps: thin adapters over ``runway.fleet``.

One static run per fleet command: ``prepare_fleet`` (read + validate every
tenant, features in one pass, pooled model, chunk frames), one
``train_fleet_chunk`` per chunk of <= 100 tenants (independent: they fan out
on Kubeflow), then ``fleet_training_summary``. None is cached: each reads or
changes the registry.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.io import fileio
from zenml.types import HTMLString

import runway.fleet.inference as inference_lib
import runway.fleet.monitor as monitor_lib
import runway.fleet.report as report_lib
import runway.fleet.training as training_lib
from runway.config import Settings
from steps.materializers import ModelArtifactMaterializer


def _run_id() -> str:
    return str(get_step_context().pipeline_run.id)


@step(enable_cache=False)
def prepare_fleet(
    settings: Settings, tenant_ids: list[str], chunk_count: int, run_key: str, fingerprint: str, as_of: str | None = None, pooled: bool = True
) -> Annotated[dict, "fleet_plan"]:
    plan = training_lib.prepare(settings, tenant_ids, chunk_count, run_key, as_of, ModelArtifactMaterializer, _run_id(), pooled=pooled)
    log_metadata({"tenants": len(tenant_ids), "failed": len(plan["failed"]), "chunks": chunk_count, "fingerprint": fingerprint, "seconds": plan["seconds"]})
    return plan


@step(enable_cache=False)
def train_fleet_chunk(settings: Settings, plan: dict, chunk: int) -> Annotated[dict, "chunk_result"]:
    out = training_lib.train_chunk(settings, plan, chunk, ModelArtifactMaterializer, _run_id())
    with fileio.open(os.path.join(plan["work_dir"], f"result-{chunk}.json"), "w") as fh:
        fh.write(json.dumps(out, default=str))
    log_metadata({"tenants": len(out["tenants"]), "seconds": out["seconds"]})
    return out


@step(enable_cache=False)
def fleet_training_summary(settings: Settings, plan: dict) -> tuple[Annotated[dict, "fleet_summary"], Annotated[HTMLString, "fleet_report"]]:
    chunks = []
    for k in range(len(plan["chunks"])):
        path = os.path.join(plan["work_dir"], f"result-{k}.json")
        if fileio.exists(path):
            with fileio.open(path, "r") as fh:
                chunks.append(json.loads(fh.read()))
    summary = training_lib.summarize(plan, chunks)
    training_lib.remove_work_dir(plan["work_dir"])  # the chunk frames are intermediates (run_fleet_training also removes them if a chunk failed)
    html, path = report_lib.write_fleet_report(settings)
    summary["report"] = str(path)
    log_metadata({"counts": summary["counts"], "report_path": str(path)})
    return summary, HTMLString(html)


@step(enable_cache=False)
def score_fleet(settings: Settings, tenant_ids: list[str], batch: str, fingerprint: str) -> Annotated[dict, "fleet_serving"]:
    out = inference_lib.score(settings, tenant_ids, batch)
    log_metadata({"tenants": len(tenant_ids), "failed": len(out["failed"]), "rows": out["rows"]})
    return out


@step(enable_cache=False)
def monitor_fleet(
    settings: Settings, tenant_ids: list[str], batch: str, as_of: str, fingerprint: str
) -> tuple[Annotated[dict, "fleet_monitoring"], Annotated[HTMLString, "fleet_report"]]:
    out = monitor_lib.monitor(settings, tenant_ids, batch, as_of)
    html, path = report_lib.write_fleet_report(settings)
    out["report"] = str(path)
    log_metadata({"tenants": len(tenant_ids), "failed": len(out["failed"]), "alerts": sum(len(v.get("alerts", [])) for v in out["tenants"].values())})
    return out, HTMLString(html)
