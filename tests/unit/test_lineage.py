"""The lineage record (secrets redacted, batches fingerprinted, read back from
a verified log) and the model card's content, without ZenML."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway.config import CONFIG_DIR, Settings, load_settings
from runway.data.sources import fingerprint_files
from runway.evaluation.report import evaluate
from runway.governance import lineage as lineage_lib
from runway.governance import model_card
from runway.governance.decision_log import DecisionLog

SECRET = "canary-pw-9f3b2e71"
TOKEN = "canary-token-5d1c0a88"
WEBHOOK = "canary-hook-77aa01"


def churn_settings(tmp_path: Path, monkeypatch, **environment) -> Settings:
    monkeypatch.setenv("RUNWAY_LINEAGE_TEST_PW", SECRET)
    monkeypatch.setenv("RUNWAY_LINEAGE_TEST_TOKEN", TOKEN)
    # A ${VAR} in a key that is not a connection string is substituted at load:
    # the lineage must still never show its value.
    yaml_path = tmp_path / "churn.yaml"
    text = (CONFIG_DIR / "use_cases" / "churn.yaml").read_text()
    yaml_path.write_text(text.replace("description: ", "description: ${RUNWAY_LINEAGE_TEST_TOKEN} ", 1))
    env = {
        "workspace": str(tmp_path / "ws"),
        "zenml": {"config_dir": None},
        "feast": {"online_store": "sqlite", "redis_connection": "redis://:{env:RUNWAY_LINEAGE_TEST_PW}@127.0.0.1:6379/0"},
        **environment,
    }
    return load_settings(
        yaml_path,
        "local",
        {
            "model": {"name": "churn-lineage-unit"},
            "monitoring": {"alerts": {"webhook_url": f"https://hooks.example.com/services/{WEBHOOK}"}},
            "environment": env,
        },
    )


def fake_evaluation(settings: Settings) -> dict:
    rng = np.random.default_rng(1)
    n = 400
    days = pd.date_range("2024-10-07", periods=8, freq="7D", tz="UTC").repeat(n // 8)
    y = rng.integers(0, 2, n).astype(float)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    holdout = pd.DataFrame({settings.timestamp: days, settings.target: y, settings.evaluation.slice_by or "seg": rng.choice(["a", "b"], n)})
    report = evaluate(holdout, settings.target, settings.timestamp, p, np.full(n, y.mean()), settings.evaluation, threshold=0.4, threshold_source="auto")
    out = report.to_dict() | {"production_error": None}
    out["importance"] = {
        "metric": "roc_auc",
        "rows": n,
        "repeats": 3,
        "seed": 0,
        "baseline": 0.7,
        "features": [{"feature": "tenure_months", "importance": 0.12, "std": 0.01}, {"feature": "usage_hours", "importance": -0.001, "std": 0.002}],
    }
    out["training"] = {
        "start": "2024-03-25 00:00:00+00:00",
        "end": "2024-09-30 00:00:00+00:00",
        "rows": 1234,
        "features": ["tenure_months", "usage_hours"],
        "threshold_detail": {"method": "F1-best", "tune_f1": 0.41},
    }
    return out


def write_batches(settings: Settings) -> list[Path]:
    folder = settings.raw_dir / settings.streams.history
    folder.mkdir(parents=True)
    files = []
    for i, day in enumerate(("2024-01-01", "2024-01-08")):
        f = folder / f"batch={day}.parquet"
        f.write_bytes(f"not really parquet {i}".encode())  # only hashed here
        files.append(f)
    return files


def test_lineage_redacts_every_secret_and_keeps_references(tmp_path, monkeypatch):
    settings = churn_settings(tmp_path, monkeypatch)
    files = write_batches(settings)
    data = lineage_lib.data_lineage(settings, settings.streams.history, None, "2024-11-25T00:00:00+00:00", fingerprint_files(files))
    record = lineage_lib.build(settings, fake_evaluation(settings), data=data, feature_version="f" * 64, run={"id": "r1", "name": "training-x"})
    text = json.dumps(record)
    for secret in (SECRET, TOKEN, WEBHOOK):
        assert secret not in text
    resolved = record["config"]["resolved"]
    # A reference names a variable, it is not a secret: kept, so the config still loads.
    assert resolved["environment"]["feast"]["redis_connection"] == "redis://:{env:RUNWAY_LINEAGE_TEST_PW}@127.0.0.1:6379/0"
    assert resolved["monitoring"]["alerts"]["webhook_url"] == lineage_lib.REDACTED
    assert lineage_lib.REDACTED in resolved["description"]
    assert record["config"]["sha256"] == lineage_lib.sha256_json(resolved)
    # The card shows the config too, and no secret.
    log = DecisionLog(tmp_path / "decisions.jsonl", b"k" * 32)
    log.append({"model": "churn-lineage-unit", "version": "1", "action": "promote", "reason": "ok", "artifact_sha256": "a" * 64, "lineage": record})
    html = model_card.render(lineage_lib.version_lineage(log.verified_entries(), "churn-lineage-unit", "1"))
    assert not any(s in html for s in (SECRET, TOKEN, WEBHOOK))


def test_literal_passwords_are_masked():
    assert lineage_lib.redact_string("postgresql://u:hunter22@db:5432/x") == f"postgresql://u:{lineage_lib.REDACTED}@db:5432/x"
    assert lineage_lib.redact_string("postgresql://u:{env:PW}@db/x") == "postgresql://u:{env:PW}@db/x"
    assert lineage_lib.redact_string("redis:6379,password=hunter22,ssl=true") == f"redis:6379,password={lineage_lib.REDACTED},ssl=true"
    assert lineage_lib.redact({"api_key": "abc123", "token": "{env:T}", "n": 3}) == {"api_key": lineage_lib.REDACTED, "token": "{env:T}", "n": 3}


def test_batches_are_fingerprinted_file_by_file(tmp_path, monkeypatch):
    settings = churn_settings(tmp_path, monkeypatch)
    files = write_batches(settings)
    ingested = fingerprint_files(files[1:])  # what ingestion recorded when it read the batch
    data = lineage_lib.data_lineage(settings, settings.streams.history, ["2024-01-08"], None, ingested)
    assert [b["batch"] for b in data["batches"]] == ["batch=2024-01-08"]
    assert data["batches"][0]["sha256"] == lineage_lib.file_sha256(files[1]) and data["fingerprint_verified"]
    # Files that are not what ingestion read: said, not hidden.
    files[1].write_bytes(b"changed")
    changed = lineage_lib.data_lineage(settings, settings.streams.history, ["2024-01-08"], None, ingested)
    assert not changed["fingerprint_verified"] and changed["batches"][0]["sha256"] == lineage_lib.file_sha256(files[1])


def test_a_column_tenants_lineage_lists_the_shared_batches_it_was_read_from(tmp_path):
    from runway.config import load_settings
    from runway.fleet import lineage as fleet_lineage

    settings = load_settings(
        "retail_fleet",
        "local",
        {
            "tenants": {"source": "column"},
            "contract": {"columns": {"tenant": {"dtype": "string", "nullable": False}}},
            "environment": {"workspace": str(tmp_path / "ws")},
        },
    )
    shared = settings.raw_dir / settings.streams.history
    shared.mkdir(parents=True)
    for day in ("2024-01-01", "2024-01-08"):
        (shared / f"batch={day}.parquet").write_bytes(f"rows of t1 and t2, {day}".encode())
    mine = fleet_lineage.tenant_data(settings, "t1", None)
    assert [b["file"] for b in mine["batches"]] == [f"{settings.streams.history}/batch={d}.parquet" for d in ("2024-01-01", "2024-01-08")]
    assert mine["fingerprint"] == fingerprint_files(sorted(shared.glob("batch=*.parquet")))


def test_a_fleet_tenants_batches_are_recorded_as_the_single_models(tmp_path, monkeypatch):
    from runway.fleet import lineage as fleet_lineage

    settings = churn_settings(tmp_path, monkeypatch)
    files = write_batches(settings)
    single = lineage_lib.data_lineage(settings, settings.streams.history, None, None, fingerprint_files(files))
    fleet = fleet_lineage.tenant_data(settings, None, None)
    assert single["fingerprint_verified"] and fleet["batches"] == single["batches"] and fleet["fingerprint"] == single["fingerprint"]
    # A tenant's own folder: the same entries and ingestion's fingerprint of its files.
    own = settings.raw_dir / "t1" / settings.streams.history
    own.mkdir(parents=True)
    for f in files[::-1]:
        (own / f.name).write_bytes(f.read_bytes() + b" t1")
    mine = fleet_lineage.tenant_data(settings, "t1", None)
    assert [b["file"] for b in mine["batches"]] == [f"t1/{settings.streams.history}/{f.name}" for f in files]
    assert [b["sha256"] for b in mine["batches"]] == [lineage_lib.file_sha256(own / f.name) for f in files]
    assert mine["fingerprint"] == fingerprint_files(sorted(own.iterdir()))


@pytest.fixture
def logged(tmp_path, monkeypatch):
    settings = churn_settings(tmp_path, monkeypatch)
    files = write_batches(settings)
    evaluation = fake_evaluation(settings)
    data = lineage_lib.data_lineage(settings, settings.streams.history, None, None, fingerprint_files(files))
    record = lineage_lib.build(settings, evaluation, data=data, feature_version="f" * 64)
    log = DecisionLog(tmp_path / "decisions.jsonl", b"k" * 32)
    model = settings.model.name
    extra = {"metrics": {"candidate": evaluation["candidate"], "baseline": evaluation["baseline"], "production": None}}
    log.append({"model": model, "version": "1", "action": "promote", "reason": "beats the baseline", "artifact_sha256": "a" * 64, **extra, "lineage": record})
    log.append({"model": model, "version": "2", "action": "reject", "reason": "within noise", "artifact_sha256": "b" * 64, **extra, "lineage": record})
    log.append({"model": model, "version": "1", "action": "approve", "approved_by": "alice@example.com", "reason": "reviewed the card"})
    return settings, log, evaluation


def test_lineage_reads_back_with_later_decisions(logged):
    settings, log, evaluation = logged
    doc = lineage_lib.version_lineage(log.verified_entries(), settings.model.name, "1")
    assert doc["decision"]["action"] == "promote" and doc["artifact_sha256"] == "a" * 64
    assert [e["action"] for e in doc["decisions_since"]] == ["approve"] and doc["decisions_since"][0]["approved_by"] == "alice@example.com"
    assert doc["windows"]["holdout"] == evaluation["holdout"] and doc["windows"]["training"] == ["2024-03-25 00:00:00+00:00", "2024-09-30 00:00:00+00:00"]
    assert doc["classification"]["threshold"] == 0.4 and doc["classification"]["calibration"]["bins"]
    assert doc["features"]["definitions_sha256"] == lineage_lib.feature_definitions_sha256(settings)
    assert lineage_lib.version_lineage(log.verified_entries(), settings.model.name, "2")["decisions_since"] == []
    text = lineage_lib.format_text(doc)
    assert "approve by alice@example.com" in text and "tenure_months 0.1200" in text and "threshold     0.4000 (auto)" in text


def test_unknown_model_or_version_is_one_clear_line(logged):
    settings, log, _ = logged
    entries = log.verified_entries()
    with pytest.raises(lineage_lib.LineageError) as exc:
        lineage_lib.version_lineage(entries, settings.model.name, "9")
    assert str(exc.value) == f"model '{settings.model.name}' has no version 9 in the decision log; versions with lineage: 1, 2"
    with pytest.raises(lineage_lib.LineageError, match="has no model 'other'"):
        lineage_lib.version_lineage(entries, "other", "1")


def test_a_tampered_logged_config_is_refused(logged):
    settings, log, _ = logged
    doc = lineage_lib.version_lineage(log.verified_entries(), settings.model.name, "1")
    assert lineage_lib.verify_config(doc)["use_case"] == "churn"
    doc["config"]["resolved"]["split"]["holdout_days"] += 1
    with pytest.raises(lineage_lib.LineageError, match="does not hash to the logged config sha256"):
        lineage_lib.verify_config(doc)


def test_model_card_shows_the_whole_lineage(logged):
    settings, log, _ = logged
    doc = lineage_lib.version_lineage(log.verified_entries(), settings.model.name, "1")
    html, path = model_card.write(settings, doc)
    assert path == settings.use_case_path("reports", f"model_card_{settings.model.name}_v1.html") and path.read_text() == html
    for fact in (
        "Model card: churn-lineage-unit v1",
        "a" * 64,  # artifact
        doc["code"]["commit"],
        doc["config"]["sha256"],
        doc["data"]["batches"][0]["sha256"],
        "batch=2024-01-08",
        settings.features.service_name,
        "f" * 64,  # feature tables
        doc["features"]["definitions_sha256"],
        "2024-03-25 00:00:00+00:00",  # training window
        doc["windows"]["holdout"][0],
        "beats the baseline",  # gate
        "Permutation feature importance",
        "tenure_months",
        "Threshold and calibration",
        "expected calibration error",
        "alice@example.com",
        "reviewed the card",
        "Resolved configuration (secrets redacted)",
    ):
        assert fact in html, fact
    assert html.count("data:image/png;base64,") == 2  # importance bar chart + calibration plot
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")


def test_regression_card_has_no_calibration(tmp_path, monkeypatch, logged):
    settings, log, _ = logged
    doc = lineage_lib.version_lineage(log.verified_entries(), settings.model.name, "2")
    doc = {**doc, "classification": None, "task": "regression"}
    html = model_card.render(doc)
    assert "Threshold and calibration" not in html and html.count("data:image/png;base64,") == 1
    assert "none recorded for this version yet" in html
