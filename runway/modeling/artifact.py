"""Time-based split, estimator factory, and the model artifact with its hash.

``ForecastModel`` carries the estimator together with the exact feature list it
was trained on, so inference cannot silently feed it columns in another order.
Its serialised bytes are what the decision log's sha256 refers to.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from runway.config import ModelConfig, SplitConfig

PICKLE_PROTOCOL = 5


class ArtifactIntegrityError(RuntimeError):
    """A model artifact's bytes do not match the sha256 recorded for it."""


def make_estimator(cfg: ModelConfig):
    params = dict(cfg.params)
    if cfg.estimator == "hist_gradient_boosting":
        return HistGradientBoostingRegressor(random_state=cfg.random_state, **params)
    if cfg.estimator == "random_forest":
        return make_pipeline(SimpleImputer(strategy="median"), RandomForestRegressor(random_state=cfg.random_state, n_jobs=1, **params))
    if cfg.estimator == "ridge":
        return make_pipeline(SimpleImputer(strategy="median"), Ridge(**params))
    raise ValueError(f"model.estimator: unknown estimator {cfg.estimator!r}")


@dataclass
class ForecastModel:
    estimator: object
    features: list[str]
    target: str
    trained_rows: int
    train_start: str
    train_end: str
    metadata: dict = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"model needs features missing from the frame: {', '.join(missing)}")
        pred = self.estimator.predict(frame[self.features].astype(float))
        return np.clip(pred, 0.0, None)  # units sold are never negative


def serialize(model: ForecastModel) -> bytes:
    return pickle.dumps(model, protocol=PICKLE_PROTOCOL)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def deserialize_verified(data: bytes, expected_sha256: str | None) -> ForecastModel:
    """Unpickle only bytes whose hash matches the recorded one (pickle runs code)."""
    actual = sha256_bytes(data)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ArtifactIntegrityError(f"model artifact sha256 {actual[:12]}… does not match the recorded {expected_sha256[:12]}…; refusing to load it")
    model = pickle.loads(data)  # noqa: S301 - verified above
    if not isinstance(model, ForecastModel):
        raise ArtifactIntegrityError(f"artifact holds a {type(model).__name__}, not a ForecastModel")
    return model


def time_split(frame: pd.DataFrame, timestamp: str, cfg: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last ``holdout_days`` days are the holdout; everything before trains."""
    if frame.empty:
        raise ValueError("cannot split an empty training frame")
    end = frame[timestamp].max()
    cut = end - pd.Timedelta(days=cfg.holdout_days - 1)
    train, holdout = frame[frame[timestamp] < cut], frame[frame[timestamp] >= cut]
    train_days = train[timestamp].dt.normalize().nunique()
    if train_days < cfg.min_train_days:
        raise ValueError(f"only {train_days} training days before the {cfg.holdout_days}-day holdout; split.min_train_days is {cfg.min_train_days}")
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def train(frame: pd.DataFrame, features: list[str], cfg: ModelConfig, timestamp: str) -> ForecastModel:
    labelled = frame.dropna(subset=[cfg.target])
    if labelled.empty:
        raise ValueError(f"no training rows with a known '{cfg.target}'")
    est = make_estimator(cfg)
    est.fit(labelled[features].astype(float), labelled[cfg.target].to_numpy(dtype=float))
    return ForecastModel(
        estimator=est,
        features=list(features),
        target=cfg.target,
        trained_rows=len(labelled),
        train_start=str(labelled[timestamp].min()),
        train_end=str(labelled[timestamp].max()),
        metadata={"estimator": cfg.estimator, "params": dict(cfg.params)},
    )
