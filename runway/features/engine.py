"""Feature computation for the retail demand use case: pure pandas, no Feast.

``compute_feature_tables`` turns raw sales (one row per store x item x day)
into the source tables behind the Feast feature views in ``feature_repo/``;
``write_feature_tables`` writes them atomically where the FileSources read.

Tables (one parquet file each, named after the feature view):

``sales_history`` (store_id, item_id)
    Lags of ``units_sold`` (``units_sold_lag_<k>d`` for k in ``lags_days``),
    rolling mean/std (``units_sold_mean_<w>d``/``units_sold_std_<w>d`` for w in
    ``rolling_windows_days``) and ``stockout_rate_28d``.
``price_promo`` (store_id, item_id)
    ``price``, ``on_promotion``, ``price_rel_28d`` (price over its mean on
    the 28 days before) and ``promo_share_28d`` (share of those 28 days on
    promotion).
``store_sales`` (store_id)
    ``store_item_units_mean_<w>d``: mean units per observed item-day of the
    store over the window (a traffic level that neither missing actuals nor
    a changing assortment bias).
``calendar`` (no entity: keyed by date only)
    ``day_of_week`` (0 = Monday), ``week_of_year`` (ISO), ``month``,
    ``day_of_year_sin``/``day_of_year_cos``, ``is_holiday`` (any row of that
    date is a holiday) and ``days_to_next_holiday`` (0 on a holiday, NaN when
    no later holiday is known in the input).

Leak-free stamping (the one rule that matters)
----------------------------------------------
Every row carries an ``event_timestamp``: the first *target date* it may
serve. Feast's point-in-time join picks, for an entity row at target date
``T``, the latest feature row with ``event_timestamp <= T``.

* Sales-derived rows (``sales_history``, ``store_sales``) stamped ``t`` only
  use ``units_sold``/``stockout`` of dates ``<= t - horizon_days``
  (``features.horizon_days``: 14 for retail_demand, i.e. a 7-day batch plus
  the label delay, rounded up to whole weeks). A lag of
  ``k`` days therefore needs ``k >= horizon_days`` (checked), a window of
  ``w`` days covers ``[t - horizon - w + 1, t - horizon]``. Forecasting any day
  up to ``horizon_days`` ahead of the last known actual thus never reads a
  sale inside the forecast horizon, and a training row for day ``T`` sees
  exactly what a forecast made ``horizon_days`` before ``T`` would have seen.
  Rows are emitted on a complete daily grid per store x item from its first
  day + horizon up to (last date with any actual) + horizon, so the target
  dates of the next ``horizon_days`` always have a row.
* Plan-derived rows (``price_promo``, ``calendar``) are stamped at the day
  they apply: prices, promotions and holidays are published ahead, so they
  are known when the forecast is made. Their trailing statistics only use the
  days strictly before.

``created_timestamp`` (the computation time) breaks ties between two rows of
the same entity and ``event_timestamp``: a recomputation supersedes.

Rolling statistics skip missing actuals and need at least
``min_periods(w) = max(2, ceil(w / 2))`` observed days, else NaN. ``std`` is
the sample standard deviation (ddof = 1). Missing days in the input are
missing days on the grid (NaN), not zeros.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from runway.config import FeatureConfig

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
DATE = "date"
STORE = "store_id"
ITEM = "item_id"

SALES_HISTORY = "sales_history"
PRICE_PROMO = "price_promo"
STORE_SALES = "store_sales"
CALENDAR = "calendar"
TABLES = (SALES_HISTORY, PRICE_PROMO, STORE_SALES, CALENDAR)

STOCKOUT_WINDOW_DAYS = 28
PRICE_WINDOW_DAYS = 28

REQUIRED_COLUMNS = (DATE, STORE, ITEM, "price", "on_promotion", "is_holiday", "stockout", "units_sold")


class FeatureInputError(ValueError):
    """The sales frame cannot be turned into feature tables."""


# ----------------------------------------------------------------- naming --


def lag_name(k: int) -> str:
    return f"units_sold_lag_{k}d"


def mean_name(w: int) -> str:
    return f"units_sold_mean_{w}d"


def std_name(w: int) -> str:
    return f"units_sold_std_{w}d"


def store_mean_name(w: int) -> str:
    return f"store_item_units_mean_{w}d"


def min_periods(window: int) -> int:
    return max(2, -(-window // 2))


def feature_columns(features: FeatureConfig) -> dict[str, list[str]]:
    """Feature columns of each table (no keys, no timestamps), in order."""
    return {
        SALES_HISTORY: [
            *(lag_name(k) for k in features.lags_days),
            *(n for w in features.rolling_windows_days for n in (mean_name(w), std_name(w))),
            f"stockout_rate_{STOCKOUT_WINDOW_DAYS}d",
        ],
        PRICE_PROMO: ["price", "on_promotion", f"price_rel_{PRICE_WINDOW_DAYS}d", f"promo_share_{PRICE_WINDOW_DAYS}d"],
        STORE_SALES: [store_mean_name(w) for w in features.rolling_windows_days],
        CALENDAR: [
            "day_of_week",
            "week_of_year",
            "month",
            "day_of_year_sin",
            "day_of_year_cos",
            "is_holiday",
            "days_to_next_holiday",
        ],
    }


# ---------------------------------------------------------------- helpers --


def _prepare(sales: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in sales.columns]
    if missing:
        raise FeatureInputError(f"sales frame lacks column(s) {missing}; has {list(sales.columns)}")
    df = sales.loc[:, list(REQUIRED_COLUMNS)].copy()
    dates = pd.to_datetime(df[DATE])
    dates = dates.dt.tz_localize("UTC") if dates.dt.tz is None else dates.dt.tz_convert("UTC")
    df[DATE] = dates.dt.floor("D").astype("datetime64[ns, UTC]")
    for col in (STORE, ITEM):
        if df[col].isna().any():
            raise FeatureInputError(f"column '{col}' has {int(df[col].isna().sum())} null value(s)")
        df[col] = df[col].astype(str)
    if df[DATE].isna().any():
        raise FeatureInputError(f"column '{DATE}' has {int(df[DATE].isna().sum())} null value(s)")
    dup = df.duplicated([STORE, ITEM, DATE])
    if dup.any():
        first = df.loc[dup, [STORE, ITEM, DATE]].iloc[0].tolist()
        raise FeatureInputError(f"{int(dup.sum())} duplicate (store_id, item_id, date) row(s), e.g. {first}")
    df["units_sold"] = pd.to_numeric(df["units_sold"], errors="raise").astype("float64")
    df["price"] = pd.to_numeric(df["price"], errors="raise").astype("float64")
    for col in ("on_promotion", "is_holiday", "stockout"):
        # nullable booleans stay NaN where unknown, 1.0/0.0 otherwise
        df[col] = df[col].astype("float64")
    df = df.sort_values([STORE, ITEM, DATE], kind="stable").reset_index(drop=True)
    # integer codes: series (store x item, in sorted order), store, day
    pair_change = (df[STORE].ne(df[STORE].shift()) | df[ITEM].ne(df[ITEM].shift())).to_numpy()
    df["_sid"] = np.cumsum(pair_change) - 1
    df["_store"] = np.cumsum(df[STORE].ne(df[STORE].shift()).to_numpy()) - 1
    df["_day"] = _to_days(df[DATE])
    return df


_NS_PER_DAY = 86_400 * 10**9


def _to_days(ts: pd.Series) -> np.ndarray:
    """UTC midnight timestamps -> integer days since the epoch."""
    return ts.to_numpy(dtype="datetime64[ns]").astype("int64") // _NS_PER_DAY


def _from_days(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex((np.asarray(days, dtype="int64") * _NS_PER_DAY).astype("datetime64[ns]")).tz_localize("UTC")


class _Grid:
    """A complete daily grid per series, flattened and sorted by series then day.

    Each series starts ``pad`` days before its first row, and ``pad`` is at
    least the longest look-back of any statistic, so plain (ungrouped)
    ``shift``/``rolling`` on the flat arrays never reach into the previous
    series: the padding days are NaN, like any day without data.
    """

    def __init__(self, sid: np.ndarray, day: np.ndarray, n_series: int, pad: int, end: np.ndarray | int):
        first = np.full(n_series, np.iinfo(np.int64).max, dtype="int64")
        np.minimum.at(first, sid, day)
        has_rows = first != np.iinfo(np.int64).max
        first = np.where(has_rows, first, 0)  # series without rows get no grid
        self.first = first
        start = first - pad
        end_arr = np.where(has_rows, np.broadcast_to(np.asarray(end, dtype="int64"), (n_series,)), start - 1)
        n = np.clip(end_arr - start + 1, 0, None)
        base = np.cumsum(n) - n
        self.size = int(n.sum())
        self.sid = np.repeat(np.arange(n_series), n)
        self.day = np.repeat(start, n) + (np.arange(self.size) - np.repeat(base, n))
        self.inside = day <= end_arr[sid]
        self.pos = (base[sid] + day - start[sid])[self.inside]

    def scatter(self, values: np.ndarray) -> pd.Series:
        out = np.full(self.size, np.nan)
        out[self.pos] = np.asarray(values, dtype="float64")[self.inside]
        return pd.Series(out)


def _rolling_mean(x: pd.Series, window: int, minp: int | None = None) -> pd.Series:
    return x.rolling(window, min_periods=min_periods(window) if minp is None else minp).mean()


def _rolling_std(x: pd.Series, window: int) -> pd.Series:
    return x.rolling(window, min_periods=min_periods(window)).std()


def _check_config(features: FeatureConfig, horizon_days: int) -> None:
    if horizon_days < 1:
        raise FeatureInputError(f"horizon_days must be >= 1, got {horizon_days}")
    early = [k for k in features.lags_days if k < horizon_days]
    if early:
        raise FeatureInputError(
            f"features.lags_days {early} are shorter than the forecast horizon ({horizon_days} days): "
            "those sales are not known when the forecast is made"
        )
    bad = [w for w in [*features.lags_days, *features.rolling_windows_days] if w < 1]
    if bad:
        raise FeatureInputError(f"lags/windows must be >= 1 day, got {bad}")


# ----------------------------------------------------------------- tables --


def _lookback(features: FeatureConfig, horizon: int) -> int:
    windows = [*features.rolling_windows_days, STOCKOUT_WINDOW_DAYS]
    return max([*features.lags_days, horizon + max(windows)])


def _sales_history(df: pd.DataFrame, features: FeatureConfig, horizon: int, last_actual: int) -> pd.DataFrame:
    sid, uniq = df["_sid"].to_numpy(), df.drop_duplicates("_sid")
    grid = _Grid(sid, df["_day"].to_numpy(), len(uniq), _lookback(features, horizon), last_actual + horizon)
    units = grid.scatter(df["units_sold"].to_numpy())
    stock = grid.scatter(df["stockout"].to_numpy())
    cols: dict[str, np.ndarray] = {}
    for k in features.lags_days:
        cols[lag_name(k)] = units.shift(k).to_numpy()
    # S(d) = statistic over the window ending on d; the row stamped t gets S(t - horizon).
    for w in features.rolling_windows_days:
        cols[mean_name(w)] = _rolling_mean(units, w).shift(horizon).to_numpy()
        cols[std_name(w)] = _rolling_std(units, w).shift(horizon).to_numpy()
    cols[f"stockout_rate_{STOCKOUT_WINDOW_DAYS}d"] = _rolling_mean(stock, STOCKOUT_WINDOW_DAYS).shift(horizon).to_numpy()
    keep = grid.day >= grid.first[grid.sid] + horizon
    out = pd.DataFrame(
        {
            STORE: uniq[STORE].to_numpy()[grid.sid[keep]],
            ITEM: uniq[ITEM].to_numpy()[grid.sid[keep]],
            EVENT_TIMESTAMP: _from_days(grid.day[keep]),
        }
    )
    for name, values in cols.items():
        out[name] = values[keep]
    return out


def _price_promo(df: pd.DataFrame) -> pd.DataFrame:
    present = df[df["price"].notna()]
    sid = present["_sid"].to_numpy()
    day = present["_day"].to_numpy()
    n_series = int(df["_sid"].max()) + 1
    last = np.full(n_series, np.iinfo(np.int64).min // 2, dtype="int64")
    np.maximum.at(last, sid, day)
    w = PRICE_WINDOW_DAYS
    grid = _Grid(sid, day, n_series, w + 1, last)
    price = grid.scatter(present["price"].to_numpy())
    promo = grid.scatter(present["on_promotion"].to_numpy())
    # statistics of the w days strictly before the day
    price_mean = _rolling_mean(price, w, minp=1).shift(1).to_numpy()[grid.pos]
    promo_share = _rolling_mean(promo, w, minp=1).shift(1).to_numpy()[grid.pos]
    out = pd.DataFrame(
        {
            STORE: present[STORE].to_numpy(),
            ITEM: present[ITEM].to_numpy(),
            EVENT_TIMESTAMP: _from_days(day),
            "price": present["price"].to_numpy(),
            "on_promotion": present["on_promotion"].fillna(0).astype(bool).to_numpy(),
        }
    )
    out[f"price_rel_{w}d"] = out["price"].to_numpy() / price_mean
    out[f"promo_share_{w}d"] = promo_share
    return out


def _store_sales(df: pd.DataFrame, features: FeatureConfig, horizon: int, last_actual: int) -> pd.DataFrame:
    daily = df.groupby(["_store", "_day"], sort=True)["units_sold"].agg(["sum", "count"]).reset_index()
    daily.loc[daily["count"] == 0, ["sum", "count"]] = np.nan  # no actual that day: missing, not zero
    stores = df.drop_duplicates("_store").sort_values("_store")[STORE].to_numpy()
    windows = features.rolling_windows_days
    grid = _Grid(daily["_store"].to_numpy(), daily["_day"].to_numpy(), len(stores), horizon + max(windows), last_actual + horizon)
    total = grid.scatter(daily["sum"].to_numpy())
    count = grid.scatter(daily["count"].to_numpy())
    keep = grid.day >= grid.first[grid.sid] + horizon
    out = pd.DataFrame({STORE: stores[grid.sid[keep]], EVENT_TIMESTAMP: _from_days(grid.day[keep])})
    for w in windows:
        # mean over all observed item-days of the store in the window
        minp = min_periods(w)
        mean = total.rolling(w, min_periods=minp).sum() / count.rolling(w, min_periods=minp).sum()
        out[store_mean_name(w)] = mean.shift(horizon).to_numpy()[keep]
    return out


def _calendar(df: pd.DataFrame) -> pd.DataFrame:
    hol = df.groupby("_day")["is_holiday"].max()
    day = np.arange(hol.index.min(), hol.index.max() + 1)
    is_hol = hol.reindex(day).fillna(0).astype(bool).to_numpy()
    days = _from_days(day)
    out = pd.DataFrame({EVENT_TIMESTAMP: days})
    out["day_of_week"] = days.dayofweek.astype("int64")
    out["week_of_year"] = days.isocalendar().week.to_numpy().astype("int64")
    out["month"] = days.month.astype("int64")
    year_len = np.where(days.is_leap_year, 366.0, 365.0)
    angle = 2 * np.pi * (days.dayofyear.to_numpy() - 1) / year_len
    out["day_of_year_sin"] = np.sin(angle)
    out["day_of_year_cos"] = np.cos(angle)
    out["is_holiday"] = is_hol
    hol_days = day[is_hol]
    delta = np.full(len(day), np.nan)
    if len(hol_days):
        pos = np.searchsorted(hol_days, day, side="left")
        known = pos < len(hol_days)
        delta = np.where(known, hol_days[np.minimum(pos, len(hol_days) - 1)] - day, np.nan)
    out["days_to_next_holiday"] = delta.astype("float64")
    return out


def compute_feature_tables(
    sales: pd.DataFrame,
    features: FeatureConfig,
    horizon_days: int | None = None,
    created_at: datetime | None = None,
) -> dict[str, pd.DataFrame]:
    """Source tables of the feature views, keyed by table (= feature view) name.

    Each table has its entity key columns, ``event_timestamp``,
    ``created_timestamp`` and the columns of ``feature_columns(features)``.
    ``horizon_days`` defaults to ``features.horizon_days``; ``created_at``
    (default: now, UTC) fills ``created_timestamp``.
    """
    if horizon_days is None:
        horizon_days = features.horizon_days
    _check_config(features, horizon_days)
    df = _prepare(sales)
    if df.empty:
        raise FeatureInputError("sales frame is empty")
    observed = df.loc[df["units_sold"].notna(), "_day"]
    if observed.empty:
        raise FeatureInputError("sales frame has no observed units_sold: nothing to compute history features from")
    last_actual = int(observed.max())
    created = pd.Timestamp(created_at or datetime.now(timezone.utc))
    created = created.tz_localize("UTC") if created.tzinfo is None else created.tz_convert("UTC")

    tables = {
        SALES_HISTORY: _sales_history(df, features, horizon_days, last_actual),
        PRICE_PROMO: _price_promo(df),
        STORE_SALES: _store_sales(df, features, horizon_days, last_actual),
        CALENDAR: _calendar(df),
    }
    cols = feature_columns(features)
    for name, table in tables.items():
        table[CREATED_TIMESTAMP] = created
        table[CREATED_TIMESTAMP] = table[CREATED_TIMESTAMP].astype("datetime64[ns, UTC]")
        keys = [c for c in (STORE, ITEM) if c in table.columns]
        tables[name] = table[[*keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *cols[name]]]
    return tables


def write_feature_tables(tables: Mapping[str, pd.DataFrame], data_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write each table to ``<data_dir>/<name>.parquet`` atomically.

    Each file is written to a temporary file in ``data_dir``, flushed to disk
    and renamed over the target (``os.replace``), so a reader sees the old or
    the new file, never half of one. Returns name -> path.
    """
    out_dir = Path(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, table in tables.items():
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"invalid table name {name!r}")
        target = out_dir / f"{name}.parquet"
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".parquet.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                table.to_parquet(fh, index=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; readers may be other users
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written[name] = target
    return written
