"""Forged, edited and truncated decision logs never serve; a malicious pickle
in the artifact store never runs (guarantees 1 and 2)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pandas as pd
import pytest
from zenml.client import Client

from runway.governance import registry
from runway.governance.decision_log import DecisionLogError
from tests.integration.conftest import write_live_week
from tests.reliability.conftest import run_cli

pytestmark = pytest.mark.reliability


class _Sentinel:
    """A pickle whose __reduce__ writes a file: it must never run."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "pwned"))


def _model_dir(settings, version="1") -> str:
    return Client().get_model_version(settings.model.name, version).get_model_artifact(registry.MODEL_ARTIFACT).uri


@pytest.fixture
def tampered_log(trained_module):
    """Restore the decision log and its head after the test."""
    settings, _ = trained_module
    log, head = settings.workspace_path("decisions.jsonl"), settings.workspace_path("decisions.jsonl.head")
    saved = log.read_bytes(), head.read_bytes()
    yield settings, log, head
    log.write_bytes(saved[0])
    head.write_bytes(saved[1])


def _verify_cli(settings) -> tuple[int, str]:
    out = run_cli("decisions", "--verify", "--workspace", str(settings.workspace))
    return out.returncode, out.stdout + out.stderr


def test_an_intact_log_verifies_through_the_cli(trained_module):
    settings, _ = trained_module
    code, text = _verify_cli(settings)
    assert code == 0, text
    assert "intact" in text


def test_a_forged_rollback_with_a_valid_chain_is_refused_and_never_serves(tampered_log, tmp_path):
    settings, log, _ = tampered_log
    # The attacker replaces the production artifact and appends a matching 'rollback'.
    evil = pickle.dumps(_Sentinel(str(tmp_path / "sentinel")), protocol=5)
    last = log.read_text().splitlines()[-1]
    forged = {
        "model": settings.model.name,
        "version": "1",
        "action": "rollback",
        "artifact_sha256": hashlib.sha256(evil).hexdigest(),
        "prev_sha256": hashlib.sha256(last.encode()).hexdigest(),
        "time": "2099-01-01T00:00:00+00:00",
    }
    with open(log, "a") as fh:
        fh.write(json.dumps(forged, sort_keys=True) + "\n")
    model_file = Path(_model_dir(settings)) / registry.MODEL_FILE
    original = model_file.read_bytes()
    model_file.write_bytes(evil)
    try:
        code, text = _verify_cli(settings)
        assert code == 1 and "line" in text and "MAC" in text, text
        with pytest.raises(DecisionLogError):
            registry.load_verified(settings, settings.model.name, "1")
        from pipelines.batch_inference import run_batch_inference

        week = write_live_week(settings)
        out = run_batch_inference(settings, week)
        assert set(out["summary"]["served_by"]) == {"baseline"}, "nothing the forged log vouches for may serve"
        assert not (tmp_path / "sentinel").exists()
    finally:
        model_file.write_bytes(original)


@pytest.mark.parametrize("damage", ["edit_last", "truncate", "reorder"])
def test_edited_truncated_or_reordered_logs_fail_verify_and_refuse_loading(tampered_log, damage):
    settings, log, _ = tampered_log
    registry.record_rejection(settings, settings.model.name, "1", "filler so the log has several lines")
    lines = log.read_text().splitlines()
    assert len(lines) >= 2
    if damage == "edit_last":
        rec = json.loads(lines[-1])
        rec["reason"] = "edited"
        lines[-1] = json.dumps(rec, sort_keys=True)
    elif damage == "truncate":
        lines = lines[:-1]
    else:
        lines[-2], lines[-1] = lines[-1], lines[-2]
    log.write_text("".join(ln + "\n" for ln in lines))
    code, text = _verify_cli(settings)
    assert code == 1, text
    with pytest.raises(DecisionLogError):
        registry.load_verified(settings, settings.model.name, "1")


def test_a_malicious_pickle_with_a_matching_hash_file_never_runs(trained_module, tmp_path):
    """Replace model.pkl and write a model.sha256 that matches it: ZenML's
    loader (and a materializer given only the uri) refuse, the sentinel never appears."""
    from steps.materializers import ModelArtifactMaterializer

    settings, _ = trained_module
    sentinel = tmp_path / "sentinel"
    folder = Path(_model_dir(settings))
    model_file = folder / registry.MODEL_FILE
    original = model_file.read_bytes()
    evil = pickle.dumps(_Sentinel(str(sentinel)), protocol=5)
    model_file.write_bytes(evil)
    (folder / "model.sha256").write_text(hashlib.sha256(evil).hexdigest())
    try:
        art = Client().get_model_version(settings.model.name, "1").get_model_artifact(registry.MODEL_ARTIFACT)
        with pytest.raises(Exception, match="does not match"):
            art.load()
        with pytest.raises(Exception, match="does not match"):
            ModelArtifactMaterializer(art.uri).load(object)  # no expected hash handed over: looked up by uri
        assert not sentinel.exists()
    finally:
        model_file.write_bytes(original)
        (folder / "model.sha256").unlink()
    assert art.load().features, "the genuine bytes still load"


def test_predictions_of_a_clean_run_are_served_by_production(trained_module):
    """Control: with nothing tampered, production serves (so the refusals above mean something)."""
    settings, _ = trained_module
    from pipelines.batch_inference import run_batch_inference

    week = write_live_week(settings)
    out = run_batch_inference(settings, week)
    assert out["summary"]["served_by"] == {"production": out["summary"]["rows"]}
    preds = pd.read_parquet(settings.use_case_path("predictions", f"batch={week.isoformat()}", "predictions.parquet"))
    assert set(preds["model_version"]) == {"1"}
    assert os.path.exists(settings.workspace_path("decisions.jsonl.head"))
