"""The loop closes, end to end on the local stack:
drift injected -> alert -> retrain -> gate -> promote -> rollback."""

from __future__ import annotations

import pytest

from runway.governance import registry
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


def test_drift_alert_retrain_gate_promote_rollback(tmp_path, feature_repo_copy):
    from pipelines.loop import run_loop

    settings = make_settings(tmp_path, feature_repo_copy, simulation={"stores": 6, "items": 8, "history_days": 364})
    out = run_loop(settings, scenario="price_shift", batches=8, progress=lambda _msg: None)

    alerts = [a for m in out["monitoring"] for a in m["decision"]["alerts"]]
    assert any(a["kind"] in ("drift", "performance") for a in alerts), "the injected shift must raise an alert"
    assert out["retraining"], "an alert must trigger retraining"

    log = registry.decision_log(settings)
    actions = [e["action"] for e in log.entries()]
    first_retrain = actions.index("retrain")
    assert any(a in ("promote", "reject") for a in actions[first_retrain + 1 :]), "the gate decides on every retrained candidate"
    promoted = [e for e in log.entries() if e["action"] == "promote"]
    assert len(promoted) >= 2, f"a retrained model must pass the gate once the new regime is learnt; log: {actions}"
    new_prod, old_prod = promoted[-1], promoted[-2]
    assert registry.production(settings.model.name).version == new_prod["version"]

    rec = registry.rollback(settings, settings.model.name, reason="e2e: roll back the retrained model")
    assert rec["version"] == old_prod["version"] and rec["artifact_sha256"] == old_prod["artifact_sha256"]
    assert registry.production(settings.model.name).version == old_prod["version"]
    assert log.verify() == []
    assert any(p.endswith(".html") for p in (m["report"] for m in out["monitoring"]))
    # whylogs: each window's inputs against the serving version's reference profile
    comparison = out["monitoring"][-1]["assessment"]["profile_comparison"]
    price = next(r for r in comparison if r["column"] == "price_rel_28d")
    assert price["status"] == "both" and price["mean_shift_sd"] is not None
