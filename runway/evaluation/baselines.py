"""Seasonal-naive forecast: the rule every model must beat, and the last fallback.

For a target day it takes the units sold on the same weekday one period back,
or two, three, four periods back when the nearer actual is not known yet
(labels arrive late), and the store x item mean when none is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LOOKBACK_PERIODS = 4


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
    lookup = hist.set_index([*keys, timestamp])[target]
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
    # A never-seen store x item gets the global mean: a rule must always answer.
    global_mean = float(hist[target].mean()) if len(hist) else 0.0
    return pred.fillna(global_mean).to_numpy(dtype=float)
