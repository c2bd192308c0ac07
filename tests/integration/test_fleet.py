"""The fleet end to end on a temporary local stack: a handful of tenants
trained, gated, scored and monitored by the fleet pipelines, each with its
own versions, stage, predictions, alerts and reports."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest

from runway.config import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.integration

N_TENANTS = 5  # t0000 .. t0004: t0001 cold start, t0004 a bad history batch


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    import usecases.retail_demand as retail
    from pipelines.fleet import run_fleet_inference, run_fleet_monitoring, run_fleet_training
    from runway.fleet import tenants as tenants_lib

    tmp = tmp_path_factory.mktemp("fleet")
    repo = tmp / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = load_settings(
        "retail_fleet",
        "local",
        {
            "simulation": {"tenants": N_TENANTS, "history_days": 280, "live_weeks": 2, "cold_start_days": 112, "drifting_share": 0.5},
            "tenants": {"overrides": {"t0002": {"min_improvement_vs_baseline": 0.99}}},
            "model": {"name": f"test-fleet-{uuid.uuid4().hex[:8]}", "params": {"max_iter": 40}},
            "evaluation": {"bootstrap_samples": 100},
            "environment": {"workspace": str(tmp / "ws"), "feature_repo": str(repo), "zenml": {"config_dir": None}},
        },
    )
    retail.ensure_fleet_history(settings.raw_dir, settings)
    weeks = retail.live_batch_dates(settings, 2)
    retail.write_fleet_live_batches(settings.raw_dir, settings, weeks)
    ids = tenants_lib.discover(settings)
    batches = [w.isoformat() for w in weeks]
    out = {"settings": settings, "ids": ids, "batches": batches}
    out["train"] = run_fleet_training(settings, ids, as_of=f"{batches[0]}T00:00:00+00:00")
    out["infer"] = [run_fleet_inference(settings, ids, b) for b in batches]
    out["monitor"] = [run_fleet_monitoring(settings, ids, b) for b in batches]
    return out


def _log(settings) -> list[dict]:
    return [json.loads(ln) for ln in settings.workspace_path("decisions.jsonl").read_text().splitlines() if ln.strip()]


def test_each_tenant_has_its_own_model_version_stage_and_decision(fleet) -> None:
    from zenml.client import Client

    from runway.fleet import tenants as tenants_lib
    from runway.governance import fleet_registry as reg

    s, train = fleet["settings"], fleet["train"]
    assert set(train["tenants"]) == set(fleet["ids"])
    assert train["tenants"]["t0004"]["status"] == "failed" and "quarantined" in train["tenants"]["t0004"]["reason"]
    assert train["tenants"]["t0001"]["status"] == "cold_start" and train["tenants"]["t0001"]["serving"] == "pooled"
    # t0002's override asks a 99% gain over the baseline: refused, while the others are gated with the use case's margins.
    assert train["tenants"]["t0002"]["status"] == "refused" and "beats_baseline failed" in train["tenants"]["t0002"]["reason"]
    assert any(train["tenants"][t]["status"] == "promoted" for t in ("t0000", "t0003"))
    versions = reg.list_fleet_versions(s)
    by_model = {v.model for v in versions}
    for t in ("t0000", "t0002", "t0003"):
        name = tenants_lib.model_name(s, t)
        assert name in by_model
        model = Client().get_model(name)
        assert tenants_lib.tenant_tag(t) in {tag.name for tag in model.tags}
        mv = Client().get_model_version(name, "1")
        # The primary metric is a key of its own (filterable); the rest is packed under one key.
        assert mv.run_metadata["wape"] > 0 and mv.run_metadata["fleet"]["evaluation"]["holdout_rows"] > 0
        assert set(mv.run_metadata) == {"wape", "fleet"}
        tags = {tag.name for tag in mv.tags}
        assert tenants_lib.tenant_tag(t) in tags and any(tag.startswith("wape_band:") for tag in tags)
        assert f"gate:{train['tenants'][t]['status']}" in tags
        assert train["run_id"] in {str(r) for r in mv.pipeline_run_ids.values()}
        # The model artifact is linked to its version and recorded as an output of its chunk step.
        (art_id,) = [v for versions_ in mv.model_artifact_ids.values() for v in versions_.values()]
        step_outputs = {a.id for step in Client().get_pipeline_run(train["run_id"]).steps.values() for arts in step.outputs.values() for a in arts}
        assert art_id in step_outputs
    assert tenants_lib.pooled_model_name(s) in reg.production_index(s)
    entries = _log(s)
    for t in fleet["ids"]:
        assert any(e.get("tenant") == t for e in entries), t
    assert (s.use_case_path("tenants", "t0004", "quarantine")).is_dir()


def test_predictions_carry_the_tenant_and_the_bad_tenant_is_not_scored(fleet) -> None:
    from runway.serving.predictions import read_predictions

    s = fleet["settings"]
    preds = read_predictions(s, fleet["batches"][:1])
    assert set(preds["tenant"]) == {"t0000", "t0001", "t0002", "t0003"}
    served = preds.groupby("tenant")["served_by"].first().to_dict()
    assert served["t0001"] == "pooled"  # cold start
    assert "t0004" in fleet["infer"][0]["failed"]


def test_alerts_and_reports_are_per_tenant(fleet) -> None:
    from runway.fleet import tenants as tenants_lib
    from runway.monitoring.alerts import AlertLog

    s = fleet["settings"]
    for t, row in fleet["monitor"][-1]["tenants"].items():
        assert Path(row["report"]).is_file()
        log = AlertLog(tenants_lib.tenant_path(s, t, "alerts.jsonl"))
        for w in log.windows():
            assert all(b.tenant == t for b in w.breaches)
        for a in log.alerts():
            assert a.key.startswith(f"{t}:")
    html = tenants_lib.fleet_path(s, "reports", "fleet.html").read_text()
    assert "monitoring-" in html and "t0000" in html


def test_alert_counts_never_include_another_tenant() -> None:
    from runway.config import AlertPolicyConfig
    from runway.monitoring.alerts import AlertLog, Breach, evaluate_alerts

    policy = AlertPolicyConfig(breaches_required=2, window_count=3, cooldown_windows=0)

    def b(t):
        return Breach("price_rel_28d", "alert", 0.4, 0.25, kind="drift", tenant=t)

    # One shared log on purpose: even there, tenant A's breach never counts for B.
    import tempfile

    log = AlertLog(Path(tempfile.mkdtemp()) / "alerts.jsonl")
    log.record_window("w1", [b("A")])
    assert evaluate_alerts("w2", [b("B")], log, policy) == []
    alerts = evaluate_alerts("w2", [b("A")], log, policy)
    assert [a.key for a in alerts] == ["A:drift:price_rel_28d"] and alerts[0].breaches_in_window == 2


def _two_tenants_same_batch(settings, url: str) -> None:
    import sqlalchemy as sa

    from runway.serving.predictions import TABLE, write_predictions

    s = settings.model_copy(update={"environment": settings.environment.model_copy(update={"predictions_sink": url})})
    for t in ("A", "B"):
        preds = pd.DataFrame({"tenant": [t, t], "k": [1, 2], "prediction": [1.0, 2.0]})
        write_predictions(s, preds, preds[["tenant", "k"]], "2025-01-06", tenant_column="tenant")
    write_predictions(
        s, pd.DataFrame({"tenant": ["A"], "k": [1], "prediction": [9.0]}), pd.DataFrame({"tenant": ["A"], "k": [1]}), "2025-01-06", tenant_column="tenant"
    )
    engine = sa.create_engine(url)
    try:
        df = pd.read_sql(sa.text(f"SELECT * FROM {TABLE}"), engine)
    finally:
        engine.dispose()
    assert sorted(df["tenant"]) == ["A", "B", "B"]
    assert df.loc[df["tenant"] == "A", "prediction"].tolist() == [9.0]


def test_sql_sink_keeps_both_tenants_of_a_batch_sqlite(tmp_path) -> None:
    from tests.conftest import SMALL_SIMULATION  # noqa: F401 - the suite's fixtures set ZenML up

    s = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path / "ws"), "zenml": {"config_dir": None}}})
    _two_tenants_same_batch(s, f"sqlite:///{tmp_path / 'predictions.db'}")


def test_sql_sink_keeps_both_tenants_of_a_batch_postgres(tmp_path, postgres_url) -> None:
    import sqlalchemy as sa

    db = f"runway_fleet_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {db}"))
        url = sa.engine.make_url(postgres_url).set(database=db).render_as_string(hide_password=False)
        s = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path / "ws"), "zenml": {"config_dir": None}}})
        _two_tenants_same_batch(s, url)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


def test_cold_start_then_its_own_model_through_the_same_gate(fleet) -> None:
    """t0001 had too little history: the pooled model served it. With the
    live weeks' labels it has enough; its own candidate is gated against the
    pooled model, and serving follows the gate's decision."""
    from pipelines.fleet import run_fleet_inference, run_fleet_training

    s = fleet["settings"]
    out = run_fleet_training(s, ["t0001"])
    rec = out["tenants"]["t0001"]
    assert rec["status"] in ("promoted", "refused"), rec
    entry = [e for e in _log(s) if e.get("tenant") == "t0001"][-1]
    assert str(entry["reference"]).startswith("pooled-")  # gated against the pooled model, not only the baseline
    assert entry["serving"] == ("own" if rec["status"] == "promoted" else "pooled")
    served = run_fleet_inference(s, ["t0001"], fleet["batches"][-1])["tenants"]["t0001"]["served_by"]
    assert served == ("production" if rec["status"] == "promoted" else "pooled")


os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")


def _promoted_tenant(fleet) -> str:
    return next(t for t in ("t0000", "t0003") if fleet["train"]["tenants"][t]["status"] == "promoted")


def _tenant_rows(fs) -> dict[str, dict[str, int]]:
    from runway.features.store import feature_data_dir

    out = {}
    for p in sorted(feature_data_dir(fs).glob("*.parquet")):
        df = pd.read_parquet(p)
        if "tenant" in df.columns:
            out[p.stem] = df["tenant"].value_counts().to_dict()
    return out


def test_retraining_flagged_tenants_keeps_the_others_features_and_cleans_up(fleet) -> None:
    """What `fleet all` does after monitoring: only the flagged tenant is
    retrained (same run shape, same gate); the fleet's feature tables keep
    every other tenant's rows; no chunk frame is left in the artifact store;
    the unchanged Feast definitions are not applied again."""
    from zenml.client import Client

    from pipelines.fleet import retrain_flagged
    from runway.fleet import features as features_lib
    from runway.fleet import tenants as tenants_lib
    from runway.governance import fleet_registry as reg

    s, t = fleet["settings"], _promoted_tenant(fleet)
    fs = features_lib.fleet_settings(s)
    before = _tenant_rows(fs)
    others = {"t0000", "t0001", "t0002", "t0003"} - {t}
    assert all(o in before["sales_history"] for o in others)
    n_versions = {v.model: 0 for v in reg.list_fleet_versions(s)}
    for v in reg.list_fleet_versions(s):
        n_versions[v.model] += 1
    mon = fleet["monitor"][-1]
    assert mon["as_of"] and all("retrain" in row for row in mon["tenants"].values())
    flagged = {**mon, "tenants": {k: {**row, "retrain": k == t} for k, row in mon["tenants"].items()}}
    assert retrain_flagged(s, {**mon, "tenants": {k: {**row, "retrain": False} for k, row in mon["tenants"].items()}}) is None
    out = retrain_flagged(s, flagged)
    assert out is not None and out["retrained"] == [t] and set(out["tenants"]) == {t}
    assert out["tenants"][t]["status"] in ("promoted", "refused"), out["tenants"][t]
    after_versions: dict[str, int] = {}
    for v in reg.list_fleet_versions(s):
        after_versions[v.model] = after_versions.get(v.model, 0) + 1
    assert after_versions[tenants_lib.model_name(s, t)] == n_versions[tenants_lib.model_name(s, t)] + 1
    for o in others - {"t0001"}:
        assert after_versions.get(tenants_lib.model_name(s, o)) == n_versions.get(tenants_lib.model_name(s, o)), o
    after = _tenant_rows(fs)
    for table, counts in before.items():
        for o in others:
            assert after[table].get(o) == counts.get(o), (table, o)
        assert after[table].get(t), table
    entry = [e for e in _log(s) if e.get("tenant") == t][-1]
    assert entry["action"] in ("promote", "reject") and entry["version"] == out["tenants"][t]["version"]
    fleet_dir = Path(Client().active_stack.artifact_store.path) / "fleet"
    assert not fleet_dir.exists() or list(fleet_dir.iterdir()) == []
    assert features_lib.ensure_applied(fs) is False


def test_fleet_registry_lists_and_rolls_back_one_tenant(fleet) -> None:
    from runway.fleet import tenants as tenants_lib
    from runway.fleet.training import decision_log, serving_index
    from runway.governance import fleet_registry as reg
    from runway.governance.registry import RegistryError

    s, t = fleet["settings"], _promoted_tenant(fleet)
    rows = reg.registry_rows(s, [t, "t0002"])
    assert rows and {r["tenant"] for r in rows} <= {t, "t0002"}
    assert all(r["stage"] in ("production", "staging") and r["wape"] is not None and r["artifact_sha256"] for r in rows)
    assert [r["stage"] for r in rows if r["tenant"] == t].count("production") == 1
    name = tenants_lib.model_name(s, t)
    current = reg.production_index(s)[name].version
    other = next(v.version for v in reg.list_fleet_versions(s) if v.model == name and v.version != current)
    untouched = {m: v.version for m, v in reg.production_index(s).items() if m != name}
    rec = reg.rollback(s, t, other)
    assert rec["tenant"] == t and rec["action"] == "rollback" and rec["previous_production"] == current
    prod = reg.production_index(s)
    assert prod[name].version == other
    assert {m: v.version for m, v in prod.items() if m != name} == untouched  # no other tenant moved
    assert reg.load_model(prod[name], decision_log(s).promoted_index()) is not None  # serves: the log holds its sha256
    assert serving_index(s)[t] == "own"
    back = reg.rollback(s, t)  # default: the production before this one
    assert back["version"] == current and reg.production_index(s)[name].version == current
    assert decision_log(s).verify() == []
    with pytest.raises(RegistryError, match="already production"):
        reg.rollback(s, t, current)
    with pytest.raises(RegistryError, match="no model"):
        reg.rollback(s, "t0004")


def test_fleet_approval_path_for_one_tenant(fleet) -> None:
    """Where approval.required: a tenant's passing candidate waits in staging
    with a signed await_approval entry; `approve` (its per-tenant model name)
    makes it production and the fleet then serves it; `reject` archives."""
    from pipelines.fleet import run_fleet_inference, run_fleet_training
    from runway.fleet import tenants as tenants_lib
    from runway.fleet.training import decision_log, serving_index
    from runway.governance import approvals, registry
    from runway.governance import fleet_registry as reg

    base = fleet["settings"]
    data = base.model_dump(mode="json")
    data["environment"]["approval"] = {"required": True, "approvers": ["alice", "trainer"], "four_eyes": True}
    # A new tenant with the data of one the gate promoted (against its baseline
    # only: no production, no pooled serving yet), so the gate passes.
    t = "t0099"
    shutil.copytree(base.raw_dir / _promoted_tenant(fleet), base.raw_dir / t)
    s = type(base).model_validate(data)
    os.environ[approvals.USER_ENV] = "trainer"
    try:
        out = run_fleet_training(s, [t])
    finally:
        os.environ.pop(approvals.USER_ENV, None)
    rec = out["tenants"][t]
    name = tenants_lib.model_name(s, t)
    entry = [e for e in _log(s) if e.get("tenant") == t][-1]
    assert rec["status"] == "awaiting_approval", entry["reason"]
    assert entry["action"] == "await_approval" and entry["triggered_by"] == "trainer" and entry["version"] == rec["version"]
    assert registry.version(name, rec["version"]).stage == "staging" and name not in reg.production_index(s)
    with pytest.raises(approvals.ApprovalError, match="four-eyes"):
        approvals.approve(s, name, rec["version"], "looks good", who="trainer")
    with pytest.raises(approvals.ApprovalError, match="not an approver"):
        approvals.approve(s, name, rec["version"], "looks good", who="mallory")
    done = approvals.approve(s, name, rec["version"], "checked the holdout", who="alice")
    assert done["approved_by"] == "alice" and done["tenant"] == t and done["serving"] == "own"
    assert reg.production_index(s)[name].version == rec["version"] and serving_index(s)[t] == "own"
    assert decision_log(s).verify() == []
    served = run_fleet_inference(s, [t], fleet["batches"][-1])["tenants"][t]["served_by"]
    assert served == "production"
    with pytest.raises(approvals.ApprovalError, match="not awaiting approval"):
        approvals.reject(s, name, rec["version"], "too late", who="alice")
    # `run.py lineage <model>-<tenant> VERSION`: the tenant's files, its gate, the approval since
    from runway.governance import lineage

    doc = lineage.version_lineage(decision_log(s).verified_entries(), name, rec["version"])
    assert doc["tenant"] == t and doc["decision"]["action"] == "await_approval" and doc["artifact_sha256"] == entry["artifact_sha256"]
    assert doc["data"]["batches"] and all(b["file"].startswith(f"{t}/") for b in doc["data"]["batches"])
    assert [e["action"] for e in doc["decisions_since"]] == ["promote"] and doc["decisions_since"][0]["approved_by"] == "alice"
    text = lineage.format_text(doc)
    assert "hashed at the gate" in text and "by alice" in text
    # verify: the tenant's settings come back from its entry alone, as a single model's do
    assert lineage.verify_config(doc) == lineage.resolved_config(tenants_lib.tenant_settings(s, t))
