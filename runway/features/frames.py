"""Assemble model-ready frames from raw rows and Feast features.

The entity frame holds only keys, the target date and (for training) the
target; columns known at prediction time (price, promotion, holiday) are
attached after retrieval, by position, because Feast keeps row order and
count (``runway.features.store.historical_features`` asserts it).
"""

from __future__ import annotations

import pandas as pd

from runway.config import Settings


def entity_frame(rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    keys = settings.features.entity_keys
    missing = [c for c in [*keys, settings.contract.timestamp] if c not in rows.columns]
    if missing:
        raise KeyError(f"rows lack entity columns: {', '.join(missing)}")
    return rows[[*keys, settings.contract.timestamp]].reset_index(drop=True)


def attach_request_features(features: pd.DataFrame, rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Add request-time columns, the timestamp, slice columns and the target."""
    rows = rows.reset_index(drop=True)
    if len(features) != len(rows):
        raise ValueError(f"feature frame has {len(features)} rows for {len(rows)} entity rows")
    out = features.reset_index(drop=True).copy()
    carry = [settings.contract.timestamp, *settings.features.request_features, settings.model.target, *settings.monitoring.segment_by, settings.evaluation.slice_by]
    for col in dict.fromkeys(carry):
        if col in rows.columns and col not in out.columns:
            out[col] = rows[col].to_numpy()
    return out


def model_feature_list(feast_features: list[str], settings: Settings) -> list[str]:
    return list(dict.fromkeys([*feast_features, *settings.features.request_features]))


def warmup_cutoff(settings: Settings) -> pd.Timedelta:
    """Rows earlier than the longest lag + horizon have no history to learn from."""
    longest = max([*settings.features.lags_days, *settings.features.rolling_windows_days, 7])
    return pd.Timedelta(days=longest + 7)


def drop_warmup(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    ts = settings.contract.timestamp
    start = frame[ts].min() + warmup_cutoff(settings)
    return frame[frame[ts] >= start].reset_index(drop=True)
