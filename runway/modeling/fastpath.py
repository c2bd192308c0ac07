"""A NumPy fast path for scoring a few rows with a fitted estimator.

For one row, scikit-learn's ``HistGradientBoosting*.predict`` spends most of
its time outside the trees: input validation (``validate_data``: dtype,
feature names, shape) and a Python loop calling each tree's Cython predictor
once (about 10 µs per tree, 100 trees). ``build_fast_path`` flattens the
fitted trees into arrays once and walks all of them at the same time, one
level per step, for every row of a small batch.

It follows the fitted predictor node for node (``_predictor.pyx``): NaN goes
where the node sends missing values, otherwise ``x <= threshold`` goes left.
The raw score adds the trees' leaf values to the baseline in the same order
as scikit-learn (a cumulative sum, so the float additions are the same), and
the estimator's own loss object turns it into a prediction or probability.
Estimators it does not cover (categorical splits, a preprocessor, other
model families) get None and keep the scikit-learn path. Every fast path is
compared with the scikit-learn path on probe rows (thresholds, NaN, ±inf)
when it is built and refused if any prediction differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Probe rows beyond the thresholds themselves.
_PROBE_ROWS = 64
_TOLERANCE = 1e-12


class UnsupportedEstimator(ValueError):
    """The estimator has no fast path."""


class HistGradientBoostingFastPath:
    """All trees of a fitted ``HistGradientBoostingRegressor`` / ``Classifier``
    as flat arrays (one node table, one root per tree)."""

    def __init__(self, estimator: Any):
        if getattr(estimator, "_preprocessor", None) is not None or getattr(estimator, "is_categorical_", None) is not None:
            raise UnsupportedEstimator("categorical features")
        predictors = getattr(estimator, "_predictors", None)
        if not predictors:
            raise UnsupportedEstimator("not a fitted HistGradientBoosting estimator")
        self.k = int(estimator.n_trees_per_iteration_)
        tables, roots, column, offset = [], [], [], 0
        for iteration in predictors:
            for k, predictor in enumerate(iteration):
                nodes = predictor.nodes
                if nodes["is_categorical"].any():
                    raise UnsupportedEstimator("categorical splits")
                tables.append(nodes)
                roots.append(offset)
                column.append(k)
                offset += len(nodes)
        nodes = np.concatenate(tables)
        base = np.repeat(np.asarray(roots, dtype=np.intp), [len(t) for t in tables])
        leaf = nodes["is_leaf"].astype(bool)
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        # Children as indices into the flat table; a leaf points at itself,
        # so rows that reached one stay there while deeper trees go on.
        own = np.arange(len(nodes), dtype=np.intp)
        self.left = np.where(leaf, own, nodes["left"].astype(np.intp) + base)
        self.right = np.where(leaf, own, nodes["right"].astype(np.intp) + base)
        self.value = nodes["value"].astype(np.float64)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.column = np.asarray(column, dtype=np.intp)
        self.depth = int(nodes["depth"].max()) if len(nodes) else 0
        self.baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)  # noqa: SLF001 - what sklearn adds to
        self.loss = estimator._loss  # noqa: SLF001 - its own link and proba: the same numbers
        self.classes = list(getattr(estimator, "classes_", []))
        self.is_classifier = hasattr(estimator, "predict_proba")
        # The same tables as Python lists, for one row: walking 100 trees in
        # plain Python (~8 nodes each) is cheaper than 20 NumPy steps.
        self._py = (
            self.feature.tolist(),
            self.threshold.tolist(),
            self.missing_left.tolist(),
            self.left.tolist(),
            self.right.tolist(),
            leaf.tolist(),
            self.value.tolist(),
            self.roots.tolist(),
            self.column.tolist(),
        )

    def _raw_row(self, row: list[float]) -> list[float]:
        feature, threshold, missing_left, left, right, leaf, value, roots, column = self._py
        out = self.baseline.tolist()
        for root, k in zip(roots, column, strict=True):
            i = root
            while not leaf[i]:
                v = row[feature[i]]
                go_left = missing_left[i] if v != v else v <= threshold[i]  # v != v: NaN
                i = left[i] if go_left else right[i]
            out[k] += value[i]  # float64 additions in scikit-learn's order
        return out

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees per iteration) raw scores, as ``estimator._raw_predict``."""
        n = x.shape[0]
        if n == 1:
            return np.asarray([self._raw_row(x[0].tolist())], dtype=np.float64)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            v = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(v), self.missing_left[node], v <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.value[node]
        out = np.empty((n, self.k), dtype=np.float64)
        for k in range(self.k):
            # baseline, then each tree in order: the additions scikit-learn makes.
            seq = np.concatenate([np.full((n, 1), self.baseline[k]), leaves[:, self.column == k]], axis=1)
            out[:, k] = np.cumsum(seq, axis=1)[:, -1]
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """What ``estimator.predict`` returns for a regressor."""
        if self.is_classifier:
            raise TypeError("predict of the fast path is for regressors; use positive_proba")
        return np.asarray(self.loss.link.inverse(self.raw(x).ravel()), dtype=float)

    def positive_proba(self, x: np.ndarray) -> np.ndarray:
        """``predict_proba(x)[:, <index of class 1>]`` of a classifier."""
        proba = self.loss.predict_proba(self.raw(x))
        return np.asarray(proba, dtype=float)[:, self.classes.index(1)]


def _probe(fast: HistGradientBoostingFastPath, n_features: int) -> np.ndarray:
    """Rows that hit every threshold exactly and just beside it, NaN and ±inf."""
    rng = np.random.default_rng(0)
    split = fast.left != np.arange(len(fast.feature))  # a leaf points at itself
    lo, hi = np.zeros(n_features), np.ones(n_features)
    picks: list[list[float]] = [[0.0] for _ in range(n_features)]
    for f, t in zip(fast.feature[split], fast.threshold[split], strict=True):
        if np.isfinite(t):
            picks[f] += [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)]
            lo[f], hi[f] = min(lo[f], t), max(hi[f], t)
    x = np.empty((_PROBE_ROWS, n_features))
    for f in range(n_features):
        choices = np.asarray(picks[f] + [np.nan, np.inf, -np.inf])
        x[:, f] = np.where(rng.random(_PROBE_ROWS) < 0.5, rng.choice(choices, _PROBE_ROWS), rng.uniform(lo[f] - 1, hi[f] + 1, _PROBE_ROWS))
    return x


def build_fast_path(estimator: Any, n_features: int) -> HistGradientBoostingFastPath | None:
    """The fast path of ``estimator``, or None when it has none. Raises when
    one was built but does not reproduce the scikit-learn predictions."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if not isinstance(estimator, (HistGradientBoostingRegressor, HistGradientBoostingClassifier)):
        return None
    if isinstance(estimator, HistGradientBoostingClassifier) and (estimator.n_trees_per_iteration_ != 1 or 1 not in list(estimator.classes_)):
        return None
    try:
        fast = HistGradientBoostingFastPath(estimator)
    except UnsupportedEstimator:
        return None
    x = _probe(fast, n_features)
    if fast.is_classifier:
        classes = list(estimator.classes_)
        want = np.asarray(estimator.predict_proba(_named(estimator, x)), dtype=float)[:, classes.index(1)]
        got = fast.positive_proba(x)
    else:
        want = np.asarray(estimator.predict(_named(estimator, x)), dtype=float)
        got = fast.predict(x)
    if not np.allclose(got, want, rtol=_TOLERANCE, atol=_TOLERANCE, equal_nan=True):
        worst = float(np.nanmax(np.abs(got - want)))
        raise ValueError(f"the fast path differs from scikit-learn's predictions by up to {worst:g} on probe rows")
    return fast


def _named(estimator: Any, x: np.ndarray) -> Any:
    """``x`` with the column names the estimator was fitted with, if any
    (scikit-learn warns on a bare array otherwise)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return x
    import pandas as pd

    return pd.DataFrame(x, columns=list(names))
