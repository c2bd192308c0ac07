"""The fleet for a classification use case: churn_fleet (the churn plug-in
has no fleet simulator; the fleet runs its simulator once per tenant), a
handful of tenants trained, gated, scored and monitored end to end."""

from __future__ import annotations

import shutil
import uuid

import pytest

from runway.config import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.integration

IDS = ["c000", "c001", "c002"]


@pytest.fixture(scope="module")
def churn_fleet(tmp_path_factory):
    from pipelines.fleet import run_fleet_inference, run_fleet_monitoring, run_fleet_training
    from runway.fleet import tenants as tenants_lib
    from runway.fleet.simulate import ensure_fleet_data

    tmp = tmp_path_factory.mktemp("churn_fleet")
    repo = tmp / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = load_settings(
        "churn_fleet",
        "local",
        {
            "simulation": {"customers": 300, "history_weeks": 52, "live_weeks": 2},
            "tenants": {"ids": IDS},
            "model": {"name": f"test-churn-fleet-{uuid.uuid4().hex[:8]}", "params": {"max_iter": 40}},
            "evaluation": {"bootstrap_samples": 100},
            "environment": {"workspace": str(tmp / "ws"), "feature_repo": str(repo), "zenml": {"config_dir": None}},
        },
    )
    wrote, starts = ensure_fleet_data(settings)
    assert wrote and len(starts) == 2
    assert ensure_fleet_data(settings) == (False, starts)  # history is written once
    ids = tenants_lib.discover(settings)
    batches = [d.isoformat() for d in starts]
    out = {"settings": settings, "ids": ids, "batches": batches}
    out["train"] = run_fleet_training(settings, ids, as_of=f"{batches[0]}T00:00:00+00:00")
    out["infer"] = [run_fleet_inference(settings, ids, b) for b in batches]
    out["monitor"] = [run_fleet_monitoring(settings, ids, b) for b in batches]
    return out


def test_each_churn_tenant_has_its_own_classifier_and_gate(churn_fleet) -> None:
    from runway.fleet import tenants as tenants_lib
    from runway.governance import fleet_registry as reg

    s, train = churn_fleet["settings"], churn_fleet["train"]
    assert churn_fleet["ids"] == IDS and set(train["tenants"]) == set(IDS)
    assert train["failed"] == {}, train["failed"]
    assert train["pooled"] and train["pooled"]["version"], train["pooled"]
    for t in IDS:
        rec = train["tenants"][t]
        assert rec["status"] in ("promoted", "refused"), rec
        assert 0.5 < rec["roc_auc"] <= 1.0, rec  # a classifier's AUC, better than chance
    assert any(train["tenants"][t]["status"] == "promoted" for t in IDS)
    versions = {v.model: v for v in reg.list_fleet_versions(s)}
    for t in IDS:
        v = versions[tenants_lib.model_name(s, t)]
        assert v.tenant == t and v.metadata["roc_auc"] == train["tenants"][t]["roc_auc"]
    # Simulated per tenant: different seeds, so different data.
    sizes = {t: sum(p.stat().st_size for p in (s.raw_dir / t / s.streams.history).glob("*.parquet")) for t in IDS}
    assert len(set(sizes.values())) == len(IDS)


def test_churn_tenants_are_scored_with_probabilities_and_monitored(churn_fleet) -> None:
    from runway.fleet import report as report_lib
    from runway.serving.predictions import read_predictions

    s = churn_fleet["settings"]
    preds = read_predictions(s, churn_fleet["batches"][:1])
    assert set(preds["tenant"]) == set(IDS)
    assert preds["prediction"].between(0, 1).all()
    mon = churn_fleet["monitor"][-1]
    assert set(mon["tenants"]) == set(IDS) and mon["failed"] == {}
    for row in mon["tenants"].values():
        assert row["metric"] == "roc_auc" and row["live"] is not None and 0 <= row["live"] <= 1
        assert "net_value" in row["kpi"]  # the churn plug-in's KPI, per tenant
    table = report_lib.table(s)
    assert "net_value" in table.splitlines()[0] and all(t in table for t in IDS)
