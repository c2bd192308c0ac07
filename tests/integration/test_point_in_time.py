"""Feast's point-in-time join (DuckDB offline store) against a brute-force
as-of oracle in plain pandas, on a small fixture with the hard cases:
a value written after the entity timestamp, a correction (same event time,
later created time), duplicate entity rows, entities with nothing inside a
view's TTL, and unknown entities."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway.features import store as fs_lib
from runway.config import PROJECT_ROOT, load_settings
from runway.features.engine import CALENDAR, SALES_HISTORY, compute_feature_tables, lag_name, write_feature_tables
from tests.integration.conftest import tiny_sales

pytestmark = pytest.mark.integration

SERVICE = "retail_demand_v1"
DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
CREATED = pd.Timestamp("2024-06-01", tz="UTC")
LAG = lag_name(load_settings().features.lags_days[0])  # the shortest lag (= horizon)


def day(d: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=d)


def small_sales(days: int = 60, seed: int = 11) -> pd.DataFrame:
    df = tiny_sales(days, seed, ["I000", "I001"], holiday_every=13, holiday_offset=5, day0=DAY0)
    df.loc[df["date"] > day(days - 8), "units_sold"] = np.nan  # plan rows
    return df


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pit")
    repo = tmp / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = load_settings(overrides={"environment": {"workspace": str(tmp / "ws"), "feature_repo": str(repo)}})
    tables = compute_feature_tables(small_sales(), settings.features, created_at=CREATED)

    sh = tables[SALES_HISTORY]
    # (a) a value written after the entity timestamp: stamped day 20 + 12h
    late = sh[(sh["store_id"] == "S000") & (sh["item_id"] == "I000") & (sh["event_timestamp"] == day(20))].copy()
    late["event_timestamp"] = day(20.5)
    late.loc[:, LAG:] = 9999.0
    # a correction: same event time as day 25, written later, must win
    fix = sh[(sh["store_id"] == "S000") & (sh["item_id"] == "I001") & (sh["event_timestamp"] == day(25))].copy()
    fix["created_timestamp"] = CREATED + pd.Timedelta(days=1)
    fix.loc[:, LAG:] = -1.0
    # (c) S001/I001's history stops after day 30 (TTL 14 days)
    stop = (sh["store_id"] == "S001") & (sh["item_id"] == "I001") & (sh["event_timestamp"] > day(30))
    tables[SALES_HISTORY] = pd.concat([sh[~stop], late, fix], ignore_index=True).sample(frac=1.0, random_state=0)
    # the calendar ends on day 55
    cal = tables[CALENDAR]
    tables[CALENDAR] = cal[cal["event_timestamp"] <= day(55)]

    write_feature_tables(tables, repo / "data")
    store = fs_lib.open_store(settings)
    fs_lib.apply(store)
    return settings, store, tables


def oracle(store, tables: dict[str, pd.DataFrame], entity_df: pd.DataFrame) -> pd.DataFrame:
    """For each entity row and view: the source row with the same keys, the
    latest (event_timestamp, created_timestamp) with event_timestamp <= ts
    and event_timestamp >= ts - ttl; else nulls."""
    service = store.get_feature_service(SERVICE)
    out = {}
    for proj in service.feature_view_projections:
        fv = store.get_feature_view(proj.name)
        keys = [k for k in fv.join_keys if k != "__dummy_id"]
        table = tables[proj.name]
        feats = [f.name for f in proj.features]
        cols = {f: [] for f in feats}
        for _, r in entity_df.iterrows():
            ts = r["date"]
            sel = (table["event_timestamp"] <= ts) & (table["event_timestamp"] >= ts - fv.ttl)
            for k in keys:
                sel &= table[k] == r[k]
            cand = table[sel].sort_values(["event_timestamp", "created_timestamp"])
            for f in feats:
                cols[f].append(float(cand[f].iloc[-1]) if len(cand) else np.nan)
        out.update(cols)
    return pd.DataFrame(out, index=entity_df.index)[fs_lib.feature_names(store, SERVICE)]


def assert_matches_oracle(store, tables, entity_df: pd.DataFrame) -> pd.DataFrame:
    got = fs_lib.historical_features(store, entity_df, SERVICE)
    # the caller's frame comes back intact: same rows, order, index, columns
    assert len(got) == len(entity_df)
    assert got.index.equals(entity_df.index)
    pd.testing.assert_frame_equal(got[entity_df.columns], entity_df)
    expected = oracle(store, tables, entity_df)
    pd.testing.assert_frame_equal(got[expected.columns].astype("float64"), expected, check_exact=False, rtol=1e-9)
    return got


def test_random_entity_rows_match_oracle(world):
    _, store, tables = world
    rng = np.random.default_rng(5)
    n = 80
    entity_df = pd.DataFrame(
        {
            "store_id": rng.choice(["S000", "S001"], n),
            "item_id": rng.choice(["I000", "I001"], n),
            # whole days and odd hours, some before any feature row exists
            "date": [day(int(d)) + pd.Timedelta(hours=int(h)) for d, h in zip(rng.integers(0, 70, n), rng.choice([0, 0, 6, 23], n))],
            "tag": np.arange(n),
        },
        index=rng.permutation(np.arange(1000, 1000 + n)),
    )
    got = assert_matches_oracle(store, tables, entity_df)
    assert got[LAG].notna().sum() > 20  # not vacuous
    assert got[LAG].isna().sum() > 0


def test_value_written_after_the_entity_timestamp_does_not_leak(world):
    _, store, tables = world
    entity_df = pd.DataFrame(
        {
            "store_id": ["S000"] * 4 + ["S000"],
            "item_id": ["I000"] * 4 + ["I001"],
            "date": [day(20), day(20) + pd.Timedelta(hours=11, minutes=59), day(20.5), day(20.75), day(25)],
        }
    )
    got = assert_matches_oracle(store, tables, entity_df)
    lag = got[LAG].tolist()
    assert lag[0] != 9999.0 and lag[1] == lag[0]  # not visible before 12:00
    assert lag[2] == 9999.0 and lag[3] == 9999.0  # visible from its timestamp on
    assert lag[4] == -1.0  # the later-written correction wins


def test_duplicate_entity_rows_are_kept(world):
    _, store, tables = world
    base = {"store_id": "S001", "item_id": "I000", "date": day(33)}
    entity_df = pd.DataFrame(
        [base, {**base, "date": day(34)}, base, base, {"store_id": "S000", "item_id": "I000", "date": day(33)}]
    ).assign(tag=["a", "b", "c", "d", "e"])
    got = assert_matches_oracle(store, tables, entity_df)
    assert got["tag"].tolist() == ["a", "b", "c", "d", "e"]
    feats = fs_lib.feature_names(store, SERVICE)
    dup = got.loc[[0, 2, 3], feats]
    assert (dup.nunique(dropna=False) == 1).all()


def test_no_value_inside_ttl_gives_nulls_not_dropped_rows(world):
    _, store, tables = world
    entity_df = pd.DataFrame(
        {
            "store_id": ["S001", "S001", "S001", "S000"],
            "item_id": ["I001", "I001", "I001", "I000"],
            # last S001/I001 history row: day 30; TTL 14 days -> day 44 still served, 45 not
            "date": [day(44), day(45), day(50), day(58)],  # calendar ends on day 55
        }
    )
    got = assert_matches_oracle(store, tables, entity_df)
    assert got.loc[0, "units_sold_mean_7d"] == got.loc[0, "units_sold_mean_7d"]  # not NaN
    assert got.loc[[1, 2], "units_sold_mean_7d"].isna().all()
    assert got.loc[[1, 2], "store_item_units_mean_7d"].notna().all()  # other views still join
    assert got.loc[[1, 2], "price_rel_28d"].notna().all()
    assert pd.isna(got.loc[3, "day_of_week"]) and got.loc[0, "day_of_week"] == day(44).dayofweek


def test_unknown_entities_are_refused_or_null(world):
    _, store, tables = world
    entity_df = pd.DataFrame({"store_id": ["S000", "S999", "S000"], "item_id": ["I000", "I000", "I777"], "date": [day(30)] * 3})
    assert fs_lib.unknown_entities(store, entity_df) == [("S999", "I000"), ("S000", "I777")]
    assert fs_lib.unknown_entities(tables, entity_df) == [("S999", "I000"), ("S000", "I777")]
    with pytest.raises(fs_lib.UnknownEntityError, match=r"store_id=S999, item_id=I000") as err:
        fs_lib.historical_features(store, entity_df, SERVICE)
    assert err.value.entities == [("S999", "I000"), ("S000", "I777")]
    got = fs_lib.historical_features(store, entity_df, SERVICE, allow_unknown_entities=True)
    assert got.loc[1, LAG] != got.loc[1, LAG]
    assert got.loc[1, "store_item_units_mean_7d"] != got.loc[1, "store_item_units_mean_7d"]
    assert got.loc[0, LAG] == got.loc[0, LAG]


def test_naive_and_string_timestamps_are_utc(world):
    _, store, _ = world
    aware = pd.DataFrame({"store_id": ["S000", "S001"], "item_id": ["I000", "I001"], "date": [day(21), day(22)]})
    naive = aware.assign(date=aware["date"].dt.tz_localize(None))
    text = aware.assign(date=aware["date"].dt.strftime("%Y-%m-%d"))
    feats = fs_lib.feature_names(store, SERVICE)
    a = fs_lib.historical_features(store, aware, SERVICE)[feats]
    for other in (naive, text):
        pd.testing.assert_frame_equal(fs_lib.historical_features(store, other, SERVICE)[feats], a)


def test_empty_entity_frame(world):
    _, store, _ = world
    empty = pd.DataFrame({"store_id": pd.Series(dtype=str), "item_id": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns, UTC]")})
    got = fs_lib.historical_features(store, empty, SERVICE)
    assert len(got) == 0 and list(got.columns) == [*empty.columns, *fs_lib.feature_names(store, SERVICE)]


def test_ttls_are_what_the_oracle_assumes(world):
    _, store, _ = world
    ttl = {fv.name: fv.ttl for fv in store.list_feature_views()}
    assert ttl == {
        "sales_history": timedelta(days=14),
        "price_promo": timedelta(days=7),
        "store_sales": timedelta(days=14),
        "calendar": timedelta(hours=23, minutes=59, seconds=59),
    }
    assert Path(store.get_feature_view("sales_history").batch_source.path).is_absolute()
