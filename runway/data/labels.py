"""Delayed labels: join actuals to predictions only once they had arrived.

A label recorded after the monitoring cut-off is never used, so a backfill
run for a past window sees exactly what a job at that time would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from runway.config.schema import ScheduleConfig
from runway.data.sources import RECORDED_AT


@dataclass(frozen=True)
class LabelJoin:
    frame: pd.DataFrame  # predictions with an ``actual`` column (NaN where unknown)
    completeness: float  # share of predictions with a known actual


def join_labels(predictions: pd.DataFrame, actuals: pd.DataFrame, keys: list[str], timestamp: str, target: str, cutoff: pd.Timestamp) -> LabelJoin:
    if RECORDED_AT not in actuals.columns:
        raise KeyError(f"actuals need a '{RECORDED_AT}' column to know when each label arrived")
    known = actuals[pd.to_datetime(actuals[RECORDED_AT], utc=True) <= cutoff]
    known = known.dropna(subset=[target]).drop_duplicates(subset=[*keys, timestamp], keep="last")
    merged = predictions.merge(known[[*keys, timestamp, target]].rename(columns={target: "actual"}), on=[*keys, timestamp], how="left", validate="many_to_one")
    completeness = float(merged["actual"].notna().mean()) if len(merged) else 0.0
    return LabelJoin(merged, completeness)


def labels_due(batch_date: date, schedule: ScheduleConfig) -> date:
    """When every label of the batch starting ``batch_date`` has arrived:
    the batch closes after ``batch_days`` and labels come ``label_delay_days`` later."""
    return batch_date + timedelta(days=schedule.batch_days + schedule.label_delay_days)
