"""The NumPy fast path for small batches gives what the pandas/scikit-learn path gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor

from runway.modeling import artifact as art
from runway.modeling.artifact import ModelArtifact, deserialize_verified, serialize, sha256_bytes
from runway.modeling.fastpath import HistGradientBoostingFastPath, build_fast_path

pytestmark = pytest.mark.unit

FEATURES = ["lag_14", "mean_7", "price", "on_promotion", "store_code", "sparse"]


def _training(n: int = 1500, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "lag_14": rng.poisson(8, n).astype(float),
            "mean_7": rng.uniform(0, 20, n),
            "price": rng.uniform(1, 5, n).round(2),
            "on_promotion": (rng.random(n) < 0.2).astype(float),
            "store_code": rng.integers(0, 12, n).astype(float),  # a categorical, integer-coded
            "sparse": np.where(rng.random(n) < 0.4, np.nan, rng.normal(0, 1, n)),
        }
    )
    f.loc[rng.random(n) < 0.15, "lag_14"] = np.nan
    y = 2 * np.nan_to_num(f["lag_14"], nan=5) + f["mean_7"] - 3 * f["price"] + 4 * f["on_promotion"] + (f["store_code"] % 3) + rng.normal(0, 1, n)
    return f, y.to_numpy()


def _requests(n: int, seed: int) -> pd.DataFrame:
    """Rows as the service and batch scoring hand them in: NaNs, None, bools,
    nullable integers, a pandas categorical, values outside the training range."""
    rng = np.random.default_rng(seed)
    lag = rng.poisson(8, n).astype(float)
    lag[rng.random(n) < 0.3] = np.nan
    sparse = pd.array([None if rng.random() < 0.5 else float(rng.normal()) for _ in range(n)], dtype="Float64")
    return pd.DataFrame(
        {
            "lag_14": lag,
            "mean_7": rng.uniform(-5, 30, n),
            "price": rng.uniform(0.5, 6, n),
            "on_promotion": rng.random(n) < 0.3,  # bool dtype
            "store_code": pd.Categorical(rng.integers(0, 14, n)),  # categories the model never saw included
            "sparse": sparse,
            "unused": ["x"] * n,  # a column the model does not take
        }
    ).iloc[:, ::-1]  # another column order than training


def _artifact(estimator, task: str = "regression", **kw) -> ModelArtifact:
    x, y = _training()
    estimator.fit(x, np.abs(y) if task == "regression" else (y > np.median(y)).astype(int))
    return ModelArtifact(estimator, list(FEATURES), "y", task, len(x), "2024-01-01", "2024-02-01", **kw)


def _sklearn_path(model: ModelArtifact, frame: pd.DataFrame) -> np.ndarray:
    x = model._matrix(frame)
    if model.is_classifier:
        return art._positive_proba(model.estimator, x)
    return model._clip(np.asarray(model.estimator.predict(x), dtype=float))


@pytest.mark.parametrize(
    "make",
    [
        lambda: _artifact(HistGradientBoostingRegressor(max_iter=60, random_state=0)),
        lambda: _artifact(HistGradientBoostingRegressor(max_iter=40, loss="poisson", random_state=0), clip_min=0.0),
        lambda: _artifact(HistGradientBoostingRegressor(max_iter=40, random_state=0), clip_min=5.0, clip_max=30.0),
        lambda: _artifact(HistGradientBoostingClassifier(max_iter=60, random_state=0), task="binary_classification", threshold=0.5),
    ],
    ids=["squared_error", "poisson", "clipped", "classifier"],
)
def test_fast_path_equals_the_sklearn_path_on_random_rows(make):
    model = make()
    assert model.fast_path() is not None
    for seed in range(25):
        frame = _requests(1 + seed % art.FAST_PATH_MAX_ROWS, seed)
        fast = model.predict(frame)
        slow = _sklearn_path(model, frame)
        assert fast.shape == slow.shape
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
        matrix = np.column_stack([frame[f].astype(float).to_numpy() for f in FEATURES])
        np.testing.assert_allclose(model.predict_matrix(matrix), slow, rtol=1e-12, atol=1e-12)


def test_the_walk_reaches_the_leaf_scikit_learn_reaches():
    model = _artifact(HistGradientBoostingRegressor(max_iter=30, random_state=1))
    fast = model.fast_path()
    assert isinstance(fast, HistGradientBoostingFastPath)
    frame = _requests(16, 99)
    x = np.column_stack([frame[f].astype(float).to_numpy() for f in FEATURES])
    want = model.estimator._raw_predict(pd.DataFrame(x, columns=FEATURES))
    np.testing.assert_array_equal(fast.raw(x), want)  # the same additions in the same order: bit for bit
    for i in range(len(x)):  # one row: the plain-Python walk
        np.testing.assert_array_equal(fast.raw(x[i : i + 1]), want[i : i + 1])


def test_large_batches_and_other_estimators_keep_the_sklearn_path():
    hgb = _artifact(HistGradientBoostingRegressor(max_iter=20, random_state=0))
    big = _requests(art.FAST_PATH_MAX_ROWS * 4, 5)
    np.testing.assert_allclose(hgb.predict(big), _sklearn_path(hgb, big), rtol=1e-12, atol=1e-12)
    forest = _artifact(RandomForestRegressor(n_estimators=5, random_state=0).set_params(n_jobs=1))
    # a forest cannot take NaN without the imputer the project puts in front; score complete rows
    rows = _requests(3, 6).fillna({"lag_14": 1.0, "sparse": 0.0})
    assert forest.fast_path() is None
    np.testing.assert_allclose(forest.predict(rows), _sklearn_path(forest, rows))


def test_categorical_splits_have_no_fast_path_and_still_predict():
    x, y = _training()
    est = HistGradientBoostingRegressor(max_iter=20, categorical_features=[FEATURES.index("store_code")], random_state=0).fit(x, y)
    assert build_fast_path(est, len(FEATURES)) is None
    model = ModelArtifact(est, list(FEATURES), "y", "regression", len(x), "a", "b")
    frame = _requests(4, 8)
    np.testing.assert_allclose(model.predict(frame), _sklearn_path(model, frame))


def test_a_missing_feature_is_named_on_the_fast_path_too():
    model = _artifact(HistGradientBoostingRegressor(max_iter=10, random_state=0))
    with pytest.raises(KeyError, match="price"):
        model.predict(_requests(1, 1).drop(columns=["price"]))
    with pytest.raises(ValueError, match=r"\(rows, 6\) matrix"):
        model.predict_matrix(np.zeros((1, 5)))


def test_using_the_fast_path_never_changes_the_artifact_bytes():
    model = _artifact(HistGradientBoostingRegressor(max_iter=10, random_state=0))
    before = serialize(model)
    model.predict(_requests(2, 3))
    assert model.fast_path() is not None
    assert serialize(model) == before  # the decision log's sha256 stays true
    loaded = deserialize_verified(before, sha256_bytes(before))
    frame = _requests(5, 4)
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame), rtol=0, atol=0)
