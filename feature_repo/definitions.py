"""Feast definitions for the retail demand use case.

Entities ``store`` and ``item``; one FileSource + FeatureView per table that
``runway.features.engine.compute_feature_tables`` writes to ``<this dir>/data/``;
the versioned FeatureService ``retail_demand_v1`` the model reads.

Self-contained on purpose: ``feast apply`` imports this file with only the
repo directory on ``sys.path``, so it cannot import ``runway``. The constants
below mirror ``configs/use_cases/retail_demand.yaml`` (features.horizon_days,
lags_days, rolling_windows_days) and runway.features.engine' column names; a test
(tests/integration/test_feature_store.py) checks that they agree. Changing the
feature set means a new service version (``retail_demand_v2``), never an
edit of v1.

Source paths are absolute, derived from this file's location: the DuckDB
offline store of Feast 0.67 reads ``FileSource.path`` as given (relative
paths would resolve against the process's working directory, not the repo),
so this keeps retrieval working from any directory and in temporary copies
of the repo.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, Int64

DATA_DIR = Path(__file__).resolve().parent / "data"

HORIZON_DAYS = 14
LAGS_DAYS = (14, 21, 28)
ROLLING_WINDOWS_DAYS = (7, 28)

store = Entity(name="store", join_keys=["store_id"], value_type=ValueType.STRING, description="A shop.")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING, description="A product (SKU).")


def _source(name: str) -> FileSource:
    return FileSource(
        name=f"{name}_source",
        path=str(DATA_DIR / f"{name}.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=f"runway.features.engine table '{name}'",
    )


sales_history = FeatureView(
    name="sales_history",
    entities=[store, item],
    # rows exist for every day; a longer gap means the series went quiet
    ttl=timedelta(days=14),
    schema=[
        *(Field(name=f"units_sold_lag_{k}d", dtype=Float64) for k in LAGS_DAYS),
        *(
            Field(name=f"units_sold_{stat}_{w}d", dtype=Float64)
            for w in ROLLING_WINDOWS_DAYS
            for stat in ("mean", "std")
        ),
        Field(name="stockout_rate_28d", dtype=Float64),
    ],
    source=_source("sales_history"),
    online=True,
    description=(
        f"Lags and rolling stats of units_sold; a row stamped t uses sales up to t - {HORIZON_DAYS} days only."
    ),
    tags={"stamping": "target_date", "horizon_days": str(HORIZON_DAYS)},
)

price_promo = FeatureView(
    name="price_promo",
    entities=[store, item],
    ttl=timedelta(days=7),
    schema=[
        Field(name="price", dtype=Float64),
        Field(name="on_promotion", dtype=Bool),
        Field(name="price_rel_28d", dtype=Float64),
        Field(name="promo_share_28d", dtype=Float64),
    ],
    source=_source("price_promo"),
    online=True,
    description="Planned price and promotion, stamped at the day they apply (published ahead).",
    tags={"stamping": "effective_date"},
)

store_sales = FeatureView(
    name="store_sales",
    entities=[store],
    ttl=timedelta(days=14),
    schema=[Field(name=f"store_item_units_mean_{w}d", dtype=Float64) for w in ROLLING_WINDOWS_DAYS],
    source=_source("store_sales"),
    online=True,
    description=f"Mean units per item-day of the store; a row stamped t uses sales up to t - {HORIZON_DAYS} days.",
    tags={"stamping": "target_date", "horizon_days": str(HORIZON_DAYS)},
)

# Entityless: joined on the timestamp only. The TTL is just under a day, so a
# target date gets its own day's row or nothing, never yesterday's calendar.
calendar = FeatureView(
    name="calendar",
    entities=[],
    ttl=timedelta(hours=23, minutes=59, seconds=59),
    schema=[
        Field(name="day_of_week", dtype=Int64),
        Field(name="week_of_year", dtype=Int64),
        Field(name="month", dtype=Int64),
        Field(name="day_of_year_sin", dtype=Float64),
        Field(name="day_of_year_cos", dtype=Float64),
        Field(name="is_holiday", dtype=Bool),
        Field(name="days_to_next_holiday", dtype=Float64),
    ],
    source=_source("calendar"),
    online=True,
    description="Calendar of the target date (holidays are known ahead).",
    tags={"stamping": "effective_date"},
)

# price, on_promotion and is_holiday are request features of the use case
# (features.request_features: read from the row being forecast), so v1 does
# not take them from Feast: same column twice would collide in the entity df.
retail_demand_v1 = FeatureService(
    name="retail_demand_v1",
    features=[
        sales_history,
        price_promo[["price_rel_28d", "promo_share_28d"]],
        store_sales,
        calendar[["day_of_week", "week_of_year", "month", "day_of_year_sin", "day_of_year_cos", "days_to_next_holiday"]],
    ],
    description="Features of the retail_demand_forecaster model, version 1.",
    tags={"model": "retail_demand_forecaster", "version": "1"},
)
