"""Batch inference on the local stack: fallback levels, tampering, rollback."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
from zenml.client import Client

from runway.config import Settings
from runway.governance import registry
from runway.modeling.artifact import sha256_bytes
from tests.integration.conftest import write_history, write_live_week

pytestmark = pytest.mark.integration


def _week(settings: Settings):
    return write_live_week(settings)


def _infer(settings, week):
    from pipelines.batch_inference import run_batch_inference

    out = run_batch_inference(settings, week)
    preds = pd.read_parquet(settings.use_case_path("predictions", f"batch={week.isoformat()}", "predictions.parquet"))
    return out["summary"], preds


def _promote_second_version(settings):
    """v2 becomes production (through the locked path), v1 becomes last-known-good."""
    from pipelines.training import run_training

    names = sorted(p.name.split(".")[0].removeprefix("batch=") for p in (settings.raw_dir / "sales").glob("*.parquet"))
    run_training(settings, batches=names[:-2])
    registry.set_production(settings, settings.model.name, "2", action="promote", reason="test")


def _model_file(settings, version):
    art = Client().get_model_version(settings.model.name, version).get_model_artifact("model")
    return os.path.join(art.uri, registry.MODEL_FILE)


def _flip_a_byte(path):
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(path).write_bytes(bytes(data))


def test_production_serves_and_predictions_are_complete(trained):
    settings, _ = trained
    week = _week(settings)
    summary, preds = _infer(settings, week)
    assert summary["served_by"] == {"production": len(preds)} and summary["reasons"] == []
    assert set(preds["model_version"]) == {"1"}
    assert preds["prediction"].notna().all() and (preds["prediction"] >= 0).all()
    assert {"store_id", "item_id", "date", "served_by", "model_version"} <= set(preds.columns)
    plan = pd.read_parquet(settings.raw_dir / "plan" / f"batch={week.isoformat()}.parquet")
    assert len(preds) == len(plan)


def test_tampered_production_falls_back_to_last_known_good_then_rule(trained):
    settings, _ = trained
    _promote_second_version(settings)
    week = _week(settings)
    _flip_a_byte(_model_file(settings, "2"))
    summary, preds = _infer(settings, week)
    assert set(preds["served_by"]) == {"last_known_good"} and set(preds["model_version"]) == {"1"}
    assert any("production v2" in r and "sha256" in r for r in summary["reasons"]), summary["reasons"]

    _flip_a_byte(_model_file(settings, "1"))
    summary, preds = _infer(settings, week)
    assert set(preds["served_by"]) == {"baseline"}
    assert preds["prediction"].notna().all()


def test_no_production_model_serves_the_rule(settings):
    write_history(settings)
    week = _week(settings)
    summary, preds = _infer(settings, week)
    assert set(preds["served_by"]) == {"baseline"}
    assert "no production model" in summary["reasons"]


def test_unavailable_feature_service_serves_the_rule(trained):
    settings, _ = trained
    week = _week(settings)
    broken = Settings.model_validate({**settings.model_dump(), "features": {**settings.features.model_dump(), "feature_service": "retail_demand_v999"}})
    summary, preds = _infer(broken, week)
    assert set(preds["served_by"]) == {"baseline"}
    assert any("feature service unavailable" in r and "retail_demand_v999" in r for r in summary["reasons"]), summary["reasons"]


def test_rollback_restores_the_exact_artifact(trained):
    settings, first = trained
    v1_sha = first["decision"]["artifact_sha256"]
    _promote_second_version(settings)
    assert registry.production(settings.model.name).version == "2"

    rec = registry.rollback(settings, settings.model.name)
    assert rec["version"] == "1" and rec["previous_production"] == "2" and rec["artifact_sha256"] == v1_sha
    assert registry.production(settings.model.name).version == "1"
    assert sha256_bytes(registry.read_model_bytes(settings.model.name, "1")) == v1_sha

    week = _week(settings)
    _, preds = _infer(settings, week)
    assert set(preds["model_version"]) == {"1"}, "the next inference uses exactly the rolled-back version"
    assert registry.decision_log(settings).verify() == []


def test_rollback_to_a_named_version_and_refusals(trained):
    settings, _ = trained
    with pytest.raises(registry.RegistryError, match="no earlier production version"):
        registry.rollback(settings, settings.model.name)
    _promote_second_version(settings)
    with pytest.raises(registry.RegistryError, match="already production"):
        registry.rollback(settings, settings.model.name, "2")
    assert registry.rollback(settings, settings.model.name, "1")["version"] == "1"


def test_shadow_scores_the_staging_candidate_beside_production(trained):
    settings, _ = trained
    from zenml.enums import ModelStages

    from pipelines.training import run_training

    names = sorted(p.name.split(".")[0].removeprefix("batch=") for p in (settings.raw_dir / "sales").glob("*.parquet"))
    run_training(settings, batches=names[:-2])
    v2 = registry.version(settings.model.name, "2")
    Client().update_model_version(settings.model.name, UUID(v2.id), stage=ModelStages.STAGING, force=True)
    shadowed = Settings.model_validate({**settings.model_dump(), "inference": {**settings.inference.model_dump(), "shadow_share": 0.5}})
    week = _week(settings)
    summary, preds = _infer(shadowed, week)
    assert summary["shadow"]["enabled"] and summary["shadow"]["version"] == "2"
    assert set(preds["served_by"]) == {"production"}, "the shadow never serves"
    scored = preds["shadow_prediction"].notna()
    assert 0 < scored.sum() < len(preds) and summary["shadow"]["rows"] == int(scored.sum())
    assert (preds.loc[scored, "shadow_version"] == "2").all()


def test_a_candidate_cannot_be_parked_in_production(trained):
    settings, _ = trained
    with pytest.raises(ValueError, match="use set_production"):
        registry.set_candidate_stage(settings, settings.model.name, "1", "production")
