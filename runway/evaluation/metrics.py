"""Forecast error metrics, per-slice metrics and a paired bootstrap of the gain.

The bootstrap resamples whole days (all store x item rows of a day together):
errors within a day are correlated, and resampling rows would make the
interval too narrow, so a within-noise gain would look significant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(p, float) - np.asarray(y, float))))


def wape(y: np.ndarray, p: np.ndarray) -> float:
    """Weighted absolute percentage error: sum|error| / sum|actual|."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    denom = np.abs(y).sum()
    if denom == 0:
        raise ValueError("WAPE is undefined when every actual is zero")
    return float(np.abs(p - y).sum() / denom)


def bias(y: np.ndarray, p: np.ndarray) -> float:
    """Signed relative bias: positive means over-forecasting."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    denom = np.abs(y).sum()
    return float((p - y).sum() / denom) if denom else 0.0


@dataclass(frozen=True)
class Metrics:
    mae: float
    wape: float
    bias: float
    rows: int

    def get(self, name: str) -> float:
        return float(getattr(self, name))

    def to_dict(self) -> dict:
        return asdict(self)


def compute(y: np.ndarray, p: np.ndarray) -> Metrics:
    y, p = np.asarray(y, float), np.asarray(p, float)
    if y.shape != p.shape:
        raise ValueError(f"actuals and predictions differ in shape: {y.shape} vs {p.shape}")
    if y.size == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} predictions are NaN")
    return Metrics(mae=mae(y, p), wape=wape(y, p), bias=bias(y, p), rows=int(y.size))


def slice_metrics(frame: pd.DataFrame, by: str, y: str, p: str) -> pd.DataFrame:
    """MAE, WAPE and bias per value of ``by``; one row per slice."""
    g = frame.assign(_abs=(frame[p] - frame[y]).abs(), _err=frame[p] - frame[y], _y=frame[y].abs()).groupby(by, observed=True)
    out = pd.DataFrame({"rows": g.size(), "abs_err": g["_abs"].sum(), "err": g["_err"].sum(), "y": g["_y"].sum()})
    out["mae"] = out["abs_err"] / out["rows"]
    out["wape"] = out["abs_err"] / out["y"].where(out["y"] > 0)
    out["bias"] = out["err"] / out["y"].where(out["y"] > 0)
    return out[["rows", "mae", "wape", "bias"]].reset_index()


@dataclass(frozen=True)
class GainInterval:
    """Relative gain of a candidate over a reference: (ref - cand) / ref."""

    point: float
    low: float
    high: float
    samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_relative_gain(
    y: np.ndarray,
    candidate: np.ndarray,
    reference: np.ndarray,
    cluster: np.ndarray,
    metric: str = "wape",
    samples: int = 300,
    confidence: float = 0.95,
    seed: int = 0,
) -> GainInterval:
    """Paired cluster bootstrap of the relative gain in ``metric`` (lower is better).

    Both models are scored on the same resampled clusters (days), so the
    interval reflects the difference between them, not the day-to-day noise
    they share.
    """
    y, c, r = (np.asarray(a, float) for a in (y, candidate, reference))
    codes, uniques = pd.factorize(np.asarray(cluster))
    k = len(uniques)
    if k < 2:
        raise ValueError("bootstrap needs at least two clusters (days)")
    per = np.zeros((3, k))
    np.add.at(per[0], codes, np.abs(c - y))
    np.add.at(per[1], codes, np.abs(r - y))
    np.add.at(per[2], codes, np.abs(y) if metric == "wape" else 1.0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(samples, k))
    counts = np.zeros((samples, k))
    np.add.at(counts, (np.repeat(np.arange(samples), k), draws.ravel()), 1.0)
    sums = counts @ per.T  # (samples, 3)
    cand_err, ref_err = sums[:, 0] / sums[:, 2], sums[:, 1] / sums[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        gains = np.where(ref_err > 0, (ref_err - cand_err) / ref_err, 0.0)
    point_ref, point_cand = per[1].sum() / per[2].sum(), per[0].sum() / per[2].sum()
    point = float((point_ref - point_cand) / point_ref) if point_ref > 0 else 0.0
    alpha = (1 - confidence) / 2
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    return GainInterval(point=point, low=float(low), high=float(high), samples=samples)


# Metric names per task (the registry below them grows with the task types).
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "regression": ("mae", "rmse", "wape", "bias"),
    "binary_classification": ("roc_auc", "pr_auc", "log_loss", "brier", "f1", "ece"),
}


def metric_names(task: str) -> list[str]:
    return list(METRIC_NAMES[task])
