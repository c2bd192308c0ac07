"""Runway's ASOF offline store (``runway.features.offline_store``) against a
brute-force as-of oracle and against Feast's own DuckDB offline store, on a
temporary Feast repo built in code.

The fixture holds the hard cases on purpose: corrections (same event time,
later created time), rows exactly at the TTL boundary and just past it,
values written after the entity timestamp, entities that never occur in a
source, duplicate entity rows, a renamed source column (field mapping), null
feature values and a view without entities (joined on the timestamp only).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
TTL = {"sales": timedelta(days=7), "item_stats": timedelta(days=3), "calendar": timedelta(days=2)}
KEYS = {"sales": ["store_id", "item_id"], "item_stats": ["item_id"], "calendar": []}
FEATURES = {"sales": ["units", "price", "qty"], "item_stats": ["sold", "rank"], "calendar": ["holiday", "temp"]}
CREATED = {"sales": "created_timestamp", "item_stats": None, "calendar": None}
SERVICE = "asof_test_v1"
STORES = ["S0", "S1", "S2", "S3"]
ITEMS = ["I0", "I1", "I2", "I3", "I4"]


def day(d: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=d)


# ------------------------------------------------------------------ data ---


def make_sources(seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    # sales: (store, item) series at random hours over 40 days, S3/I4 kept apart.
    n = 700
    pairs = [(s, i) for s in STORES for i in ITEMS if (s, i) != ("S3", "I4")]
    pick = rng.integers(0, len(pairs), n)
    hours = rng.choice(40 * 24, n, replace=True)
    sales = pd.DataFrame(
        {
            "store_id": [pairs[p][0] for p in pick],
            "item_id": [pairs[p][1] for p in pick],
            "event_timestamp": DAY0 + pd.to_timedelta(hours, unit="h"),
        }
    )
    # unique created times, a few hours after the event
    sales["created_timestamp"] = sales["event_timestamp"] + pd.to_timedelta(rng.integers(1, 5, n), unit="h") + pd.to_timedelta(np.arange(n), unit="s")
    sales["units_raw"] = rng.normal(10, 3, n).round(3)
    sales.loc[rng.random(n) < 0.05, "units_raw"] = np.nan
    sales["price"] = rng.uniform(1, 5, n).round(2)
    sales["qty"] = pd.array(rng.integers(0, 50, n), dtype="Int64")
    sales.loc[rng.random(n) < 0.05, "qty"] = pd.NA
    # corrections: same key and event time, written a day later, other values
    fix = sales.sample(25, random_state=seed).copy()
    fix["created_timestamp"] += pd.Timedelta(days=1)
    fix["units_raw"] = -fix["units_raw"].fillna(1.0)
    fix["price"] = -fix["price"]
    fix["qty"] = pd.array(np.full(len(fix), 999), dtype="Int64")
    # a correction written *before* the original (older created time): loses
    old = sales.sample(10, random_state=seed + 1).copy()
    old["created_timestamp"] -= pd.Timedelta(days=30)
    old["price"] = 12345.0
    # S3/I4: one row on day 10 (TTL boundary cases on day 17)
    lone = pd.DataFrame(
        {
            "store_id": ["S3"],
            "item_id": ["I4"],
            "event_timestamp": [day(10)],
            "created_timestamp": [day(10.5)],
            "units_raw": [42.0],
            "price": [4.2],
            "qty": pd.array([42], dtype="Int64"),
        }
    )
    sales = pd.concat([sales, fix, old, lone], ignore_index=True).sample(frac=1.0, random_state=1).reset_index(drop=True)

    # item_stats: unique event times per item (no created column: no ties)
    rows = []
    for item in ITEMS:
        for h in np.sort(rng.choice(40 * 24, 60, replace=False)):
            rows.append((item, DAY0 + pd.Timedelta(hours=int(h))))
    item_stats = pd.DataFrame(rows, columns=["item_id", "event_timestamp"])
    m = len(item_stats)
    item_stats["sold"] = rng.normal(100, 20, m).round(1)
    item_stats.loc[rng.random(m) < 0.05, "sold"] = np.nan
    item_stats["rank"] = rng.integers(1, 6, m).astype("int64")
    item_stats = item_stats.sample(frac=1.0, random_state=2).reset_index(drop=True)

    # calendar: daily, no entities, a gap (days 20-25) longer than its TTL
    days = [d for d in range(36) if not 20 <= d <= 25]
    calendar = pd.DataFrame(
        {
            "event_timestamp": [day(d) for d in days],
            "holiday": np.array([int(d % 7 == 0) for d in days], dtype="int64"),
            "temp": rng.normal(15, 5, len(days)).round(2),
        }
    )
    return {"sales": sales, "item_stats": item_stats, "calendar": calendar}


def make_entities(sources: dict[str, pd.DataFrame], seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    stores = np.array([*STORES, "S9"])  # S9: never in any source
    ent = pd.DataFrame(
        {
            "store_id": stores[rng.choice(len(stores), n, p=[0.24, 0.24, 0.24, 0.23, 0.05])],
            "item_id": np.array(ITEMS)[rng.integers(0, len(ITEMS), n)],
            "event_timestamp": DAY0 + pd.to_timedelta(rng.integers(-2 * 24 * 60, 46 * 24 * 60, n), unit="min"),
        }
    )
    sales = sources["sales"]
    # exactly at a source row's event time (inclusive) and at its created time
    at = sales.sample(30, random_state=seed)[["store_id", "item_id", "event_timestamp"]]
    # exactly at the TTL boundary of some rows, and one microsecond past it
    edge = sales.sample(30, random_state=seed + 1)[["store_id", "item_id", "event_timestamp"]].copy()
    edge["event_timestamp"] += TTL["sales"]
    past = edge.copy()
    past["event_timestamp"] += pd.Timedelta(microseconds=1)
    lone = pd.DataFrame(
        {
            "store_id": ["S3"] * 4,
            "item_id": ["I4"] * 4,
            "event_timestamp": [day(9), day(10), day(17), day(17) + pd.Timedelta(microseconds=1)],
        }
    )
    ent = pd.concat([ent, at, edge, past, lone], ignore_index=True)
    dups = ent.sample(40, random_state=seed + 2)  # duplicate entity rows
    ent = pd.concat([ent, dups], ignore_index=True).sample(frac=1.0, random_state=4).reset_index(drop=True)
    ent["event_timestamp"] = ent["event_timestamp"].astype("datetime64[ns, UTC]")
    ent["row_id"] = np.arange(len(ent), dtype="int64")
    return ent


# ---------------------------------------------------------------- oracle ---


def oracle(sources: dict[str, pd.DataFrame], entities: pd.DataFrame, views: list[str], prefix: bool = False) -> pd.DataFrame:
    """Brute force: per entity row and view, the source row with equal keys,
    event_timestamp <= ts and >= ts - ttl, latest (event, created) time."""
    out: dict[str, list] = {}
    for view in views:
        src = sources[view].rename(columns={"units_raw": "units"})
        created = CREATED[view]
        cols = {f: (f"{view}__{f}" if prefix else f) for f in FEATURES[view]}
        for c in cols.values():
            out[c] = []
        for _, row in entities.iterrows():
            ts = row["event_timestamp"]
            sel = (src["event_timestamp"] <= ts) & (src["event_timestamp"] >= ts - TTL[view])
            for k in KEYS[view]:
                sel &= src[k] == row[k]
            cand = src[sel]
            if cand.empty:
                for c in cols.values():
                    out[c].append(np.nan)
                continue
            order = ["event_timestamp"] + ([created] if created else [])
            best = cand.sort_values(order).iloc[-1]
            if created:  # the fixture has no full ties
                tied = cand[(cand["event_timestamp"] == best["event_timestamp"]) & (cand[created] == best[created])]
                assert len(tied) == 1
            else:
                assert (cand["event_timestamp"] == best["event_timestamp"]).sum() == 1
            for f, c in cols.items():
                v = best[f]
                out[c].append(np.nan if pd.isna(v) else float(v))
    return pd.DataFrame(out, index=entities.index)


def as_float(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.astype("object").where(s.notna(), np.nan), errors="raise").astype("float64").to_numpy()


def assert_cells_equal(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    assert len(actual) == len(expected)
    for c in columns:
        a, e = as_float(actual[c]), as_float(expected[c])
        bad = ~((a == e) | (np.isnan(a) & np.isnan(e)))
        assert not bad.any(), (
            f"column {c}: {int(bad.sum())} cells differ, first rows {np.flatnonzero(bad)[:5].tolist()}: got {a[bad][:5]}, expected {e[bad][:5]}"
        )


# ----------------------------------------------------------------- world ---


def _feast_objects(data_dir):
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    store = Entity(name="store", join_keys=["store_id"], value_type=ValueType.STRING)
    item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING)
    sales = FeatureView(
        name="sales",
        entities=[store, item],
        ttl=TTL["sales"],
        schema=[Field(name="units", dtype=Float64), Field(name="price", dtype=Float64), Field(name="qty", dtype=Int64)],
        source=FileSource(
            name="sales_source",
            path=str(data_dir / "sales.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
            field_mapping={"units_raw": "units"},
        ),
        online=True,
    )
    item_stats = FeatureView(
        name="item_stats",
        entities=[item],
        ttl=TTL["item_stats"],
        schema=[Field(name="sold", dtype=Float64), Field(name="rank", dtype=Int64)],
        source=FileSource(name="item_stats_source", path=str(data_dir / "item_stats.parquet"), timestamp_field="event_timestamp"),
        online=True,
    )
    calendar = FeatureView(
        name="calendar",
        entities=[],
        ttl=TTL["calendar"],
        schema=[Field(name="holiday", dtype=Int64), Field(name="temp", dtype=Float64)],
        source=FileSource(name="calendar_source", path=str(data_dir / "calendar.parquet"), timestamp_field="event_timestamp"),
        online=False,
    )
    service = FeatureService(name=SERVICE, features=[sales, item_stats, calendar])
    subset = FeatureService(name="asof_subset_v1", features=[sales[["price"]], calendar[["temp"]]])
    return [store, item, sales, item_stats, calendar, service, subset]


def _open(tmp, kind: str):
    from feast import FeatureStore, RepoConfig

    from runway.features.offline_store import offline_store_config

    config = RepoConfig(
        project="asof_test",
        provider="local",
        registry={"registry_type": "file", "path": str(tmp / f"registry_{kind}.db"), "cache_ttl_seconds": 60},
        offline_store=offline_store_config(kind),
        online_store={"type": "sqlite", "path": str(tmp / f"online_{kind}.db")},
        entity_key_serialization_version=3,
        repo_path=tmp,
    )
    store = FeatureStore(config=config)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply(_feast_objects(tmp / "data"))
    return store


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asof")
    (tmp / "data").mkdir()
    sources = make_sources()
    for name, frame in sources.items():
        frame.to_parquet(tmp / "data" / f"{name}.parquet", index=False)
    entities = make_entities(sources)
    return {
        "tmp": tmp,
        "sources": sources,
        "entities": entities,
        "asof": _open(tmp, "runway_asof"),
        "duckdb": _open(tmp, "duckdb"),
        "expected": oracle(sources, entities, ["sales", "item_stats", "calendar"]),
    }


def retrieve(store, entity_df, features, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        job = store.get_historical_features(entity_df=entity_df, features=features, **kwargs)
        return job, job.to_df()


ALL = [f for v in ("sales", "item_stats", "calendar") for f in FEATURES[v]]


# ----------------------------------------------------------------- tests ---


def test_config_dict_and_class_path():
    from feast.repo_config import RepoConfig

    from runway.features.offline_store import (
        RunwayAsofOfflineStore,
        RunwayAsofOfflineStoreConfig,
        offline_store_config,
    )

    assert offline_store_config("duckdb") == {"type": "duckdb"}
    assert offline_store_config("runway_asof") == {"type": "runway.features.offline_store.RunwayAsofOfflineStore"}
    with pytest.raises(ValueError, match="unknown offline store kind"):
        offline_store_config("dask")
    cfg = RepoConfig(
        project="p", provider="local", registry="/tmp/unused.db", offline_store=offline_store_config("runway_asof"), entity_key_serialization_version=3
    )
    assert isinstance(cfg.offline_store, RunwayAsofOfflineStoreConfig)
    from feast.infra.offline_stores.offline_utils import get_offline_store_from_config

    assert isinstance(get_offline_store_from_config(cfg.offline_store), RunwayAsofOfflineStore)


def test_fixture_has_the_hard_cases(world):
    """The oracle's answers include what the other tests claim to cover."""
    ent, exp = world["entities"], world["expected"]
    assert ent.duplicated(["store_id", "item_id", "event_timestamp"]).sum() >= 40
    assert exp.loc[ent["store_id"] == "S9", "units"].isna().all() and (ent["store_id"] == "S9").sum() >= 10
    # TTL: S3/I4 has one row (day 10): day 9 -> none, day 10 and day 17 (exact boundary) -> it, 1 us later -> expired
    lone = ent[(ent["store_id"] == "S3") & (ent["item_id"] == "I4")].set_index("event_timestamp")
    got = exp.loc[lone["row_id"].to_numpy(), "units"].set_axis(lone.index)
    assert np.isnan(got[day(9)]).all() if np.ndim(got[day(9)]) else np.isnan(got[day(9)])
    assert (np.atleast_1d(got[day(10)]) == 42.0).all() and (np.atleast_1d(got[day(17)]) == 42.0).all()
    assert np.isnan(np.atleast_1d(got[day(17) + pd.Timedelta(microseconds=1)])).all()
    # corrections win: some entity rows get a negated price
    assert (exp["price"] < 0).sum() >= 5 and not (exp["price"] == 12345.0).any()
    # calendar gap expires, nulls for keyed views without values inside TTL
    assert exp["temp"].isna().sum() > 0 and exp["temp"].notna().sum() > 0
    assert exp["sold"].isna().sum() > 0 and exp["units"].isna().sum() > 0


def test_plugin_matches_oracle_and_keeps_rows_in_order(world):
    from runway.features.offline_store import RunwayAsofRetrievalJob

    store, ent = world["asof"], world["entities"]
    job, df = retrieve(store, ent, store.get_feature_service(SERVICE))
    assert isinstance(job, RunwayAsofRetrievalJob)
    assert list(df.columns) == [*ent.columns, *ALL]
    assert len(df) == len(ent)
    assert (df["row_id"].to_numpy() == ent["row_id"].to_numpy()).all()  # same order, duplicates kept
    assert (df["store_id"].to_numpy() == ent["store_id"].to_numpy()).all()
    assert (df["event_timestamp"] == ent["event_timestamp"]).all()
    assert_cells_equal(df, world["expected"], ALL)


def test_few_distinct_timestamps_join_distinct_pairs_and_match_oracle(world, caplog):
    """A batch scored at a few timestamps (many entity rows per key tuple and
    timestamp): the store joins only the distinct (key tuple, timestamp)
    pairs and hands them back to every row; the cells are the oracle's, at
    the TTL edges too, and rows with a null key get nulls."""
    import logging

    base = world["entities"]
    stamps = [day(10), day(17), day(17) + pd.Timedelta(microseconds=1), day(30.25)]
    rng = np.random.default_rng(11)
    ent = base[["store_id", "item_id"]].iloc[rng.integers(0, len(base), 600)].reset_index(drop=True)
    ent["event_timestamp"] = pd.Series(stamps, dtype="datetime64[ns, UTC]").iloc[rng.integers(0, len(stamps), len(ent))].to_numpy()
    ent.loc[[3, 50], "store_id"] = None  # a null key matches no source row
    ent.loc[len(ent)] = ["S3", "I4", day(17)]
    ent["row_id"] = np.arange(len(ent), dtype="int64")
    with caplog.at_level(logging.DEBUG, logger="runway.features.offline_store"):
        _, df = retrieve(world["asof"], ent, world["asof"].get_feature_service(SERVICE))
    paths = {r.getMessage() for r in caplog.records if r.getMessage().startswith("view ")}
    assert paths == {f"view {v}: ASOF join on the distinct (key, timestamp) pairs" for v in ("sales", "item_stats", "calendar")}
    assert (df["row_id"].to_numpy() == ent["row_id"].to_numpy()).all()
    assert_cells_equal(df, oracle(world["sources"], ent, ["sales", "item_stats", "calendar"]), ALL)
    assert df.loc[[3, 50], "units"].isna().all() and df["units"].iloc[-1] == 42.0


def test_to_arrow_equals_to_df(world):
    store, ent = world["asof"], world["entities"]
    job, df = retrieve(store, ent, store.get_feature_service(SERVICE))
    table = job.to_arrow()
    assert table.column_names == list(df.columns)
    adf = table.to_pandas()
    assert_cells_equal(adf, df, ALL)
    assert (adf["row_id"].to_numpy() == df["row_id"].to_numpy()).all()


def test_agrees_with_feast_duckdb_store(world):
    ent = world["entities"]
    _, ours = retrieve(world["asof"], ent, world["asof"].get_feature_service(SERVICE))
    job, theirs = retrieve(world["duckdb"], ent, world["duckdb"].get_feature_service(SERVICE))
    assert type(job).__name__ == "IbisRetrievalJob"
    assert len(theirs) == len(ent)
    theirs = theirs.sort_values("row_id", kind="stable").reset_index(drop=True)
    assert list(theirs.columns) == list(ours.columns)
    assert_cells_equal(ours, theirs, ALL)
    assert_cells_equal(theirs, world["expected"], ALL)  # and the oracle describes Feast's semantics


def test_full_feature_names_and_projection(world):
    store, ent = world["asof"], world["entities"]
    _, df = retrieve(store, ent, store.get_feature_service("asof_subset_v1"), full_feature_names=True)
    assert list(df.columns) == [*ent.columns, "sales__price", "calendar__temp"]
    exp = oracle(world["sources"], ent, ["sales", "calendar"], prefix=True)
    assert_cells_equal(df, exp, ["sales__price", "calendar__temp"])
    _, theirs = retrieve(world["duckdb"], ent, world["duckdb"].get_feature_service("asof_subset_v1"), full_feature_names=True)
    assert_cells_equal(df, theirs.sort_values("row_id").reset_index(drop=True), ["sales__price", "calendar__temp"])


def test_string_feature_refs_in_request_order(world):
    store, ent = world["asof"], world["entities"]
    _, df = retrieve(store, ent, ["item_stats:rank", "sales:qty"])
    # Feast groups the refs by view in request order of the views.
    assert set(df.columns) - set(ent.columns) == {"rank", "qty"}
    assert_cells_equal(df, world["expected"], ["rank", "qty"])


def test_entityless_view_alone(world):
    store, ent = world["asof"], world["entities"]
    cal_ent = ent[["event_timestamp", "row_id"]]
    _, df = retrieve(store, cal_ent, ["calendar:holiday", "calendar:temp"])
    assert list(df.columns) == ["event_timestamp", "row_id", "holiday", "temp"]
    assert_cells_equal(df, world["expected"], ["holiday", "temp"])
    _, theirs = retrieve(world["duckdb"], cal_ent, ["calendar:holiday", "calendar:temp"])
    assert_cells_equal(df, theirs.sort_values("row_id").reset_index(drop=True), ["holiday", "temp"])


def test_naive_and_string_timestamps_are_utc(world):
    store, ent = world["asof"], world["entities"]
    naive = ent.assign(event_timestamp=ent["event_timestamp"].dt.tz_localize(None))
    _, df = retrieve(store, naive, store.get_feature_service(SERVICE))
    assert_cells_equal(df, world["expected"], ALL)
    from runway.features.offline_store import RunwayAsofOfflineStore

    text = ent.assign(event_timestamp=ent["event_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"))
    fvs = [store.get_feature_view(v) for v in ("sales", "item_stats", "calendar")]
    refs = [f"{v}:{f}" for v in ("sales", "item_stats", "calendar") for f in FEATURES[v]]
    job = RunwayAsofOfflineStore.get_historical_features(store.config, fvs, refs, text, store.registry, store.project)
    assert_cells_equal(job.to_df(), world["expected"], ALL)
    assert text["event_timestamp"].dtype == object  # the caller's frame is not modified


def test_empty_entity_frame(world):
    store, ent = world["asof"], world["entities"]
    _, df = retrieve(store, ent.iloc[:0], store.get_feature_service(SERVICE))
    assert len(df) == 0 and list(df.columns) == [*ent.columns, *ALL]


def test_delegates_created_timestamp_filter_to_duckdb_store(world):
    store, ent = world["asof"], world["entities"]
    job, df = retrieve(store, ent, ["sales:price"], filter_by_created_timestamp=True)
    assert type(job).__name__ == "IbisRetrievalJob"
    _, theirs = retrieve(world["duckdb"], ent, ["sales:price"], filter_by_created_timestamp=True)
    key = ["row_id"]
    assert_cells_equal(df.sort_values(key).reset_index(drop=True), theirs.sort_values(key).reset_index(drop=True), ["price"])


def test_materialize_and_online_read_use_the_duckdb_methods(world):
    store = world["asof"]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.materialize(start_date=day(-1).to_pydatetime(), end_date=day(41).to_pydatetime(), feature_views=["sales", "item_stats"])
        online = store.get_online_features(
            features=["sales:price", "item_stats:sold"], entity_rows=[{"store_id": "S3", "item_id": "I4"}, {"store_id": "S0", "item_id": "I1"}]
        ).to_dict()
    sales = world["sources"]["sales"]
    s0 = sales[(sales["store_id"] == "S0") & (sales["item_id"] == "I1")].sort_values(["event_timestamp", "created_timestamp"])
    assert online["price"] == [4.2, s0["price"].iloc[-1]]
    items = world["sources"]["item_stats"]
    latest = items[items["item_id"] == "I4"].sort_values("event_timestamp")["sold"].iloc[-1]
    assert online["sold"][0] == (None if np.isnan(latest) else latest)


def test_offline_reads_are_delegated(world):
    """pull_all_from_table_or_query (used by saved datasets, monitoring) is
    the DuckDB store's."""
    store = world["asof"]
    provider = store._get_provider()
    fv = store.get_feature_view("item_stats")
    job = provider.offline_store.pull_all_from_table_or_query(
        config=store.config,
        data_source=fv.batch_source,
        join_key_columns=["item_id"],
        feature_name_columns=["sold"],
        timestamp_field="event_timestamp",
        start_date=day(0).to_pydatetime(),
        end_date=day(50).to_pydatetime(),
    )
    assert len(job.to_df()) == len(world["sources"]["item_stats"])


def test_saved_dataset_persists_the_plugin_result(world):
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    store, ent = world["asof"], world["entities"]
    job = store.get_historical_features(entity_df=ent, features=["sales:price", "calendar:temp"])
    path = world["tmp"] / "saved.parquet"
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.create_saved_dataset(from_=job, name="asof_saved", storage=SavedDatasetFileStorage(path=str(path)))
    back = pd.read_parquet(path).sort_values("row_id").reset_index(drop=True)
    assert len(back) == len(ent)
    assert_cells_equal(back, world["expected"], ["price", "temp"])


def test_rows_follow_the_entity_frame_not_its_index(world):
    store, ent = world["asof"], world["entities"]
    shuffled = ent.sample(frac=1.0, random_state=9)  # index no longer 0..n-1
    _, df = retrieve(store, shuffled, store.get_feature_service(SERVICE))
    assert isinstance(df.index, pd.RangeIndex) and len(df) == len(shuffled)
    assert (df["row_id"].to_numpy() == shuffled["row_id"].to_numpy()).all()
    expected = world["expected"].loc[shuffled.index].reset_index(drop=True)
    assert_cells_equal(df, expected, ALL)
