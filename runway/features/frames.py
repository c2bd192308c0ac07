"""Assemble model-ready frames from raw rows and Feast features.

The entity frame holds only keys and the timestamp; columns known at
prediction time (the use case's ``features.request``) are attached after
retrieval, by position, because Feast keeps row order and count
(``runway.features.store.historical_features`` asserts it).
"""

from __future__ import annotations

import pandas as pd

from runway.config import Settings


def entity_frame(rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    keys = settings.entity_keys
    missing = [c for c in [*keys, settings.timestamp] if c not in rows.columns]
    if missing:
        raise KeyError(f"rows lack entity columns: {', '.join(missing)}")
    return rows[[*keys, settings.timestamp]].reset_index(drop=True)


def carried_columns(settings: Settings) -> list[str]:
    """Row columns that travel beside the features: the timestamp, request
    features, the target, and the columns slices and segments are cut by."""
    slice_by = [settings.evaluation.slice_by] if settings.evaluation.slice_by else []
    return list(
        dict.fromkeys(
            [settings.timestamp, *settings.features.request, settings.target, *settings.monitoring.segment_by, *settings.monitoring.categorical, *slice_by]
        )
    )


def attach_request_features(features: pd.DataFrame, rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    if len(features) != len(rows):
        raise ValueError(f"feature frame has {len(features)} rows for {len(rows)} entity rows")
    # A shallow copy that only gains columns leaves ``features`` as it was; reset_index
    # or copy() would copy every column (about 1 s at 1M rows), and ``rows`` is read by position.
    out = features.copy(deep=False)
    out.index = pd.RangeIndex(len(out))
    for col in carried_columns(settings):
        if col in rows.columns and col not in out.columns:
            out[col] = rows[col].to_numpy()
    return out


def model_feature_list(feast_features: list[str], settings: Settings) -> list[str]:
    return list(dict.fromkeys([*feast_features, *settings.features.request]))


def warmup_cutoff(settings: Settings) -> pd.Timedelta:
    """Rows earlier than the longest look-back have no history to learn from."""
    if settings.split.warmup_days is not None:
        return pd.Timedelta(days=settings.split.warmup_days)
    days = [d for v in settings.features.views for spec in v.features for d in spec.days]
    lagged = any(v.known == "lagged" for v in settings.features.views)
    longest = max([*days, 0]) + (settings.features.horizon_days if lagged else 0)
    return pd.Timedelta(days=max(longest, 7))


def drop_warmup(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    ts = settings.timestamp
    start = frame[ts].min() + warmup_cutoff(settings)
    return frame[frame[ts] >= start].reset_index(drop=True)
