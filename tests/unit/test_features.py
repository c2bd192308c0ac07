"""runway.features.engine on the retail declarations: hand-computed values, a
brute-force oracle and leak checks (the proof that the generic engine computes
what the retail-specific one did)."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway.config import Settings, load_settings
from runway.features.engine import FeatureInputError, compute_feature_tables, feature_columns, write_feature_tables

pytestmark = pytest.mark.unit

SALES_HISTORY, PRICE_PROMO, STORE_SALES, CALENDAR = "sales_history", "price_promo", "store_sales", "calendar"
CREATED = datetime(2025, 1, 1, tzinfo=UTC)
DAY0 = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday


def retail_views(lags: list[int], windows: list[int]) -> list[dict]:
    """configs/use_cases/retail_demand.yaml's views with other lags and windows."""
    return [
        {
            "name": SALES_HISTORY,
            "entities": ["store", "item"],
            "known": "lagged",
            "ttl_days": 14,
            "features": [
                {"transform": "lag", "column": "units_sold", "days": lags},
                {"transform": "rolling", "column": "units_sold", "stats": ["mean", "std"], "days": windows},
                {"transform": "rolling", "column": "stockout", "stats": ["mean"], "days": [28], "name": "stockout_rate_{days}d"},
            ],
        },
        {
            "name": PRICE_PROMO,
            "entities": ["store", "item"],
            "known": "ahead",
            "ttl_days": 7,
            "features": [
                {"transform": "value", "column": "price", "serve": False},
                {"transform": "value", "column": "on_promotion", "serve": False},
                {"transform": "ratio_to_mean", "column": "price", "days": [28]},
                {"transform": "rolling", "column": "on_promotion", "stats": ["mean"], "days": [28], "name": "promo_share_{days}d"},
            ],
        },
        {
            "name": STORE_SALES,
            "entities": ["store"],
            "known": "lagged",
            "ttl_days": 14,
            "features": [
                {"transform": "rolling", "column": "units_sold", "stats": ["mean"], "days": windows, "name": "store_item_units_mean_{days}d"},
            ],
        },
        {
            "name": CALENDAR,
            "entities": [],
            "known": "ahead",
            "ttl_days": 0.99999,
            "features": [
                {"transform": "calendar", "parts": ["day_of_week", "week_of_year", "month", "day_of_year_sin", "day_of_year_cos"]},
                {"transform": "value", "column": "is_holiday", "aggregate": "max", "serve": False},
                {"transform": "days_to_next", "column": "is_holiday", "name": "days_to_next_holiday"},
            ],
        },
    ]


def retail(horizon: int, lags: list[int], windows: list[int]) -> Settings:
    """The retail use case with another horizon, lags and rolling windows."""
    return load_settings(
        "retail_demand",
        "local",
        overrides={"schedule": {"batch_days": horizon - 3, "label_delay_days": 3}, "features": {"horizon_days": horizon, "views": retail_views(lags, windows)}},
    )


SMALL = retail(7, [7, 14], [3])


def day(d: int) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=d)


def tiny_sales() -> pd.DataFrame:
    """S1/I1 sells d units on day d (day 30 unknown), S1/I2 always 10; 40 days.
    Stockouts of I1 on days 0 and 5, promotions on days 3-4, price 2 then 3
    from day 28, holiday on day 9."""
    n = 40
    frames = []
    for item, units in (("I1", np.arange(n, dtype=float)), ("I2", np.full(n, 10.0))):
        units = units.copy()
        if item == "I1":
            units[30] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "date": [day(d) for d in range(n)],
                    "store_id": "S1",
                    "item_id": item,
                    "region": "north",
                    "price": np.where(np.arange(n) >= 28, 3.0, 2.0),
                    "on_promotion": np.isin(np.arange(n), [3, 4]),
                    "is_holiday": np.arange(n) == 9,
                    "stockout": np.isin(np.arange(n), [0, 5]) & (item == "I1"),
                    "units_sold": units,
                }
            )
        )
    # reverse the order: the computation must not depend on input order
    return pd.concat(frames, ignore_index=True).iloc[::-1].reset_index(drop=True)


def row(table: pd.DataFrame, t: int, **keys: str) -> pd.Series:
    sel = table["event_timestamp"] == day(t)
    for k, v in keys.items():
        sel &= table[k] == v
    assert sel.sum() == 1, f"expected one row at day {t} {keys}, got {int(sel.sum())}"
    return table.loc[sel].iloc[0]


@pytest.fixture(scope="module")
def tiny_tables() -> dict[str, pd.DataFrame]:
    return compute_feature_tables(tiny_sales(), SMALL, horizon_days=7, created_at=CREATED)


def test_columns_and_types(tiny_tables):
    cols = feature_columns(SMALL)
    assert set(tiny_tables) == {SALES_HISTORY, PRICE_PROMO, STORE_SALES, CALENDAR}
    assert list(tiny_tables[SALES_HISTORY].columns) == ["store_id", "item_id", "event_timestamp", "created_timestamp", *cols[SALES_HISTORY]]
    assert cols[SALES_HISTORY] == ["units_sold_lag_7d", "units_sold_lag_14d", "units_sold_mean_3d", "units_sold_std_3d", "stockout_rate_28d"]
    assert list(tiny_tables[STORE_SALES].columns[:3]) == ["store_id", "event_timestamp", "created_timestamp"]
    assert list(tiny_tables[CALENDAR].columns[:2]) == ["event_timestamp", "created_timestamp"]
    for table in tiny_tables.values():
        assert str(table["event_timestamp"].dtype) == "datetime64[ns, UTC]"
        assert (table["created_timestamp"] == CREATED).all()
    assert tiny_tables[PRICE_PROMO]["on_promotion"].dtype == bool
    assert tiny_tables[CALENDAR]["is_holiday"].dtype == bool


def test_sales_history_hand_computed(tiny_tables):
    t = tiny_tables[SALES_HISTORY]
    i1 = t[t["item_id"] == "I1"]
    # first row: first day + horizon; last row: last actual (day 39) + horizon
    assert i1["event_timestamp"].min() == day(7)
    assert i1["event_timestamp"].max() == day(46)
    assert len(i1) == 40

    r = row(t, 7, item_id="I1")
    assert r["units_sold_lag_7d"] == 0.0
    assert math.isnan(r["units_sold_lag_14d"])
    assert math.isnan(r["units_sold_mean_3d"])  # one observed day < min_periods 2
    r = row(t, 8, item_id="I1")
    assert r["units_sold_mean_3d"] == pytest.approx(0.5)  # days 0, 1
    r = row(t, 9, item_id="I1")
    assert r["units_sold_lag_7d"] == 2.0
    assert r["units_sold_mean_3d"] == pytest.approx(1.0)  # days 0..2
    assert r["units_sold_std_3d"] == pytest.approx(1.0)
    r = row(t, 20, item_id="I1")
    assert (r["units_sold_lag_7d"], r["units_sold_lag_14d"]) == (13.0, 6.0)
    assert r["units_sold_mean_3d"] == pytest.approx(12.0)  # days 11..13
    assert r["stockout_rate_28d"] == pytest.approx(2 / 14)  # days 0..13: stockouts on 0 and 5
    r = row(t, 34, item_id="I1")
    assert r["stockout_rate_28d"] == pytest.approx(2 / 28)  # days 0..27
    r = row(t, 35, item_id="I1")
    assert r["stockout_rate_28d"] == pytest.approx(1 / 28)  # days 1..28
    # the unknown day 30 is skipped, not taken as 0
    r = row(t, 37, item_id="I1")
    assert math.isnan(r["units_sold_lag_7d"])
    assert r["units_sold_mean_3d"] == pytest.approx(28.5)  # days 28, 29, (30)
    r = row(t, 38, item_id="I1")
    assert r["units_sold_mean_3d"] == pytest.approx(30.0)  # days 29, (30), 31
    assert r["units_sold_std_3d"] == pytest.approx(math.sqrt(2.0))
    r = row(t, 46, item_id="I1")
    assert r["units_sold_lag_7d"] == 39.0
    assert r["units_sold_mean_3d"] == pytest.approx(38.0)
    r = row(t, 20, item_id="I2")
    assert r["units_sold_std_3d"] == 0.0
    assert r["stockout_rate_28d"] == 0.0


def test_store_sales_hand_computed(tiny_tables):
    t = tiny_tables[STORE_SALES]
    assert t["store_id"].unique().tolist() == ["S1"]
    assert t["event_timestamp"].min() == day(7) and t["event_timestamp"].max() == day(46)
    # days 11..13: I1 11+12+13, I2 3 x 10 -> 66 / 6 item-days
    assert row(t, 20)["store_item_units_mean_3d"] == pytest.approx(11.0)
    # days 29..31 with I1 unknown on day 30: (29 + 31 + 30) / 5
    assert row(t, 38)["store_item_units_mean_3d"] == pytest.approx(18.0)


def test_price_promo_hand_computed(tiny_tables):
    t = tiny_tables[PRICE_PROMO]
    assert len(t) == 80  # one row per input row, stamped at its own day
    assert math.isnan(row(t, 0, item_id="I1")["price_rel_28d"])  # no day before
    assert row(t, 1, item_id="I1")["price_rel_28d"] == pytest.approx(1.0)
    assert row(t, 28, item_id="I1")["price_rel_28d"] == pytest.approx(1.5)  # 3 / mean(days 0..27 = 2)
    assert row(t, 29, item_id="I1")["price_rel_28d"] == pytest.approx(3 / (57 / 28))
    assert row(t, 4, item_id="I1")["promo_share_28d"] == pytest.approx(1 / 4)  # days 0..3
    assert row(t, 5, item_id="I1")["promo_share_28d"] == pytest.approx(2 / 5)
    assert row(t, 35, item_id="I1")["promo_share_28d"] == 0.0  # days 7..34
    assert bool(row(t, 3, item_id="I2")["on_promotion"]) and not bool(row(t, 5, item_id="I2")["on_promotion"])
    assert row(t, 30, item_id="I1")["price"] == 3.0


def test_calendar_hand_computed(tiny_tables):
    t = tiny_tables[CALENDAR].set_index("event_timestamp")
    assert len(t) == 40
    first = t.loc[day(0)]
    assert (first["day_of_week"], first["week_of_year"], first["month"]) == (0, 1, 1)
    assert first["day_of_year_sin"] == pytest.approx(0.0) and first["day_of_year_cos"] == pytest.approx(1.0)
    assert first["days_to_next_holiday"] == 9
    assert t.loc[day(9), "is_holiday"] and t.loc[day(9), "days_to_next_holiday"] == 0
    assert math.isnan(t.loc[day(10), "days_to_next_holiday"])  # no later holiday known
    assert t.loc[day(6), "day_of_week"] == 6


# ------------------------------------------------------------ random data --


def random_sales(seed: int = 0, stores: int = 2, items: int = 3, days: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [[f"S{i:03d}" for i in range(stores)], [f"I{j:03d}" for j in range(items)], range(days)],
        names=["store_id", "item_id", "d"],
    ).to_frame(index=False)
    # series start on different days (new items)
    start = {(s, i): int(rng.integers(0, 10)) for s, i in idx[["store_id", "item_id"]].drop_duplicates().itertuples(index=False)}
    idx = idx[[d >= start[(s, i)] for s, i, d in idx[["store_id", "item_id", "d"]].itertuples(index=False)]]
    n = len(idx)
    df = pd.DataFrame(
        {
            "date": [day(int(d)) for d in idx["d"]],
            "store_id": idx["store_id"].to_numpy(),
            "item_id": idx["item_id"].to_numpy(),
            "region": "north",
            "price": rng.uniform(1, 5, n).round(2),
            "on_promotion": rng.random(n) < 0.2,
            "is_holiday": (idx["d"] % 17 == 0).to_numpy(),
            "stockout": rng.random(n) < 0.1,
            "units_sold": rng.poisson(6, n).astype(float),
        }
    )
    df.loc[rng.random(n) < 0.05, "units_sold"] = np.nan
    # the last week is the future: plans only
    df.loc[df["date"] > day(days - 8), "units_sold"] = np.nan
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def oracle_sales_history(sales: pd.DataFrame, lags: list[int], windows: list[int], horizon: int, keys, t: pd.Timestamp) -> dict:
    """Straight from the definition: only sales on days <= t - horizon."""
    s = sales[(sales["store_id"] == keys[0]) & (sales["item_id"] == keys[1])].set_index("date").sort_index()
    known = s[s.index <= t - pd.Timedelta(days=horizon)]
    out = {}
    for k in lags:
        d = t - pd.Timedelta(days=k)
        out[f"units_sold_lag_{k}d"] = known["units_sold"].get(d, np.nan)

    def window(col: str, w: int) -> pd.Series:
        lo = t - pd.Timedelta(days=horizon + w - 1)
        return known.loc[known.index >= lo, col].dropna()

    for w in windows:
        vals = window("units_sold", w)
        ok = len(vals) >= max(2, math.ceil(w / 2))
        out[f"units_sold_mean_{w}d"] = vals.mean() if ok else np.nan
        out[f"units_sold_std_{w}d"] = vals.std(ddof=1) if ok else np.nan
    vals = window("stockout", 28).astype(float)
    out["stockout_rate_28d"] = vals.mean() if len(vals) >= 14 else np.nan
    return out


def test_sales_history_matches_brute_force_oracle():
    lags, windows = [7, 10, 28], [4, 7]
    cfg = retail(7, lags, windows)
    sales = random_sales(seed=3, stores=1, items=2, days=60)
    table = compute_feature_tables(sales, cfg, horizon_days=7, created_at=CREATED)[SALES_HISTORY]
    assert not table.duplicated(["store_id", "item_id", "event_timestamp"]).any()
    checked = 0
    for r in table.itertuples(index=False):
        expected = oracle_sales_history(sales, lags, windows, 7, (r.store_id, r.item_id), r.event_timestamp)
        for name, value in expected.items():
            got = getattr(r, name)
            assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value), (
                f"{name} at {r.store_id}/{r.item_id}/{r.event_timestamp.date()}: {got} != {value}"
            )
            checked += 1
    assert checked > 500


@pytest.mark.parametrize("cutoff_day", [20, 41, 70])
def test_no_feature_reads_sales_inside_the_horizon(cutoff_day):
    """Rewriting every actual after day c must not change any sales-derived
    row stamped <= c + horizon, nor any price/promo row stamped <= c."""
    cfg = load_settings("retail_demand")  # the use case as declared
    horizon = cfg.features.horizon_days
    assert horizon == 14
    sales = random_sales(seed=cutoff_day)
    before = compute_feature_tables(sales, cfg, horizon_days=horizon, created_at=CREATED)

    rng = np.random.default_rng(99)
    perturbed = sales.copy()
    after_c = perturbed["date"] > day(cutoff_day)
    observed = after_c & perturbed["units_sold"].notna()
    perturbed.loc[observed, "units_sold"] = rng.poisson(50, int(observed.sum())).astype(float)
    perturbed.loc[after_c, "stockout"] = ~perturbed.loc[after_c, "stockout"]
    perturbed.loc[after_c, "price"] = perturbed.loc[after_c, "price"] * 3
    perturbed.loc[after_c, "on_promotion"] = ~perturbed.loc[after_c, "on_promotion"]
    after = compute_feature_tables(perturbed, cfg, horizon_days=horizon, created_at=CREATED)

    limits = {
        SALES_HISTORY: day(cutoff_day + horizon),
        STORE_SALES: day(cutoff_day + horizon),
        PRICE_PROMO: day(cutoff_day),
        CALENDAR: day(cutoff_day),
    }
    for name, limit in limits.items():
        a = before[name][before[name]["event_timestamp"] <= limit].reset_index(drop=True)
        b = after[name][after[name]["event_timestamp"] <= limit].reset_index(drop=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, obj=name)
    # and the perturbation is visible right after the limit (the test has teeth)
    nxt = day(cutoff_day + horizon + 1)
    a = before[SALES_HISTORY].set_index(["store_id", "item_id", "event_timestamp"])
    b = after[SALES_HISTORY].set_index(["store_id", "item_id", "event_timestamp"])
    sel = a.index.get_level_values("event_timestamp") == nxt
    assert not a[sel].equals(b.loc[a[sel].index])


def test_horizon_defaults_to_the_config():
    sales = tiny_sales()
    a = compute_feature_tables(sales, SMALL, created_at=CREATED)
    b = compute_feature_tables(sales, SMALL, horizon_days=7, created_at=CREATED)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    wide = retail(14, [14], [3])
    t = compute_feature_tables(sales, wide, created_at=CREATED)[SALES_HISTORY]
    i1 = t[t["item_id"] == "I1"]
    assert i1["event_timestamp"].min() == day(14) and i1["event_timestamp"].max() == day(39 + 14)
    assert row(t, 20, item_id="I1")["units_sold_mean_3d"] == pytest.approx(5.0)  # days 4..6


def test_input_order_and_extra_columns_do_not_matter():
    sales = random_sales(seed=5)
    a = compute_feature_tables(sales, SMALL, created_at=CREATED)
    shuffled = sales.sample(frac=1.0, random_state=1).assign(recorded_at=pd.Timestamp("2025-01-01", tz="UTC"))
    b = compute_feature_tables(shuffled, SMALL, created_at=CREATED)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_naive_dates_are_utc():
    sales = tiny_sales()
    naive = sales.assign(date=sales["date"].dt.tz_localize(None))
    a = compute_feature_tables(sales, SMALL, created_at=CREATED)
    b = compute_feature_tables(naive, SMALL, created_at=CREATED)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_rejects_bad_input():
    sales = tiny_sales()
    with pytest.raises(FeatureInputError, match=r"lag\(s\) \[7\] of 'units_sold' are shorter than the forecast horizon \(10 days\)"):
        compute_feature_tables(sales, SMALL, horizon_days=10)
    with pytest.raises(FeatureInputError, match="stockout"):
        compute_feature_tables(sales.drop(columns=["stockout"]), SMALL)
    with pytest.raises(FeatureInputError, match="duplicate"):
        compute_feature_tables(pd.concat([sales, sales.iloc[:1]]), SMALL)
    with pytest.raises(FeatureInputError, match="no observed units_sold"):
        compute_feature_tables(sales.assign(units_sold=np.nan), SMALL)
    with pytest.raises(FeatureInputError, match="store_id"):
        compute_feature_tables(sales.assign(store_id=None), SMALL)
    with pytest.raises(FeatureInputError, match=r"lack column\(s\) \['stockout'\]"):
        compute_feature_tables(sales.drop(columns=["stockout"]), SMALL)
    with pytest.raises(FeatureInputError, match=r"key column 'item_id' has 1 null"):
        compute_feature_tables(sales.assign(item_id=sales["item_id"].where(sales.index != 3)), SMALL)
    with pytest.raises(FeatureInputError, match=r"1 duplicate \(store_id, item_id, date\) row"):
        compute_feature_tables(pd.concat([sales, sales.iloc[:1]]), SMALL)
    with pytest.raises(FeatureInputError, match="empty"):
        compute_feature_tables(sales.iloc[:0], SMALL)
    with pytest.raises(FeatureInputError, match=r"column 'price' is declared float"):
        compute_feature_tables(sales.assign(price="cheap"), SMALL)


def test_retail_declarations_give_the_retail_tables():
    """The YAML names exactly the columns the retail-specific engine wrote."""
    assert feature_columns(load_settings("retail_demand")) == {
        SALES_HISTORY: [
            "units_sold_lag_14d",
            "units_sold_lag_21d",
            "units_sold_lag_28d",
            "units_sold_mean_7d",
            "units_sold_std_7d",
            "units_sold_mean_28d",
            "units_sold_std_28d",
            "stockout_rate_28d",
        ],
        PRICE_PROMO: ["price", "on_promotion", "price_rel_28d", "promo_share_28d"],
        STORE_SALES: ["store_item_units_mean_7d", "store_item_units_mean_28d"],
        CALENDAR: ["day_of_week", "week_of_year", "month", "day_of_year_sin", "day_of_year_cos", "is_holiday", "days_to_next_holiday"],
    }
    tables = compute_feature_tables(random_sales(seed=1), load_settings("retail_demand"), created_at=CREATED)
    dtypes = {name: {c: str(t) for c, t in table.dtypes.items()} for name, table in tables.items()}
    stamps = {"event_timestamp": "datetime64[ns, UTC]", "created_timestamp": "datetime64[ns, UTC]"}
    keys = {"store_id": "object", "item_id": "object"}
    assert dtypes[SALES_HISTORY] == {**keys, **stamps, **dict.fromkeys(list(dtypes[SALES_HISTORY])[4:], "float64")}
    assert dtypes[PRICE_PROMO] == {**keys, **stamps, "price": "float64", "on_promotion": "bool", "price_rel_28d": "float64", "promo_share_28d": "float64"}
    assert dtypes[STORE_SALES] == {"store_id": "object", **stamps, "store_item_units_mean_7d": "float64", "store_item_units_mean_28d": "float64"}
    assert dtypes[CALENDAR] == {
        **stamps,
        "day_of_week": "int64",
        "week_of_year": "int64",
        "month": "int64",
        "day_of_year_sin": "float64",
        "day_of_year_cos": "float64",
        "is_holiday": "bool",
        "days_to_next_holiday": "float64",
    }


# ---------------------------------------------------------------- writing --


def test_write_feature_tables_roundtrip(tmp_path, tiny_tables):
    paths = write_feature_tables(tiny_tables, tmp_path / "data")
    assert set(paths) == set(tiny_tables)
    for name, path in paths.items():
        assert path == tmp_path / "data" / f"{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(path), tiny_tables[name], obj=name)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(f"{n}.parquet" for n in tiny_tables)


def test_write_feature_tables_is_atomic(tmp_path, tiny_tables, monkeypatch):
    data = tmp_path / "data"
    write_feature_tables(tiny_tables, data)
    before = {p.name: p.read_bytes() for p in data.iterdir()}

    real = pd.DataFrame.to_parquet

    def half_then_fail(self, path, *args, **kwargs):
        real(self.head(3), path, *args, **kwargs)  # some bytes hit the temp file
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)
    changed = {k: v.assign(created_timestamp=pd.Timestamp("2030-01-01", tz="UTC")) for k, v in tiny_tables.items()}
    with pytest.raises(OSError, match="disk full"):
        write_feature_tables(changed, data)
    after = {p.name: p.read_bytes() for p in data.iterdir()}
    assert after == before  # old files intact, no temp file left behind
    assert not any(Path(p).name.endswith(".tmp") for p in os.listdir(data))
