"""One contract suite, run for every use case: config loads, declared
features become Feast objects, and the whole loop (train, gate, batch-score,
monitor with delayed labels) runs on a temporary local stack."""

from __future__ import annotations

import pytest

from runway.config import Settings
from runway.features.definitions import build_objects
from runway.features.naming import feature_names

pytestmark = pytest.mark.integration


def test_declared_features_become_feast_objects(use_case: Settings, tmp_path) -> None:
    objects = build_objects(use_case, tmp_path / "data")
    views = {v.name: v for v in objects.feature_views}
    assert set(views) == {v.name for v in use_case.features.views}
    served = {f.name for proj in objects.feature_services[0].feature_view_projections for f in proj.features}
    assert served == {n for v in use_case.features.views for n in feature_names(v, served_only=True)}
    assert objects.feature_services[0].name == use_case.features.service_name


def test_the_loop_runs(use_case: Settings) -> None:
    from pipelines.loop import run_loop
    from runway.governance import registry

    out = run_loop(use_case, progress=lambda _m: None)
    decision = out["training"]["decision"]
    evaluation = out["training"]["evaluation"]
    metric = use_case.evaluation.primary_metric
    assert evaluation["primary_metric"] == metric and metric in evaluation["candidate"]
    assert decision["promote"], f"first model must beat the {use_case.evaluation.baseline.kind} baseline: {decision['reason']}"
    # Production is the version the decision log promoted last (a retrain may have promoted another).
    promoted = [e for e in registry.decision_log(use_case).entries() if e["action"] == "promote"]
    assert promoted[0]["version"] == decision["version"]
    assert registry.production(use_case.model.name).version == promoted[-1]["version"]
    assert len(out["inference"]) >= 1
    for inf in out["inference"]:
        assert inf["summary"]["served_by"].get("production", 0) == inf["summary"]["rows"], inf["summary"]
    assert out["monitoring"], "every scored batch is monitored once its labels are due"
    for m in out["monitoring"]:
        assert m["assessment"]["label_completeness"] > 0.5
        assert m["assessment"]["performance"] is not None and metric in m["assessment"]["performance"]
    assert registry.decision_log(use_case).verify() == []
    # The pipelines' figures, in Prometheus text format, parse and say what served.
    from prometheus_client.parser import text_string_to_metric_families

    from runway.serving.metrics import pipeline_metrics_path

    families = {f.name: f for f in text_string_to_metric_families(pipeline_metrics_path(use_case, "batch_inference").read_text())}
    served = {s.labels["level"]: s.value for s in families["runway_pipeline_predictions"].samples}
    assert served.get("production") == out["inference"][-1]["summary"]["rows"]
    assert "runway_model_metric" in {f.name for f in text_string_to_metric_families(pipeline_metrics_path(use_case, "training").read_text())}
