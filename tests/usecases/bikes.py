"""A dataset with yet another schema, generated the way docs/onboarding.md
describes the raw layout: bike rentals per station and day, labels a day late.

No simulator module, no Python in the use case: ``write_dataset`` plays the
user's export job, ``USE_CASE_YAML`` is all the user writes.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

USE_CASE_YAML = """
use_case: bike_rentals
description: Daily rentals per bike station, scored a week at a time.
schedule: {batch_days: 7, label_delay_days: 1, min_label_completeness: 0.9}
streams: {history: rentals, scoring: forecast}
contract:
  keys: [station_code, day]
  timestamp: day
  columns:
    day:          {dtype: datetime, nullable: false}
    station_code: {dtype: string, nullable: false}
    city:         {dtype: string, nullable: false, allowed: [lyon, nantes]}
    temperature:  {dtype: float, nullable: false, min: -30, max: 50}
    rentals:      {dtype: float, min: 0, max: 100000}
entities:
  - {name: station, join_keys: [station_code]}
features:
  service: bikes
  version: 1
  request: [temperature]
  horizon_days: 14
  views:
    - name: rental_history
      entities: [station]
      known: lagged
      ttl_days: 14
      features:
        - {transform: lag, column: rentals, days: [14, 21]}
        - {transform: rolling, column: rentals, stats: [mean, std], days: [28]}
    - name: weather
      entities: [station]
      known: ahead
      ttl_days: 3
      features:
        - {transform: value, column: temperature, serve: false}
        - {transform: rolling, column: temperature, stats: [mean], days: [7]}
    - name: days
      entities: []
      known: ahead
      ttl_days: 0.99999
      features:
        - {transform: calendar, parts: [day_of_week, month]}
model: {name: bike_rentals, task: regression, target: rentals, estimator: hist_gradient_boosting, params: {max_iter: 80}, clip_min: 0}
split: {holdout_days: 28, min_train_days: 56}
evaluation: {primary_metric: mae, baseline: {kind: last_value}, slice_by: city, bootstrap_samples: 100}
monitoring: {segment_by: [city], categorical: [city], drift_exclude: [day_of_week, month]}
"""

STATIONS = 12
HISTORY_DAYS = 196
LIVE_BATCHES = 2
START = date(2024, 3, 4)  # a Monday


def _frame(days: list[date], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product([[f"ST{i:02d}" for i in range(STATIONS)], days], names=["station_code", "day"]).to_frame(index=False)
    level = 20 + 4 * (grid["station_code"].str[2:].astype(int) % 5)
    doy = pd.to_datetime(grid["day"]).dt.dayofyear.to_numpy()
    temperature = 12 + 10 * np.sin(2 * np.pi * (doy - 100) / 365) + rng.normal(0, 2, len(grid))
    weekend = pd.to_datetime(grid["day"]).dt.dayofweek.to_numpy() >= 5
    mean = level * (1 + 0.03 * (temperature - 12)) * np.where(weekend, 1.4, 1.0)
    return pd.DataFrame(
        {
            "day": pd.to_datetime(grid["day"]).dt.tz_localize("UTC"),
            "station_code": grid["station_code"],
            "city": np.where(grid["station_code"].str[2:].astype(int) % 2 == 0, "lyon", "nantes"),
            "temperature": temperature.round(1),
            "rentals": rng.poisson(np.clip(mean, 1, None)).astype(float),
        }
    )


def write_dataset(raw: Path) -> list[date]:
    """History batches with late labels, then LIVE_BATCHES scoring batches
    (and their labels, recorded a day after each batch closes)."""
    all_days = [START + timedelta(days=d) for d in range(HISTORY_DAYS + 7 * LIVE_BATCHES)]
    frame = _frame(all_days, seed=3)
    starts = [START + timedelta(days=7 * k) for k in range((HISTORY_DAYS + 7 * LIVE_BATCHES) // 7)]
    live = starts[-LIVE_BATCHES:]
    for s in starts:
        week = frame[(frame["day"].dt.date >= s) & (frame["day"].dt.date < s + timedelta(days=7))].copy()
        week["recorded_at"] = pd.Timestamp(s + timedelta(days=8), tz="UTC")
        (raw / "rentals").mkdir(parents=True, exist_ok=True)
        week.to_parquet(raw / "rentals" / f"batch={s.isoformat()}.parquet", index=False)
        if s in live:
            (raw / "forecast").mkdir(parents=True, exist_ok=True)
            week.drop(columns=["rentals", "recorded_at"]).to_parquet(raw / "forecast" / f"batch={s.isoformat()}.parquet", index=False)
    return live
