"""Estimators per task, built from ``model:`` in the use case's config.

Histogram gradient boosting takes NaN as is; the others get a median imputer
in front (and logistic regression a standard scaler).
"""

from __future__ import annotations

from typing import Any

from runway.config.schema import ModelConfig


def _classes(task: str, name: str) -> tuple[Any, bool]:
    """(estimator class, needs an imputer in front)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    table = {
        ("regression", "hist_gradient_boosting"): (HistGradientBoostingRegressor, False),
        ("regression", "random_forest"): (RandomForestRegressor, True),
        ("regression", "ridge"): (Ridge, True),
        ("binary_classification", "hist_gradient_boosting"): (HistGradientBoostingClassifier, False),
        ("binary_classification", "random_forest"): (RandomForestClassifier, True),
        ("binary_classification", "logistic_regression"): (LogisticRegression, True),
    }
    if (task, name) not in table:
        raise ValueError(f"model.estimator: '{name}' is not available for task '{task}'")
    return table[(task, name)]


def check_params(cfg: ModelConfig) -> str | None:
    """Why ``cfg.params`` cannot build the estimator, or None.

    Unknown parameter names and values the estimator rejects are found at
    load time, not in the middle of a training step.
    """
    cls, _ = _classes(cfg.task, cfg.estimator)
    known = set(cls().get_params())
    unknown = sorted(set(cfg.params) - known)
    if unknown:
        return f"{cfg.estimator} has no parameter(s) {unknown}; known: {sorted(known)}"
    try:
        est = cls(**cfg.params)
        est._validate_params()  # sklearn's own type/range checks, without fitting
    except (TypeError, ValueError) as exc:
        return f"{cfg.estimator}: {exc}".replace("\n", " ")
    return None


def make_estimator(cfg: ModelConfig):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cls, impute = _classes(cfg.task, cfg.estimator)
    params = dict(cfg.params)
    if "random_state" in cls().get_params():
        params.setdefault("random_state", cfg.random_state)
    if "n_jobs" in cls().get_params():
        params.setdefault("n_jobs", 1)
    est = cls(**params)
    if not impute:
        return est
    steps = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if cfg.estimator == "logistic_regression":
        # lbfgs converges on standardised inputs; unscaled counts and prices stall it.
        steps.append(StandardScaler())
    return make_pipeline(*steps, est)
