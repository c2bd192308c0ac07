"""Feast's point-in-time join (offline store) against a brute-force as-of
oracle in plain pandas, for every use case in configs/use_cases/, on a small
synthetic frame built from the use case's contract (no simulator) with the
hard cases: a value written after the entity timestamp, a correction (same
event time, later created time), duplicate entity rows, entities with
nothing inside a view's TTL, a view without entities that ends early, and
unknown entities."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway.config import PROJECT_ROOT, ConfigError, Settings, list_names, load_settings
from runway.features import store as fs_lib
from runway.features.definitions import ttl
from runway.features.engine import compute_feature_tables, write_feature_tables
from runway.features.naming import feature_dtypes, feature_names, view_join_keys

pytestmark = pytest.mark.integration

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
CREATED = pd.Timestamp("2024-06-01", tz="UTC")


def day(d: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=d)


# ---------------------------------------------------------- synthetic rows --


def key_values(settings: Settings, key: str, n: int) -> list:
    """``n`` values of a key column: ``S000, S001`` for store_id, ``100, 101`` for an int key."""
    if settings.contract.columns[key].dtype == "int":
        return [100 + i for i in range(n)]
    return [f"{key[0].upper()}{i:03d}" for i in range(n)]


def synthetic_rows(settings: Settings, days: int = 60, seed: int = 11, per_key: int | None = None, future_days: int = 8) -> pd.DataFrame:
    """A small daily frame that satisfies the use case's contract: every
    entity key x day, values drawn within each column's bounds (string
    columns from ``allowed`` or the one-hot categories), the target unknown on
    the last ``future_days`` days (rows to score)."""
    rng = np.random.default_rng(seed)
    c = settings.contract
    entity_keys = settings.entity_keys
    per_key = per_key or (2 if len(entity_keys) > 1 else 3)
    levels = {k: key_values(settings, k, per_key if k in entity_keys else 1) for k in c.keys if k != c.timestamp}
    idx = pd.MultiIndex.from_product([*levels.values(), range(days)], names=[*levels, "__d"]).to_frame(index=False)
    n = len(idx)
    df = pd.DataFrame({k: idx[k].to_numpy() for k in levels})
    df[c.timestamp] = DAY0 + pd.to_timedelta(idx["__d"].to_numpy(), unit="D")
    categories = {spec.column: spec.categories for v in settings.features.views for spec in v.features if spec.transform == "one_hot"}
    for col, rule in c.columns.items():
        if col in df.columns:
            continue
        lo = rule.min if rule.min is not None else 0.0
        hi = rule.max if rule.max is not None else lo + 20.0
        hi = min(hi, lo + 20.0)
        if rule.dtype == "float":
            df[col] = rng.uniform(max(lo, 0.01) if lo >= 0 else lo, hi, n).round(2)
        elif rule.dtype == "int":
            df[col] = rng.integers(int(np.ceil(lo)), int(hi) + 1, n)
        elif rule.dtype == "bool":
            df[col] = rng.random(n) < 0.15
        elif rule.dtype == "string":
            df[col] = rng.choice(rule.allowed or categories.get(col) or ["a", "b"], n)
        else:
            df[col] = df[c.timestamp]
    target = settings.target
    df[target] = df[target].astype("float64") if c.columns[target].dtype != "bool" else df[target].astype(object)
    df.loc[idx["__d"].to_numpy() >= days - future_days, target] = np.nan
    return df


# ------------------------------------------------------------------ world --


@dataclass
class World:
    settings: Settings
    store: object
    tables: dict[str, pd.DataFrame]
    service: str
    ts: str  # the entity frame's timestamp column
    keys: list[str]  # every join key the service needs
    probe_view: str  # a keyed view with the hard cases planted
    probe: str  # its first served float feature
    probe_keys: list[str]
    entities: list[tuple]  # the probe view's entities, sorted
    late_at: pd.Timestamp
    fix_at: pd.Timestamp
    stop_at: pd.Timestamp
    cut_at: pd.Timestamp | None  # last row of the views without entities


def _settings_or_skip(use_case: str, tmp: Path, repo: Path) -> Settings:
    try:
        return load_settings(use_case, "local", overrides={"environment": {"workspace": str(tmp / "ws"), "feature_repo": str(repo)}})
    except ConfigError as exc:
        pytest.skip(f"configs/use_cases/{use_case}.yaml does not load: {exc}")


@pytest.fixture(scope="module", params=list_names("use_cases"))
def world(request, tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp(f"pit_{request.param}")
    repo = tmp / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = _settings_or_skip(request.param, tmp, repo)
    tables = compute_feature_tables(synthetic_rows(settings), settings, created_at=CREATED)

    views = {v.name: v for v in settings.features.views}
    served = [v for v in settings.features.views if view_join_keys(settings, v) and feature_names(v, served_only=True)]
    probe_view = served[0]
    dtypes = feature_dtypes(settings, probe_view)
    floats = [f for f in feature_names(probe_view, served_only=True) if dtypes[f] == "float64"]
    pkeys = view_join_keys(settings, probe_view)
    t = tables[probe_view.name]
    entities = sorted(set(t[pkeys].itertuples(index=False, name=None)))
    assert len(entities) >= 3

    def rows_of(entity: tuple) -> pd.Series:
        sel = np.ones(len(t), dtype=bool)
        for k, v in zip(pkeys, entity, strict=False):
            sel &= (t[k] == v).to_numpy()
        return sel

    def stamp(entity: tuple, share: float) -> pd.Timestamp:
        ts = np.sort(t.loc[rows_of(entity), "event_timestamp"].unique())
        return pd.Timestamp(ts[int(len(ts) * share)])

    # (a) a value written after the entity timestamp: stamped t + 12h
    late_at = stamp(entities[0], 0.4)
    late = t[rows_of(entities[0]) & (t["event_timestamp"] == late_at).to_numpy()].copy()
    late["event_timestamp"] = late_at + pd.Timedelta(hours=12)
    late[floats] = 9999.0
    # a correction: same event time, written later, must win
    fix_at = stamp(entities[1], 0.5)
    fix = t[rows_of(entities[1]) & (t["event_timestamp"] == fix_at).to_numpy()].copy()
    fix["created_timestamp"] = CREATED + pd.Timedelta(days=1)
    fix[floats] = -1.0
    # (c) the last entity's rows stop half-way
    stop_at = stamp(entities[-1], 0.5)
    stop = rows_of(entities[-1]) & (t["event_timestamp"] > stop_at).to_numpy()
    tables[probe_view.name] = pd.concat([t[~stop], late, fix], ignore_index=True).sample(frac=1.0, random_state=0)
    # views without entities end 5 days early
    cut_at = None
    for name, v in views.items():
        if not v.entities:
            cal = tables[name]
            cut_at = cal["event_timestamp"].max() - pd.Timedelta(days=5)
            tables[name] = cal[cal["event_timestamp"] <= cut_at]

    write_feature_tables(tables, fs_lib.feature_data_dir(settings))
    store = fs_lib.open_store(settings)
    fs_lib.apply(store, settings)
    service = settings.features.service_name
    return World(
        settings,
        store,
        tables,
        service,
        settings.timestamp,
        fs_lib.entity_keys(store, service),
        probe_view.name,
        floats[0],
        pkeys,
        entities,
        late_at,
        fix_at,
        stop_at,
        cut_at,
    )


def entity_frame(w: World, entities: list[tuple], stamps: list[pd.Timestamp], **extra) -> pd.DataFrame:
    """Entity rows for the probe view's entities (keys of the service's other
    views, if any, take their first known value)."""
    fill = {k: known_values(w, k)[0] for k in w.keys if k not in w.probe_keys}
    cols = {k: [dict(zip(w.probe_keys, e, strict=False)).get(k, fill.get(k)) for e in entities] for k in w.keys}
    return pd.DataFrame({**cols, w.ts: stamps, **extra})


def known_values(w: World, key: str) -> list:
    return sorted({v for t in w.tables.values() if key in t.columns for v in t[key]})


# ---------------------------------------------------------------- oracle --


def oracle(w: World, entity_df: pd.DataFrame) -> pd.DataFrame:
    """For each entity row and view: the source row with the same keys, the
    latest (event_timestamp, created_timestamp) with event_timestamp <= ts
    and event_timestamp >= ts - ttl; else nulls."""
    service = w.store.get_feature_service(w.service)
    out = {}
    for proj in service.feature_view_projections:
        fv = w.store.get_feature_view(proj.name)
        keys = [k for k in fv.join_keys if k != "__dummy_id"]
        table = w.tables[proj.name]
        feats = [f.name for f in proj.features]
        cols = {f: [] for f in feats}
        for _, r in entity_df.iterrows():
            ts = pd.Timestamp(r[w.ts])
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
            sel = (table["event_timestamp"] <= ts) & (table["event_timestamp"] >= ts - fv.ttl)
            for k in keys:
                sel &= table[k] == r[k]
            cand = table[sel].sort_values(["event_timestamp", "created_timestamp"])
            for f in feats:
                cols[f].append(float(cand[f].iloc[-1]) if len(cand) else np.nan)
        out.update(cols)
    return pd.DataFrame(out, index=entity_df.index)[fs_lib.feature_names(w.store, w.service)]


def assert_matches_oracle(w: World, entity_df: pd.DataFrame) -> pd.DataFrame:
    got = fs_lib.historical_features(w.store, entity_df, w.service, timestamp_column=w.ts)
    # the caller's frame comes back intact: same rows, order, index, columns
    assert len(got) == len(entity_df)
    assert got.index.equals(entity_df.index)
    pd.testing.assert_frame_equal(got[entity_df.columns], entity_df)
    expected = oracle(w, entity_df)
    pd.testing.assert_frame_equal(got[expected.columns].astype("float64"), expected, check_exact=False, rtol=1e-9)
    return got


# ------------------------------------------------------------------ tests --


def test_random_entity_rows_match_oracle(world):
    w = world
    rng = np.random.default_rng(5)
    n = 80
    lo = min(t["event_timestamp"].min() for t in w.tables.values()) - pd.Timedelta(days=5)
    hi = max(t["event_timestamp"].max() for t in w.tables.values()) + pd.Timedelta(days=10)
    span = (hi - lo).days
    entity_df = pd.DataFrame(
        {
            **{k: rng.choice(known_values(w, k), n) for k in w.keys},
            # whole days and odd hours, some before any feature row exists
            w.ts: [
                lo.normalize() + pd.Timedelta(days=int(d), hours=int(h)) for d, h in zip(rng.integers(0, span, n), rng.choice([0, 0, 6, 23], n), strict=True)
            ],
            "tag": np.arange(n),
        },
        index=rng.permutation(np.arange(1000, 1000 + n)),
    )
    got = assert_matches_oracle(w, entity_df)
    assert got[w.probe].notna().sum() > 20  # not vacuous
    assert got[w.probe].isna().sum() > 0


def test_value_written_after_the_entity_timestamp_does_not_leak(world):
    w = world
    e0, e1 = w.entities[0], w.entities[1]
    stamps = [w.late_at, w.late_at + pd.Timedelta(hours=11, minutes=59), w.late_at + pd.Timedelta(hours=12), w.late_at + pd.Timedelta(hours=18), w.fix_at]
    entity_df = entity_frame(w, [e0] * 4 + [e1], stamps)
    got = assert_matches_oracle(w, entity_df)
    probe = got[w.probe].tolist()
    assert probe[0] != 9999.0 and probe[1] == probe[0]  # not visible before 12:00
    assert probe[2] == 9999.0 and probe[3] == 9999.0  # visible from its timestamp on
    assert probe[4] == -1.0  # the later-written correction wins


def test_duplicate_entity_rows_are_kept(world):
    w = world
    e = w.entities[1]
    t0 = w.fix_at + pd.Timedelta(days=3)
    entity_df = entity_frame(w, [e, e, e, e, w.entities[0]], [t0, t0 + pd.Timedelta(days=1), t0, t0, t0], tag=["a", "b", "c", "d", "e"])
    got = assert_matches_oracle(w, entity_df)
    assert got["tag"].tolist() == ["a", "b", "c", "d", "e"]
    feats = fs_lib.feature_names(w.store, w.service)
    dup = got.loc[[0, 2, 3], feats]
    assert (dup.nunique(dropna=False) == 1).all()


def test_no_value_inside_ttl_gives_nulls_not_dropped_rows(world):
    w = world
    view_ttl = w.store.get_feature_view(w.probe_view).ttl
    last = w.entities[-1]
    # the last entity's last row: stop_at; still served at stop_at + ttl, not after
    stamps = [w.stop_at + view_ttl, w.stop_at + view_ttl + pd.Timedelta(days=1), w.stop_at + view_ttl + pd.Timedelta(days=6)]
    entities = [last] * 3
    if w.cut_at is not None:
        stamps.append(w.cut_at + pd.Timedelta(days=3))  # views without entities have no row there
        entities.append(w.entities[0])
    got = assert_matches_oracle(w, entity_frame(w, entities, stamps))
    probe_feats = [f for f in fs_lib.feature_names(w.store, w.service) if f in w.tables[w.probe_view].columns]
    assert got.loc[0, w.probe] == got.loc[0, w.probe]  # not NaN
    assert got.loc[[1, 2], probe_feats].isna().all().all()
    others = [f for f in fs_lib.feature_names(w.store, w.service) if f not in probe_feats]
    if others:
        assert got.loc[[1, 2], others].notna().any().any()  # other views still join
    if w.cut_at is not None:
        short = [v for v in w.settings.features.views if not v.entities and ttl(v.ttl_days) < pd.Timedelta(days=3)]
        entityless = [f for v in short for f in feature_names(v, served_only=True)]
        assert got.loc[3, entityless].isna().all()
        if stamps[0] <= w.cut_at:
            assert got.loc[0, entityless].notna().all()


def test_unknown_entities_are_refused_or_null(world):
    w = world
    e0 = w.entities[0]
    unknown_values = {k: (999_999 if w.settings.contract.columns[k].dtype == "int" else "Z999") for k in w.probe_keys}
    first_unknown = (unknown_values[w.probe_keys[0]], *e0[1:])
    rows = [e0, first_unknown]
    if len(w.probe_keys) > 1:
        rows.append((*e0[:-1], unknown_values[w.probe_keys[-1]]))
    entity_df = entity_frame(w, rows, [w.fix_at] * len(rows))
    expected = [tuple(r[k] for k in w.keys) for _, r in entity_df.iloc[1:].iterrows()]
    assert fs_lib.unknown_entities(w.store, entity_df) == expected
    assert fs_lib.unknown_entities(w.tables, entity_df) == expected
    with pytest.raises(fs_lib.UnknownEntityError, match=f"{w.probe_keys[0]}={first_unknown[0]}") as err:
        fs_lib.historical_features(w.store, entity_df, w.service, timestamp_column=w.ts)
    assert err.value.entities == expected
    got = fs_lib.historical_features(w.store, entity_df, w.service, timestamp_column=w.ts, allow_unknown_entities=True)
    assert got.loc[1, w.probe] != got.loc[1, w.probe]
    assert got.loc[0, w.probe] == got.loc[0, w.probe]


def test_naive_and_string_timestamps_are_utc(world):
    w = world
    aware = entity_frame(w, [w.entities[0], w.entities[1]], [w.fix_at + pd.Timedelta(days=1), w.fix_at + pd.Timedelta(days=2)])
    naive = aware.assign(**{w.ts: aware[w.ts].dt.tz_localize(None)})
    text = aware.assign(**{w.ts: aware[w.ts].dt.strftime("%Y-%m-%d")})
    feats = fs_lib.feature_names(w.store, w.service)
    a = fs_lib.historical_features(w.store, aware, w.service, timestamp_column=w.ts)[feats]
    assert a.notna().any().any()
    for other in (naive, text):
        pd.testing.assert_frame_equal(fs_lib.historical_features(w.store, other, w.service, timestamp_column=w.ts)[feats], a)


def test_empty_entity_frame(world):
    w = world
    empty = entity_frame(w, [], []).astype({w.ts: "datetime64[ns, UTC]"})
    got = fs_lib.historical_features(w.store, empty, w.service, timestamp_column=w.ts)
    assert len(got) == 0 and list(got.columns) == [*empty.columns, *fs_lib.feature_names(w.store, w.service)]


def test_ttls_are_what_the_declarations_say(world):
    w = world
    got = {fv.name: fv.ttl for fv in w.store.list_feature_views()}
    assert got == {v.name: ttl(v.ttl_days) for v in w.settings.features.views}
    if w.settings.use_case == "retail_demand":
        assert got == {
            "sales_history": pd.Timedelta(days=14),
            "price_promo": pd.Timedelta(days=7),
            "store_sales": pd.Timedelta(days=14),
            "calendar": pd.Timedelta(hours=23, minutes=59, seconds=59),
        }
    src = Path(w.store.get_feature_view(w.probe_view).batch_source.path)
    assert src.is_absolute() and src.parent == fs_lib.feature_data_dir(w.settings)
    assert w.store.project == f"runway_{w.settings.use_case}"
