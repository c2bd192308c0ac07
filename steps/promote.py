"""Gated promotion on ZenML's Model Control Plane (fails closed)."""

from __future__ import annotations

from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.enums import ModelStages
from zenml.logger import get_logger

import runway.evaluation.gate as promotion_lib
import runway.governance.approvals as approvals_lib
import runway.governance.lineage as lineage_lib
import runway.governance.model_card as card_lib
import runway.governance.registry as registry_lib
from runway.config import Settings
from runway.evaluation.report import report_from_dict

logger = get_logger(__name__)


# Never cached: promotion is a side effect on the registry.
@step(enable_cache=False)
def promote_model(settings: Settings, evaluation: dict) -> Annotated[dict, "promotion_decision"]:
    model_name = settings.model.name
    mv = get_step_context().model
    version_name = str(mv.version)
    sha = registry_lib.artifact_sha(model_name, version_name)
    m = settings.evaluation.primary_metric
    log_metadata(
        {
            registry_lib.SHA_KEY: sha,
            "evaluation": {k: evaluation[k] for k in ("candidate", "baseline", "production", "gain_vs_baseline", "gain_vs_production")},
            m: evaluation["candidate"][m],
        },
        model_name=model_name,
        model_version=version_name,
    )
    prod = registry_lib.production(model_name)
    decision = promotion_lib.decide(
        report_from_dict(evaluation) if evaluation else None,
        settings.promotion,
        candidate_sha256=sha,
        production_sha256=prod.artifact_sha256 if prod else None,
        evaluation_error=evaluation.get("production_error"),
    )
    extra = {
        "metrics": {"candidate": evaluation["candidate"], "baseline": evaluation["baseline"], "production": evaluation.get("production")},
        "checks": decision.to_dict()["checks"],
        lineage_lib.LINEAGE_KEY: _lineage(settings, evaluation),
    }
    extra["triggered_by"] = approvals_lib.identity()  # four-eyes: who may not approve this version
    if decision.promote and approvals_lib.requires_approval(settings):
        # The environment wants a human sign-off: staging, awaiting `run.py approve`.
        record = registry_lib.await_approval(settings, model_name, version_name, reason=decision.reason, sha=sha, extra=extra)
        stage = ModelStages.STAGING.value
    elif decision.promote:
        record = registry_lib.set_production(settings, model_name, version_name, action="promote", reason=decision.reason, extra=extra)
        stage = ModelStages.PRODUCTION.value
    else:
        # A candidate that beats the baseline but not production stays in
        # staging, where batch inference can shadow-score it on live data.
        beat_baseline = next((c.passed for c in decision.checks if c.name == "beats_baseline"), False)
        stage = ModelStages.STAGING.value if beat_baseline and not decision.reason.startswith("duplicate") else ModelStages.ARCHIVED.value
        registry_lib.set_candidate_stage(settings, model_name, version_name, stage)
        record = registry_lib.record_rejection(settings, model_name, version_name, decision.reason, extra, sha)
    logger.info("model %s v%s -> %s: %s", model_name, version_name, stage, decision.reason)
    _model_card(settings, record)
    awaiting = {"awaiting_approval": record.get("action") == approvals_lib.AWAIT_APPROVAL}
    return {"model": model_name, "version": version_name, "stage": stage, **decision.to_dict(), **awaiting, "artifact_sha256": sha, "logged_at": record["time"]}


def _lineage(settings: Settings, evaluation: dict) -> dict:
    """The run's lineage (stored in its decision entry): this run's parameters
    and feature-table hash from ZenML, everything else from the library."""
    run = get_step_context().pipeline_run
    params = run.config.parameters or {}
    sync = run.steps.get("sync_feature_store")
    feature_version = sync.outputs["feature_version"][0].load() if sync is not None and "feature_version" in sync.outputs else None
    data = lineage_lib.data_lineage(settings, settings.streams.history, params.get("batches"), params.get("as_of"), params.get("fingerprint"))
    if not data["fingerprint_verified"]:
        logger.warning("raw %s files changed while training ran: the lineage's per-file fingerprints may not be what was ingested", data["stream"])
    return lineage_lib.build(settings, evaluation, data=data, feature_version=feature_version, run={"id": str(run.id), "name": run.name})


def _model_card(settings: Settings, record: dict) -> None:
    """The version's HTML model card: a file under reports/ and a ZenML visualization.
    The decision is already logged: a card that fails to render is reported, and
    `python run.py lineage MODEL VERSION --card` writes it again."""
    from zenml import save_artifact
    from zenml.types import HTMLString

    try:
        doc = lineage_lib.version_lineage([record], record["model"], str(record["version"]))
        html, path = card_lib.write(settings, doc)
        save_artifact(HTMLString(html), name="model_card")
        logger.info("model card: %s", path)
    except Exception as exc:  # noqa: BLE001 - the decision stands; the card can be rewritten from the log
        logger.error(
            "model card of %s v%s not written (%s); run `python run.py lineage %s %s --card`",
            record["model"],
            record["version"],
            exc,
            record["model"],
            record["version"],
        )
