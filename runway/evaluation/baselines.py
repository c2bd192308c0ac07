"""Baseline rules: what every model must beat, and the last fallback level.

A rule only uses information a model would have had: actuals at least the
lag before the target date, where the lag is the forecast horizon
(``features.horizon_days``) or the label delay (``schedule.label_delay_days``),
whichever is longer, and at least one day. Every rule always answers
(fallbacks down to a global value).

* ``seasonal_naive``: the actual of the same weekday (``period_days``) one
  period back, or two, three, four periods back when the nearer actual is not
  known yet (labels arrive late); then the entity mean, then the global mean.
* ``last_value``: the latest actual of the entity dated at least the horizon
  before the target date; then the entity mean of the actuals dated before
  the target date, then the global mean (likewise).
* ``prior_rate`` (classification): the positive rate of all labelled rows
  dated at least the horizon before the target date (global, not per entity);
  then the rate of the whole history, then 0.5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from runway.config import Settings

LOOKBACK_PERIODS = 4
KINDS: tuple[str, ...] = ("seasonal_naive", "last_value", "prior_rate")


def seasonal_naive(
    history: pd.DataFrame,
    targets: pd.DataFrame,
    keys: list[str],
    timestamp: str,
    target: str,
    period_days: int = 7,
    min_lag_days: int = 0,
) -> np.ndarray:
    """Predictions for ``targets`` rows from actuals in ``history`` (vectorised).

    ``min_lag_days`` (the forecast horizon) keeps the rule to the same
    information a model gets: no actual closer than that to the target day.
    """
    hist = history.dropna(subset=[target])[[*keys, timestamp, target]]
    lookup = hist.set_index([*keys, timestamp])[target].astype(float)
    lookup = lookup[~lookup.index.duplicated(keep="last")]
    pred = pd.Series(np.nan, index=targets.index)
    first = max(1, -(-min_lag_days // period_days))  # ceil
    for k in range(first, first + LOOKBACK_PERIODS):
        missing = pred.isna()
        if not missing.any():
            break
        probe = targets.loc[missing, keys].copy()
        probe[timestamp] = targets.loc[missing, timestamp] - pd.Timedelta(days=period_days * k)
        idx = pd.MultiIndex.from_frame(probe[[*keys, timestamp]])
        pred.loc[missing] = lookup.reindex(idx).to_numpy()
    if pred.isna().any():
        means = hist.groupby(keys)[target].mean()
        idx = pd.MultiIndex.from_frame(targets.loc[pred.isna(), keys])
        pred.loc[pred.isna()] = means.reindex(idx).to_numpy()
    # A never-seen entity gets the global mean: a rule must always answer.
    global_mean = float(hist[target].mean()) if len(hist) else 0.0
    return pred.fillna(global_mean).to_numpy(dtype=float)


def _asof(targets: pd.DataFrame, table: pd.DataFrame, timestamp: str, probe: pd.Series, by: list[str], value: str, strict: bool) -> np.ndarray:
    """``table[value]`` of the latest ``table`` row (per ``by``) dated at or
    before ``probe`` (strictly before if ``strict``), aligned to ``targets``."""
    if table.empty or targets.empty:
        return np.full(len(targets), np.nan)
    left = targets[by].copy() if by else pd.DataFrame(index=targets.index)
    left["_probe"] = probe.to_numpy()
    left["_row"] = np.arange(len(targets))
    right = table[[*by, timestamp, value]].rename(columns={timestamp: "_probe"})
    right["_probe"] = right["_probe"].astype(left["_probe"].dtype)
    out = pd.merge_asof(
        left.sort_values("_probe"), right.sort_values("_probe"), on="_probe", by=by or None, direction="backward", allow_exact_matches=not strict
    )
    return out.sort_values("_row")[value].to_numpy(dtype=float)


def _running_mean(hist: pd.DataFrame, by: list[str], timestamp: str, target: str) -> pd.DataFrame:
    """Mean of ``target`` of all rows up to and including each date (per ``by``)."""
    daily = hist.groupby([*by, timestamp], sort=True)[target].agg(["sum", "count"]).reset_index()
    g = daily.groupby(by, sort=False) if by else daily
    daily["_mean"] = g["sum"].cumsum() / g["count"].cumsum()
    return daily[[*by, timestamp, "_mean"]]


def _lag(min_lag_days: int) -> pd.Timedelta:
    # Never the target date's own actual, whatever the horizon.
    return pd.Timedelta(days=max(1, int(min_lag_days)))


def last_value(history: pd.DataFrame, targets: pd.DataFrame, keys: list[str], timestamp: str, target: str, min_lag_days: int = 0) -> np.ndarray:
    """The entity's latest actual dated at least ``min_lag_days`` (>= 1) before the target date."""
    hist = history.dropna(subset=[target])[[*keys, timestamp, target]].copy()
    hist[target] = hist[target].astype(float)
    hist = hist.sort_values(timestamp, kind="mergesort").drop_duplicates([*keys, timestamp], keep="last")
    ts = targets[timestamp]
    pred = _asof(targets, hist, timestamp, ts - _lag(min_lag_days), keys, target, strict=False)
    if np.isnan(pred).any():
        ent = _asof(targets, _running_mean(hist, keys, timestamp, target), timestamp, ts, keys, "_mean", strict=True)
        pred = np.where(np.isnan(pred), ent, pred)
    if np.isnan(pred).any():
        glob = _asof(targets, _running_mean(hist, [], timestamp, target), timestamp, ts, [], "_mean", strict=True)
        pred = np.where(np.isnan(pred), glob, pred)
    global_mean = float(hist[target].mean()) if len(hist) else 0.0
    return np.where(np.isnan(pred), global_mean, pred)


def prior_rate(history: pd.DataFrame, targets: pd.DataFrame, timestamp: str, target: str, min_lag_days: int = 0) -> np.ndarray:
    """Positive rate of the labels dated at least ``min_lag_days`` (>= 1) before each target date."""
    hist = history.dropna(subset=[target])[[timestamp, target]].copy()
    hist[target] = hist[target].astype(float)
    pred = _asof(targets, _running_mean(hist, [], timestamp, target), timestamp, targets[timestamp] - _lag(min_lag_days), [], "_mean", strict=False)
    overall = float(hist[target].mean()) if len(hist) else 0.5
    return np.where(np.isnan(pred), overall, pred)


def baseline_lag_days(settings: Settings) -> int:
    """How many days before a target date an actual must be dated to be used:
    the forecast horizon, or the label delay if longer (a label of a date is
    recorded that many days after it), at least one day."""
    return max(1, settings.features.horizon_days, settings.schedule.label_delay_days)


def baseline_predictions(settings: Settings, history: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
    """The use case's baseline (``evaluation.baseline``) for ``targets`` rows,
    from the actuals in ``history`` (only those known to the caller)."""
    b = settings.evaluation.baseline
    keys, ts, target, lag = settings.entity_keys, settings.contract.timestamp, settings.model.target, baseline_lag_days(settings)
    if b.kind == "seasonal_naive":
        return seasonal_naive(history, targets, keys, ts, target, b.period_days, lag)
    if b.kind == "last_value":
        return last_value(history, targets, keys, ts, target, lag)
    if b.kind == "prior_rate":
        return prior_rate(history, targets, ts, target, lag)
    raise ValueError(f"evaluation.baseline.kind: unknown baseline {b.kind!r}; known: {list(KINDS)}")


def baseline_label(settings: Settings) -> str:
    """How reports and decisions name the baseline, e.g. 'seasonal naive (7 days)'."""
    b = settings.evaluation.baseline
    if b.kind == "seasonal_naive":
        return f"seasonal naive ({b.period_days} days)"
    if b.kind == "last_value":
        return f"last value ({baseline_lag_days(settings)}+ days back)"
    if b.kind == "prior_rate":
        return "prior rate"
    return b.kind.replace("_", " ")
