"""The training loop on a temporary local ZenML store and a temporary Feast repo copy."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from runway.data.io import write_parquet_atomic
from runway.governance import registry
from runway.governance.decision_log import open_log
from tests.integration.conftest import write_history

pytestmark = pytest.mark.integration


def test_first_run_promotes_then_duplicate_is_refused(trained):
    settings, first = trained
    from pipelines.training import run_training

    d = first["decision"]
    assert d["promote"] and d["stage"] == "production" and d["version"] == "1"
    assert first["evaluation"]["candidate"]["wape"] < first["evaluation"]["baseline"]["wape"]
    prod = registry.production(settings.model.name)
    assert prod is not None and prod.version == "1" and prod.artifact_sha256 == d["artifact_sha256"]

    second = run_training(settings)
    assert not second["decision"]["promote"]
    assert second["decision"]["reason"].startswith("duplicate")
    assert {"ingest_batch", "retrieve_features", "train_model"} <= set(second["cached_steps"])
    assert "sync_feature_store" not in second["cached_steps"], "it writes files outside ZenML, so it always runs"
    assert registry.production(settings.model.name).version == "1"

    log = open_log(settings)
    actions = [(e["version"], e["action"]) for e in log.entries()]
    assert actions == [("1", "promote"), ("2", "reject")]
    entry = log.entries()[0]
    for key in ("model", "version", "metrics", "reason", "artifact_sha256", "git_commit", "time"):
        assert entry.get(key) not in (None, ""), key
    assert log.verify() == []


def test_loaded_model_matches_logged_hash(trained):
    settings, _first = trained
    model = registry.load_verified(settings, settings.model.name, "1")
    assert model.features and model.target == settings.model.target


BAD_BATCHES = {
    "missing_column": (lambda df: df.drop(columns=["price"]), "price: required"),
    "all_null_column": (lambda df: df.assign(units_sold=float("nan")), "units_sold: all_null"),
    "empty_file": (lambda df: df.iloc[0:0], "the batch has no rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_bad_batch_is_quarantined_and_registers_no_model(settings, case):
    from pipelines.training import run_training

    paths = write_history(settings)
    mutate, expected = BAD_BATCHES[case]
    victim = paths[-1]
    original = pd.read_parquet(victim)
    write_parquet_atomic(mutate(original), victim)
    before = victim.read_bytes()

    with pytest.raises(Exception) as err:
        run_training(settings)
    from pipelines.runs import failed_step_message

    message = failed_step_message("training_pipeline") or str(err.value)
    assert expected in message, message
    assert "ingest_batch" in message

    quarantined = list(settings.use_case_path("quarantine").glob("*"))
    assert len(quarantined) == 1
    report = json.loads((quarantined[0] / "report.json").read_text())
    assert report["ok"] is False and str(victim) in report["files"]
    assert victim.read_bytes() == before, "the source batch must be left untouched"
    assert registry.list_versions(settings.model.name) == [] or all(v.stage != "production" for v in registry.list_versions(settings.model.name))
    assert not settings.workspace_path("decisions.jsonl").exists()


def test_corrupt_file_is_named(settings):
    from pipelines.training import run_training

    paths = write_history(settings)
    paths[3].write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(Exception, match=paths[3].name):
        run_training(settings)
