"""Seeded retail demand simulator: the stand-in for a production sales source.

It writes raw data the way a point-of-sale export would (stream names come
from the use case's ``streams``: ``sales`` and ``plan`` for retail_demand):

* ``<raw>/<history>/batch=<week start>.parquet``: one week of actual daily
  unit sales per store x item, with ``recorded_at``: the time the actuals
  became known (``schedule.label_delay_days`` after the week closed).
* ``<raw>/<scoring>/batch=<week start>.parquet``: the rows to forecast for a
  future week: prices, promotions and holidays are planned ahead,
  ``units_sold`` is unknown (NaN).

Demand has weekly and yearly seasonality, price elasticity, promotion and
holiday lifts, stockouts that censor sales, and negative-binomial noise.
Drift scenarios change the generating process from a given date on, so
monitoring has something real to catch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from runway.data.io import write_parquet_atomic

if TYPE_CHECKING:
    from runway.config.schema import ScheduleConfig, StreamsConfig


class SimulationConfig(BaseModel):
    """Knobs of the seeded retail simulator (the use case's ``simulation:``).

    The batch length and label delay are the use case's ``schedule``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stores: int = Field(6, ge=1, le=10_000)
    items: int = Field(8, ge=1, le=10_000)
    regions: list[str] = Field(default_factory=lambda: ["north", "south", "east"], min_length=1)
    start: date = date(2024, 1, 1)
    history_days: int = Field(546, ge=56)
    seed: int = 7
    noise: float = Field(0.15, ge=0, le=2)
    stockout_rate: float = Field(0.01, ge=0, le=0.5)
    promo_rate: float = Field(0.1, ge=0, le=1)
    # Weeks after the history that `python run.py` scores and monitors.
    live_weeks: int = Field(3, ge=1, le=52)
    # Fleet mode (`python run.py fleet ...`): this many tenants, each a few
    # stores x items with its own seed (see usecases/retail_demand/fleet.py).
    tenants: int = Field(0, ge=0, le=100_000)
    tenant_stores: tuple[int, int] = (1, 3)
    tenant_items: tuple[int, int] = (2, 4)
    # Share of tenants whose live weeks drift (prices up 30%).
    drifting_share: float = Field(0.1, ge=0, le=1)
    # Tenants (the last ones) whose latest history batch breaks the contract.
    bad_batch_tenants: int = Field(0, ge=0)
    # Tenants (the first ones after t0000) with only cold_start_days of history.
    cold_start_tenants: int = Field(0, ge=0)
    cold_start_days: int = Field(63, ge=14)


Scenario = Literal["none", "price_shift", "demand_shift", "new_store", "missing_values", "schema_change"]
SCENARIOS: tuple[str, ...] = ("none", "price_shift", "demand_shift", "new_store", "missing_values", "schema_change")

DAY_OF_WEEK_LIFT = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.1])  # Mon..Sun
PRICE_ELASTICITY = -1.4
PROMO_LIFT = 1.35
PROMO_DISCOUNT = 0.8
HOLIDAY_LIFT = 1.6
NEG_BINOMIAL_SHAPE = 8.0  # larger = closer to Poisson


def holidays(years: range) -> set[date]:
    """Fixed-date retail holidays (enough structure for a model to learn)."""
    out: set[date] = set()
    for y in years:
        out |= {date(y, 1, 1), date(y, 5, 1), date(y, 7, 14), date(y, 11, 11), date(y, 12, 24), date(y, 12, 25), date(y, 12, 31)}
    return out


@dataclass(frozen=True)
class _Catalogue:
    stores: np.ndarray
    regions: np.ndarray
    items: np.ndarray
    base_demand: np.ndarray  # (stores, items)
    base_price: np.ndarray  # (items,)


def _catalogue(cfg: SimulationConfig, extra_stores: int = 0) -> _Catalogue:
    rng = np.random.default_rng(cfg.seed)
    n_stores = cfg.stores + extra_stores
    stores = np.array([f"S{i + 1:03d}" for i in range(n_stores)])
    regions = np.array([cfg.regions[i % len(cfg.regions)] for i in range(n_stores)])
    items = np.array([f"I{j + 1:03d}" for j in range(cfg.items)])
    store_size = rng.lognormal(0.0, 0.35, n_stores)
    item_pop = rng.lognormal(1.8, 0.6, cfg.items)
    base_demand = np.outer(store_size, item_pop)
    base_price = np.round(rng.uniform(1.5, 12.0, cfg.items), 2)
    return _Catalogue(stores, regions, items, base_demand, base_price)


def generate(
    cfg: SimulationConfig,
    start: date,
    days: int,
    scenario: Scenario = "none",
    drift_from: date | None = None,
) -> pd.DataFrame:
    """Daily truth for ``days`` days from ``start``; the same seed, start and length give the same data.

    A scenario applies to dates on or after ``drift_from`` (default: ``start``).
    """
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    drift_from = drift_from or start
    extra = max(1, cfg.stores // 5) if scenario == "new_store" else 0
    cat = _catalogue(cfg, extra)
    n_s, n_i = len(cat.stores), len(cat.items)
    dates = pd.date_range(pd.Timestamp(start), periods=days, freq="D", tz="UTC")
    # Seed from the calendar day so a date's data never depends on the window asked for.
    day_ordinal = np.array([d.toordinal() for d in dates.date])
    hol = holidays(range(start.year - 1, dates[-1].year + 2))

    grid_d = np.repeat(np.arange(days), n_s * n_i)
    grid_s = np.tile(np.repeat(np.arange(n_s), n_i), days)
    grid_i = np.tile(np.arange(n_i), days * n_s)

    rngs = np.random.default_rng([cfg.seed, int(day_ordinal[0]), days, n_s, n_i])
    doy = dates.dayofyear.to_numpy()[grid_d]
    dow = dates.dayofweek.to_numpy()[grid_d]
    yearly = 1.0 + 0.25 * np.sin(2 * np.pi * (doy - 80) / 365.25)
    is_holiday = np.array([d in hol for d in dates.date])[grid_d]

    # Stores run their own promotions and price moves, for whole weeks; the
    # draws are keyed by calendar week so a date's data never depends on the
    # window asked for.
    week_key = (day_ordinal[grid_d] + 6) // 7  # weeks since 0001-01-01 (a Monday)
    wk_lo, wk_hi = int(week_key.min()), int(week_key.max())
    weeks = np.arange(wk_lo, wk_hi + 1)
    promo_draw = np.stack([np.random.default_rng([cfg.seed, 99, int(w)]).random((n_s, n_i)) for w in weeks])
    jitter = np.stack([np.random.default_rng([cfg.seed, 17, int(w)]).standard_normal((n_s, n_i)) for w in weeks])
    on_promotion = promo_draw[week_key - wk_lo, grid_s, grid_i] < cfg.promo_rate
    price = cat.base_price[grid_i] * (1.0 + 0.03 * jitter[week_key - wk_lo, grid_s, grid_i])
    price = np.where(on_promotion, price * PROMO_DISCOUNT, price)

    drifted = dates.date[grid_d] >= drift_from
    demand_mult = np.ones_like(price)
    if scenario == "price_shift":
        price = np.where(drifted, price * 1.3, price)
    if scenario == "demand_shift":
        demand_mult = np.where(drifted, 1.6, 1.0)

    mean = (
        cat.base_demand[grid_s, grid_i]
        * DAY_OF_WEEK_LIFT[dow]
        * yearly
        * np.power(price / cat.base_price[grid_i], PRICE_ELASTICITY)
        * np.where(on_promotion, PROMO_LIFT, 1.0)
        * np.where(is_holiday, HOLIDAY_LIFT, 1.0)
        * demand_mult
    )
    # Negative binomial via gamma-Poisson mixture; cfg.noise scales overdispersion.
    shape = NEG_BINOMIAL_SHAPE / max(cfg.noise, 1e-6) * 0.15
    units = rngs.poisson(rngs.gamma(shape, mean / shape)).astype(float)
    stockout = rngs.random(units.shape) < cfg.stockout_rate
    units = np.where(stockout, np.floor(units * rngs.uniform(0.0, 0.5, units.shape)), units)

    df = pd.DataFrame(
        {
            "date": dates[grid_d],
            "store_id": cat.stores[grid_s],
            "item_id": cat.items[grid_i],
            "region": cat.regions[grid_s],
            "price": np.round(price, 2),
            "on_promotion": on_promotion,
            "is_holiday": is_holiday,
            "stockout": stockout,
            "units_sold": units,
        }
    )
    if scenario == "new_store":
        # New stores open on drift_from: no rows before it.
        new = df["store_id"].isin(cat.stores[cfg.stores :])
        df = df[~new | drifted].reset_index(drop=True)
    if scenario == "missing_values":
        holes = drifted & (rngs.random(len(df)) < 0.2)
        df.loc[holes, "units_sold"] = np.nan
    if scenario == "schema_change":
        df.loc[drifted, "price"] = np.nan
        df = df.rename(columns={"price": "unit_price"}) if drifted.all() else df
    return df


# ------------------------------------------------------------------ writing --


def week_starts(first: date, weeks: int, batch_days: int = 7) -> list[date]:
    return [first + timedelta(days=batch_days * k) for k in range(weeks)]


def history_end(cfg: SimulationConfig) -> date:
    """First day after the simulated history (the first live day)."""
    return cfg.start + timedelta(days=cfg.history_days)


def _batch_path(raw_dir: Path, stream: str, week_start: date) -> Path:
    return Path(raw_dir) / stream / f"batch={week_start.isoformat()}.parquet"


def _with_recorded_at(df: pd.DataFrame, week_start: date, schedule: ScheduleConfig) -> pd.DataFrame:
    closes = pd.Timestamp(week_start + timedelta(days=schedule.batch_days), tz="UTC")
    return df.assign(recorded_at=closes + pd.Timedelta(days=schedule.label_delay_days))


def write_sales_batch(raw_dir: Path, df: pd.DataFrame, week_start: date, schedule: ScheduleConfig, streams: StreamsConfig) -> Path:
    return write_parquet_atomic(_with_recorded_at(df, week_start, schedule), _batch_path(raw_dir, streams.history, week_start))


def write_history(raw_dir: Path, cfg: SimulationConfig, schedule: ScheduleConfig, streams: StreamsConfig) -> list[Path]:
    """Write the whole training history as weekly sales batches."""
    truth = generate(cfg, cfg.start, cfg.history_days, scenario="none")
    paths = []
    n_weeks = cfg.history_days // schedule.batch_days
    for ws in week_starts(cfg.start, n_weeks, schedule.batch_days):
        lo, hi = pd.Timestamp(ws, tz="UTC"), pd.Timestamp(ws + timedelta(days=schedule.batch_days), tz="UTC")
        paths.append(write_sales_batch(raw_dir, truth[(truth["date"] >= lo) & (truth["date"] < hi)], ws, schedule, streams))
    return paths


def write_live_week(
    raw_dir: Path,
    cfg: SimulationConfig,
    schedule: ScheduleConfig,
    streams: StreamsConfig,
    week_start: date,
    scenario: Scenario = "none",
    drift_from: date | None = None,
    target: str = "units_sold",
) -> tuple[Path, Path]:
    """A future week: its plan (to forecast) and, separately, its actuals."""
    truth = generate(cfg, week_start, schedule.batch_days, scenario=scenario, drift_from=drift_from or week_start)
    plan = truth.drop(columns=[target]).assign(**{target: np.nan})
    plan_path = write_parquet_atomic(plan, _batch_path(raw_dir, streams.scoring, week_start))
    sales_path = write_sales_batch(raw_dir, truth, week_start, schedule, streams)
    return plan_path, sales_path


def has_history(raw_dir: Path, streams: StreamsConfig) -> bool:
    return any((Path(raw_dir) / streams.history).glob("batch=*.parquet"))
