"""The fallback chain, level by level, with real models and real failures."""

import numpy as np
import pandas as pd
import pytest

from runway.config import InferenceConfig, ModelConfig
from runway.modeling.artifact import ArtifactIntegrityError, ModelArtifact, deserialize_verified, serialize, sha256_bytes, train
from runway.serving.fallback import RULE_LEVEL, Candidate, last_known_good, predict_with_fallback, shadow_mask

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"x": rng.normal(size=200), "date": pd.date_range("2025-01-01", periods=200, tz="UTC"), "store_id": "S1", "item_id": [f"I{i % 7}" for i in range(200)]}
    )
    df["y"] = 3 + 2 * df["x"] + rng.normal(scale=0.1, size=200)
    return df


@pytest.fixture(scope="module")
def model(frame):
    return train(frame, ["x"], ModelConfig(name="unit-model", target="y", estimator="ridge"), "date")


def rule(n):
    return lambda: np.full(n, 1.0)


def test_production_serves_when_healthy(frame, model):
    r = predict_with_fallback(len(frame), frame, [Candidate("production", "2", lambda: model)], rule(len(frame)))
    assert set(r.served_by) == {"production"} and set(r.served_version) == {"2"} and r.reasons == []


def test_no_production_falls_to_last_known_good(frame, model):
    r = predict_with_fallback(
        len(frame), frame, [Candidate("production", None, lambda: None), Candidate("last_known_good", "1", lambda: model)], rule(len(frame))
    )
    assert set(r.served_by) == {"last_known_good"} and "production: no such version" in r.reasons


def test_tampered_artifact_is_refused_and_next_level_serves(frame, model):
    blob = bytearray(serialize(model))
    good_sha = sha256_bytes(bytes(blob))
    blob[len(blob) // 2] ^= 0x01  # one byte flipped
    prod = Candidate("production", "2", lambda: deserialize_verified(bytes(blob), good_sha))
    lkg = Candidate("last_known_good", "1", lambda: deserialize_verified(serialize(model), sha256_bytes(serialize(model))))
    r = predict_with_fallback(len(frame), frame, [prod, lkg], rule(len(frame)))
    assert set(r.served_by) == {"last_known_good"}
    assert "ArtifactIntegrityError" in r.reasons[0]


def test_every_model_level_failing_leaves_the_rule(frame):
    def boom():
        raise ArtifactIntegrityError("bad")

    r = predict_with_fallback(len(frame), frame, [Candidate("production", "2", boom), Candidate("last_known_good", "1", boom)], rule(len(frame)))
    assert set(r.served_by) == {RULE_LEVEL} and np.all(r.predictions == 1.0) and len(r.reasons) == 2
    assert RULE_LEVEL == InferenceConfig().fallback[-1] == "baseline", "the last level is named as in inference.fallback"


def test_feature_service_unavailable_goes_straight_to_rule(frame, model):
    r = predict_with_fallback(len(frame), None, [Candidate("production", "2", lambda: model)], rule(len(frame)), feature_error="ConnectionError: registry down")
    assert set(r.served_by) == {RULE_LEVEL} and "registry down" in r.reasons[0]


def test_non_finite_rows_pass_to_next_level(frame, model):
    class Half:
        def predict(self, f):
            out = np.ones(len(f))
            out[::2] = np.nan
            return out

    r = predict_with_fallback(
        len(frame), frame, [Candidate("production", "2", lambda: Half()), Candidate("last_known_good", "1", lambda: model)], rule(len(frame))
    )
    assert r.counts() == {"last_known_good": 100, "production": 100}


def test_shadow_mask_is_deterministic_per_entity(frame):
    a = shadow_mask(frame, ["store_id", "item_id"], 0.5)
    b = shadow_mask(frame.sample(frac=1, random_state=1).sort_index(), ["store_id", "item_id"], 0.5)
    assert (a == b).all()
    per_item = pd.Series(a).groupby(frame["item_id"]).nunique()
    assert (per_item == 1).all(), "an entity is either in or out, never split"


def test_last_known_good():
    assert last_known_good(["1", "2", "3"], "3") == "2"
    assert last_known_good(["1"], "1") is None
    assert last_known_good(["1", "2"], None) == "2"


def test_artifact_round_trip_and_type_check(model):
    blob = serialize(model)
    back = deserialize_verified(blob, sha256_bytes(blob))
    assert isinstance(back, ModelArtifact) and back.task == "regression" and back.threshold is None
    import pickle

    other = pickle.dumps({"not": "a model"})
    with pytest.raises(ArtifactIntegrityError, match="not a ModelArtifact"):
        deserialize_verified(other, sha256_bytes(other))


def test_regression_clips_only_to_the_configured_range(frame):
    free = train(frame, ["x"], ModelConfig(name="unit-model", target="y", estimator="ridge"), "date")
    clipped = train(frame, ["x"], ModelConfig(name="unit-model", target="y", estimator="ridge", clip_min=0, clip_max=4), "date")
    raw = free.predict(frame)
    assert raw.min() < 0 and raw.max() > 4, "the fixture spans the range"
    assert np.array_equal(clipped.predict(frame), np.clip(raw, 0, 4))
    with pytest.raises(TypeError, match="classifiers"):
        free.predict_label(frame)


def test_missing_feature_is_named(frame, model):
    with pytest.raises(KeyError, match="x"):
        model.predict(frame.drop(columns="x"))
