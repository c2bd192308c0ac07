"""Human review queue: the scores inside inference.review_band, with the features that drove them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runway.config import ConfigError, load_settings
from runway.modeling.artifact import train
from runway.monitoring.drift import DriftResult
from runway.monitoring.report import render_report
from runway.serving import review

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def churn():
    return load_settings("churn", overrides={"inference": {"review_band": {"low": 0.3, "high": 0.7, "top_features": 2}}})


@pytest.fixture(scope="module")
def model(churn):
    """A logistic model of one strong feature, one weak one and noise."""
    rng = np.random.default_rng(0)
    n = 3000
    x = pd.DataFrame({"strong": rng.normal(0, 1, n), "weak": rng.normal(0, 1, n), "noise": rng.normal(0, 1, n)})
    logit = 2.5 * x["strong"] + 0.4 * x["weak"]
    frame = x.assign(churned_30d=(rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float), snapshot_date=pd.Timestamp("2024-01-01", tz="UTC"))
    cfg = churn.model.model_copy(update={"estimator": "logistic_regression", "params": {}, "threshold": 0.5})
    return train(frame, ["strong", "weak", "noise"], cfg, "snapshot_date")


def _scored(churn, model, n=400, seed=1):
    rng = np.random.default_rng(seed)
    feats = pd.DataFrame({"strong": rng.normal(0, 1.2, n), "weak": rng.normal(0, 1, n), "noise": rng.normal(0, 1, n)})
    preds = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(n)], "snapshot_date": pd.Timestamp("2024-06-03", tz="UTC")})
    preds["prediction"] = model.predict(feats)
    preds["served_by"], preds["model_version"] = "production", "7"
    return preds, feats


def test_the_band_is_validated_and_only_for_classification():
    with pytest.raises(ConfigError, match=r"inference\.review_band.*low \(0\.8\) must be below high \(0\.2\)"):
        load_settings("churn", overrides={"inference": {"review_band": {"low": 0.8, "high": 0.2}}})
    with pytest.raises(ConfigError, match=r"inference\.review_band\.high"):
        load_settings("churn", overrides={"inference": {"review_band": {"low": 0.2, "high": 1.5}}})
    with pytest.raises(ConfigError, match=r"inference\.review_band.*binary_classification only"):
        load_settings("retail_demand", overrides={"inference": {"review_band": {"low": 0.2, "high": 0.4}}})


def test_churn_ships_a_band():
    band = load_settings("churn").inference.review_band
    assert band is not None and 0 < band.low < band.high < 1


def test_rows_in_the_band_and_only_those_are_queued_with_their_drivers(churn, model):
    preds, feats = _scored(churn, model)
    queue = review.build_queue(churn, preds, feats, {"7": model})
    inside = preds[(preds["prediction"] >= 0.3) & (preds["prediction"] <= 0.7)]
    assert 0 < len(queue) < len(preds)
    assert sorted(queue["customer_id"]) == sorted(inside["customer_id"])
    assert queue["score"].between(0.3, 0.7).all() and (queue["model_version"] == "7").all()
    assert {"snapshot_date", "served_by", "driver_1", "driver_1_value", "driver_1_effect", "driver_2_effect"} <= set(queue.columns)
    assert "driver_3" not in queue.columns, "top_features: 2"
    # Effects are ordered by size; the strong feature leads most often, the noise almost never
    # (in-band rows are those whose strong feature is near its median, so the weak one leads some).
    top = queue["driver_1"].value_counts(normalize=True)
    assert top.index[0] == "strong" and top.get("noise", 0) < 0.1
    assert (queue["driver_1_effect"].abs() >= queue["driver_2_effect"].abs()).all()
    # The effect is the score change when the feature goes back to its training median.
    row = queue.iloc[0]
    i = int(preds.index[preds["customer_id"] == row["customer_id"]][0])
    x = feats.iloc[[i]].copy()
    x[row["driver_1"]] = model.metadata["feature_medians"][row["driver_1"]]
    assert row["driver_1_effect"] == pytest.approx(row["score"] - model.predict(x)[0])
    assert row["driver_1_value"] == pytest.approx(feats.iloc[i][row["driver_1"]])
    assert (queue["reference"] == "training median").all()


def test_rule_served_rows_are_queued_without_drivers(churn, model):
    preds, _ = _scored(churn, model, n=5)
    preds["prediction"], preds["served_by"], preds["model_version"] = [0.5, 0.1, 0.5, 0.9, 0.31], "baseline", "rule"
    queue = review.build_queue(churn, preds, None, {})
    assert queue["customer_id"].tolist() == ["C0000", "C0002", "C0004"] and queue["driver_1"].isna().all()


def test_the_queue_file_and_its_count_in_the_monitoring_report(churn, model, tmp_path):
    s = churn.model_copy(update={"environment": churn.environment.model_copy(update={"workspace": str(tmp_path / "ws")})})
    preds, feats = _scored(s, model)
    queue = review.build_queue(s, preds, feats, {"7": model})
    path = review.write_queue(s, queue, "2024-06-03")
    assert path == tmp_path / "ws" / "churn" / "review" / "batch=2024-06-03.parquet"
    assert review.read_queue(s, "2024-06-03")["customer_id"].tolist() == queue["customer_id"].tolist()
    counts = review.queued_counts(s, ["2024-06-03", "2024-06-10"])
    assert counts == {"2024-06-03": len(queue)}, "a batch without a queue file is absent, not zero"

    drift = DriftResult(features=(), schema_changes=(), severity="ok", n_reference=10, n_current=10)
    html = render_report(drift, None, None, review_queue={"queued": counts, "scored": {"2024-06-03": len(preds)}})
    assert f"Human review queue ({len(queue):,} rows)" in html and "2024-06-03" in html
    assert "Human review queue" not in render_report(drift, None, None)
