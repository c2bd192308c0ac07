"""Permutation feature importance of a trained model on its holdout.

How much the primary metric worsens when one feature's values are shuffled
(scikit-learn's ``permutation_importance``), on a bounded, seeded sample of
the holdout so it costs little in every training run. Reported on the
metric's own scale as a *loss increase*: positive means the model relies on
the feature (shuffling it hurts), about zero means it does not, negative
means the shuffled feature scored better (noise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from runway.evaluation.metrics import get_metric

if TYPE_CHECKING:
    from runway.modeling.artifact import ModelArtifact

DEFAULT_MAX_ROWS = 2000
DEFAULT_REPEATS = 3


class _Fitted:
    """The trained model as scikit-learn's ``permutation_importance`` takes
    it (an object with ``fit``); it is only ever scored, never refitted."""

    def __init__(self, model: ModelArtifact):
        self.model = model

    def fit(self, *_args: object) -> _Fitted:
        raise TypeError("permutation importance scores a trained model; it never refits it")


def permutation_importance(
    model: ModelArtifact,
    holdout: pd.DataFrame,
    metric: str,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
) -> dict:
    """Importance of each of ``model.features`` on (a sample of) ``holdout``.

    Returns ``{"metric", "rows", "repeats", "seed", "baseline", "features":
    [{"feature", "importance", "std"}, ...]}``, most important first.
    """
    from sklearn.inspection import permutation_importance as sk_permutation_importance
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    m = get_metric(metric)
    labelled = holdout.dropna(subset=[model.target])
    if labelled.empty:
        raise ValueError(f"permutation importance needs holdout rows with a known '{model.target}'")
    sample = labelled.sample(n=max_rows, random_state=seed) if len(labelled) > max_rows else labelled
    x = sample[model.features].astype(float).reset_index(drop=True)
    y = sample[model.target].to_numpy(dtype=float)

    def score(fitted: _Fitted, xx: pd.DataFrame, yy: np.ndarray) -> float:
        # Higher is better for scikit-learn: the negated loss of the metric.
        return -m.loss(m.value(np.asarray(yy, float), fitted.model.predict(xx), fitted.model.threshold))

    # One OpenMP thread: each of the features x repeats shuffles scores a few
    # thousand rows, where thread start-up and barriers cost more than they
    # save, and on a shared machine one descheduled thread stalls every call
    # (60 predicts of 2,000 rows: 1.2 s on 2 threads, 0.42 s on 1, load 4.8).
    # The values do not change: each row is scored the same either way.
    with threadpool_limits(limits=1, user_api="openmp"):
        result = sk_permutation_importance(_Fitted(model), x, y, scoring=score, n_repeats=repeats, random_state=seed, n_jobs=1)
    ranked = sorted(zip(model.features, result.importances_mean, result.importances_std, strict=True), key=lambda r: (-float(r[1]), r[0]))
    rows = [{"feature": f, "importance": float(mean), "std": float(std)} for f, mean, std in ranked]
    return {
        "metric": metric,
        "rows": len(sample),
        "repeats": repeats,
        "seed": seed,
        "baseline": float(m.value(y, model.predict(x), model.threshold)),
        "features": rows,
    }
