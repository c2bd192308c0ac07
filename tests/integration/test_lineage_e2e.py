"""Lineage in the decision log, the model card, and reproducing a version
from the log alone, on a temporary local stack (churn: classification)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import usecases.churn as churn
from runway.config import CONFIG_DIR, Settings, load_settings
from runway.governance import lineage as lineage_lib
from runway.governance.decision_log import open_log

pytestmark = pytest.mark.integration


def churn_settings(tmp_path: Path, feature_repo: Path, name: str, workspace: str = "ws") -> Settings:
    return load_settings(
        CONFIG_DIR / "use_cases" / "churn.yaml",
        "local",
        {
            "simulation": {"customers": 800, "live_weeks": 2},
            "model": {"name": name},
            "evaluation": {"bootstrap_samples": 100},
            "environment": {"workspace": str(tmp_path / workspace), "feature_repo": str(feature_repo), "zenml": {"config_dir": None}},
        },
    )


@pytest.fixture
def churn_trained(tmp_path: Path, feature_repo_copy: Path):
    from pipelines.training import run_training

    settings = churn_settings(tmp_path, feature_repo_copy, f"test-churn-{uuid.uuid4().hex[:8]}")
    churn.ensure_history(settings.raw_dir, settings)
    as_of = pd.Timestamp(churn.live_batch_dates(settings, 1)[0], tz="UTC").isoformat()
    return settings, run_training(settings, as_of=as_of), as_of


def _holdout_of(run_id: str) -> pd.DataFrame:
    from zenml.client import Client

    return Client().get_pipeline_run(run_id).steps["split_frame"].outputs["holdout_frame"][0].load()


def test_lineage_is_logged_and_printed_and_carded(churn_trained, capsys):
    settings, result, as_of = churn_trained
    name = settings.model.name
    assert result["decision"]["version"] == "1"
    log = open_log(settings)
    assert log.verify() == []
    doc = lineage_lib.version_lineage(log.verified_entries(), name, "1")

    # Data: every raw history file, each with the sha256 of its bytes, and the run's as_of.
    files = sorted((settings.raw_dir / settings.streams.history).glob("batch=*.parquet"))
    assert [b["file"] for b in doc["data"]["batches"]] == [f.relative_to(settings.raw_dir).as_posix() for f in files]
    assert all(b["sha256"] == lineage_lib.file_sha256(settings.raw_dir / b["file"]) for b in doc["data"]["batches"])
    assert doc["data"]["fingerprint_verified"] and doc["data"]["as_of"] == as_of
    # Features, code, config.
    assert doc["features"]["service"] == settings.features.service_name and len(doc["features"]["feature_version"]) == 64
    assert doc["features"]["definitions_sha256"] == lineage_lib.feature_definitions_sha256(settings)
    assert doc["code"]["commit"] and isinstance(doc["code"]["dirty"], bool)
    assert lineage_lib.verify_config(doc)["model"]["name"] == name
    # Evaluation facts, importance, classification.
    ev = result["evaluation"]
    assert doc["windows"]["holdout"] == ev["holdout"] and doc["windows"]["holdout_rows"] == ev["rows"]
    assert doc["evaluation"]["gain_vs_baseline"] == ev["gain_vs_baseline"]
    assert doc["metrics"]["candidate"] == ev["candidate"] and doc["decision"]["checks"]
    imp = doc["importance"]
    assert {f["feature"] for f in imp["features"]} == set(doc["features"]["model_features"])
    assert max(f["importance"] for f in imp["features"]) > 0, "a model that beat the baseline relies on some feature"
    clf = doc["classification"]
    assert clf["threshold"] == ev["threshold"] and clf["calibration"]["bins"] and clf["calibration"]["ece"] >= 0

    # The card written at training time.
    card = settings.use_case_path("reports", f"model_card_{name}_v1.html")
    html = card.read_text()
    for section in ("Gate", "Permutation feature importance", "Threshold and calibration", "Approvals and later decisions", doc["artifact_sha256"]):
        assert section in html
    assert html.count("data:image/png;base64,") == 2  # importance + calibration
    # ... also a ZenML visualization.
    from zenml.client import Client

    assert Client().get_artifact_version("model_card").visualizations

    # The CLI prints it from the verified log, as JSON and as text; --card rewrites the card.
    from run import main

    card.unlink()
    common = ["--config", str(CONFIG_DIR / "use_cases" / "churn.yaml"), "--workspace", str(settings.workspace)]
    assert main(["lineage", name, "1", "--json", "--card", *common]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["artifact_sha256"] == doc["artifact_sha256"] and card.exists()
    assert main(["lineage", name, "v1", *common]) == 0
    text = capsys.readouterr().out
    assert "importance" in text and doc["data"]["batches"][0]["sha256"] in text
    assert main(["lineage", name, "7", *common]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"error: model '{name}' has no version 7 in the decision log; versions with lineage: 1"
    assert main(["lineage", "nope", "1", *common]) != 0
    assert "has no model 'nope'" in capsys.readouterr().err


def test_a_version_is_reproduced_from_the_log_alone(churn_trained, tmp_path: Path):
    from runway.governance import registry
    from runway.governance.reproduce import ReproductionError, reproduce
    from runway.modeling.artifact import serialize, sha256_bytes

    settings, result, _ = churn_trained
    doc = lineage_lib.version_lineage(open_log(settings).verified_entries(), settings.model.name, "1")

    # Elsewhere: a fresh workspace and Feast repo holding only a copy of the raw files.
    repo2 = tmp_path / "feature_repo2"
    shutil.copytree(Path(settings.environment.feature_repo), repo2, ignore=shutil.ignore_patterns("data", "__pycache__"))
    where = churn_settings(tmp_path, repo2, "elsewhere", workspace="ws2")
    shutil.copytree(settings.raw_dir, where.raw_dir)

    rep = reproduce(doc, where)
    original = registry.load_verified(settings, settings.model.name, "1")
    holdout = _holdout_of(result["run_id"])
    pd.testing.assert_frame_equal(rep.holdout[holdout.columns], holdout)
    np.testing.assert_array_equal(rep.model.predict(holdout), original.predict(holdout))
    assert rep.model.threshold == original.threshold and rep.model.features == original.features
    assert rep.same_code == (not doc["code"]["dirty"])
    # Pickling is deterministic here: the very same artifact bytes.
    assert sha256_bytes(serialize(rep.model)) == doc["artifact_sha256"]

    # A tampered raw batch: the fingerprint does not match, reproduction refuses.
    victim = where.raw_dir / doc["data"]["batches"][3]["file"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(ReproductionError, match=r"does not match the logged fingerprint .* refusing to reproduce"):
        reproduce(doc, where)


def test_regression_lineage_and_card(trained):
    """retail_demand (regression): importance in WAPE, no classification section."""
    settings, _result = trained
    doc = lineage_lib.version_lineage(open_log(settings).verified_entries(), settings.model.name, "1")
    assert doc["task"] == "regression" and doc["classification"] is None
    assert doc["importance"]["metric"] == "wape" and {f["feature"] for f in doc["importance"]["features"]} == set(doc["features"]["model_features"])
    assert doc["data"]["fingerprint_verified"] and doc["data"]["as_of"] is None
    html = settings.use_case_path("reports", f"model_card_{settings.model.name}_v1.html").read_text()
    assert "Permutation feature importance" in html and "Threshold and calibration" not in html
    assert html.count("data:image/png;base64,") == 1
