"""Local Feast (file registry, SQLite online store, DuckDB offline store) on a
temporary copy of feature_repo: apply, materialize, online reads, the CLI,
config per environment and the error messages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from runway.features import store as fs_lib
from runway.config import PROJECT_ROOT, load_settings
from runway.features.engine import SALES_HISTORY, compute_feature_tables, feature_columns, lag_name, write_feature_tables
from tests.integration.conftest import tiny_sales

pytestmark = pytest.mark.integration

SERVICE = "retail_demand_v1"
DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
FEAST_CLI = Path(sys.executable).with_name("feast")
LAGS = [lag_name(k) for k in load_settings().features.lags_days]
LAG = LAGS[0]


def day(d: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=d)


def small_sales(days: int = 60, seed: int = 2) -> pd.DataFrame:
    return tiny_sales(days, seed, ["I000", "I001", "I002"], holiday_every=11, holiday_offset=3, day0=DAY0)


def copy_repo(dst: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "feature_repo", dst, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return dst


@pytest.fixture
def local(tmp_path):
    repo = copy_repo(tmp_path / "feature_repo")
    settings = load_settings(overrides={"environment": {"workspace": str(tmp_path / "ws"), "feature_repo": str(repo)}})
    tables = compute_feature_tables(small_sales(), settings.features)
    write_feature_tables(tables, fs_lib.feature_data_dir(settings))
    store = fs_lib.open_store(settings)
    fs_lib.apply(store)
    return settings, store, tables


def test_definitions_match_the_computed_tables(tmp_path):
    """feature_repo/definitions.py mirrors runway.features.engine for the use case's config."""
    settings = load_settings()
    repo = fs_lib.load_definitions(copy_repo(tmp_path / "repo"))
    cols = feature_columns(settings.features)
    views = {fv.name: fv for fv in repo.feature_views}
    assert set(views) == set(cols)
    for name, fv in views.items():
        assert [f.name for f in fv.features] == cols[name], name
        assert fv.batch_source.timestamp_field == "event_timestamp"
        assert fv.batch_source.created_timestamp_column == "created_timestamp"
        assert Path(fv.batch_source.path) == (tmp_path / "repo" / "data" / f"{name}.parquet").resolve()
        assert fv.ttl and fv.ttl.total_seconds() > 0
    for name in ("sales_history", "store_sales"):
        assert views[name].tags["horizon_days"] == str(settings.features.horizon_days)
    assert views["calendar"].entities == ["__dummy"]  # entityless, keyed by time only
    assert {e.name for e in repo.entities} >= {"store", "item"}
    (service,) = [s for s in repo.feature_services if s.name == settings.features.feature_service]
    names = [f.name for p in service.feature_view_projections for f in p.features]
    assert len(names) == len(set(names))
    # request features come from the row being forecast, never twice
    assert not set(names) & set(settings.features.request_features)


def test_two_repo_copies_in_one_process_keep_their_own_paths(tmp_path):
    a = fs_lib.load_definitions(copy_repo(tmp_path / "a"))
    b = fs_lib.load_definitions(copy_repo(tmp_path / "b"))
    pa = {fv.batch_source.path for fv in a.feature_views}
    pb = {fv.batch_source.path for fv in b.feature_views}
    assert all(p.startswith(str((tmp_path / "a").resolve())) for p in pa)
    assert all(p.startswith(str((tmp_path / "b").resolve())) for p in pb)


def test_apply_materialize_and_read_online(local):
    settings, store, tables = local
    assert fs_lib.feature_names(store, SERVICE)[: len(LAGS)] == LAGS
    assert Path(store.config.registry.path) == settings.workspace_path("feast", "registry.db")
    assert Path(store.config.online_store.path) == settings.workspace_path("feast", "online.db")

    pairs = pd.DataFrame({"store_id": ["S001", "S000", "S000"], "item_id": ["I002", "I000", "I001"]})
    for end in (day(40), day(47)):  # the second run is incremental
        loaded = fs_lib.materialize(store, end.to_pydatetime())
        assert set(loaded) == {"sales_history", "price_promo", "store_sales", "calendar"}
        online = fs_lib.online_features(store, pairs, SERVICE)
        assert list(online.columns) == ["store_id", "item_id", *fs_lib.feature_names(store, SERVICE)]
        # online = the as-of values at the end of the materialization
        offline = fs_lib.historical_features(store, pairs.assign(date=end), SERVICE)
        pd.testing.assert_frame_equal(
            online.drop(columns=["store_id", "item_id"]).astype("float64"),
            offline.drop(columns=["store_id", "item_id", "date"]).astype("float64"),
            check_exact=False,
            rtol=1e-9,
        )
        # and those are the rows written to the source
        sh = tables[SALES_HISTORY].set_index(["store_id", "item_id", "event_timestamp"])
        expected = sh.loc[("S001", "I002", end), LAG]
        assert online.loc[0, LAG] == pytest.approx(expected)
        assert online.loc[0, "day_of_week"] == end.dayofweek
    assert fs_lib.materialize(store, day(47).to_pydatetime()) == {}  # nothing new
    starts = {fv.name: fv.most_recent_end_time for fv in store.list_feature_views()}
    assert all(pd.Timestamp(t) == day(47) for t in starts.values())


def test_online_refuses_unknown_entities(local):
    _, store, _ = local
    fs_lib.materialize(store, day(40).to_pydatetime())
    rows = [{"store_id": "S000", "item_id": "I000"}, {"store_id": "S404", "item_id": "I000"}]
    with pytest.raises(fs_lib.UnknownEntityError, match="store_id=S404"):
        fs_lib.online_features(store, rows, SERVICE)
    got = fs_lib.online_features(store, rows, SERVICE, allow_unknown_entities=True)
    assert got.loc[0, LAG] is not None and pd.isna(got.loc[1, LAG])
    with pytest.raises(fs_lib.EntityFrameError, match="item_id"):
        fs_lib.online_features(store, [{"store_id": "S000"}], SERVICE)


def test_errors_name_the_culprit(local):
    _, store, _ = local
    ok = pd.DataFrame({"store_id": ["S000"], "item_id": ["I000"], "date": [day(30)]})
    with pytest.raises(fs_lib.UnknownFeatureServiceError, match=r"retail_demand_v9.*known: \['retail_demand_v1'\]"):
        fs_lib.historical_features(store, ok, "retail_demand_v9")
    with pytest.raises(fs_lib.UnknownFeatureServiceError, match="retail_demand_v9"):
        fs_lib.feature_names(store, "retail_demand_v9")
    with pytest.raises(fs_lib.EntityFrameError, match=r"key column\(s\) \['item_id'\]"):
        fs_lib.historical_features(store, ok.drop(columns=["item_id"]), SERVICE)
    with pytest.raises(fs_lib.EntityFrameError, match="timestamp column 'date'"):
        fs_lib.historical_features(store, ok.rename(columns={"date": "when"}), SERVICE)
    with pytest.raises(fs_lib.EntityFrameError, match="'date' has 1 null"):
        fs_lib.historical_features(store, ok.assign(date=pd.NaT), SERVICE)
    with pytest.raises(fs_lib.EntityFrameError, match=LAG):
        fs_lib.historical_features(store, ok.assign(**{LAG: 1.0}), SERVICE)
    with pytest.raises(fs_lib.FeatureStoreError, match="no online feature view"):
        fs_lib.materialize(store, day(30).to_pydatetime(), views=["nope"])


def test_feast_cli_apply_from_another_directory(tmp_path, monkeypatch):
    repo = copy_repo(tmp_path / "repo")
    settings = load_settings()
    write_feature_tables(compute_feature_tables(small_sales(), settings.features), repo / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [str(FEAST_CLI), "-c", str(repo), "apply"], cwd=elsewhere, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retail_demand_v1" in proc.stdout
    assert (repo / "data" / "registry.db").is_file() and (repo / "data" / "online.db").is_file()
    assert not list(elsewhere.iterdir())  # nothing written relative to the CWD

    # the registry the CLI wrote serves retrieval from any directory
    from feast import FeatureStore

    monkeypatch.chdir(elsewhere)
    store = FeatureStore(repo_path=str(repo))
    got = fs_lib.historical_features(store, pd.DataFrame({"store_id": ["S001"], "item_id": ["I001"], "date": [day(30)]}), SERVICE)
    assert got[LAG].notna().all()


def test_repo_config_per_environment(tmp_path, monkeypatch):
    local = load_settings(overrides={"environment": {"workspace": str(tmp_path / "ws")}})
    cfg = fs_lib.repo_config(local, tmp_path)
    assert (cfg.project, cfg.provider, cfg.offline_store.type) == ("runway", "local", "duckdb")
    assert cfg.registry.registry_type == "file" and cfg.registry.path == str(tmp_path / "ws" / "feast" / "registry.db")
    assert cfg.online_store.type == "sqlite" and cfg.online_store.path == str(tmp_path / "ws" / "feast" / "online.db")
    assert cfg.repo_path == tmp_path.resolve() and cfg.entity_key_serialization_version == 3
    assert fs_lib.repo_config(local).repo_path == PROJECT_ROOT / "feature_repo"

    monkeypatch.setenv("RUNWAY_FEAST_REGISTRY_URL", "postgresql+psycopg2://feast:pw@db.internal:5432/feast")
    monkeypatch.setenv("RUNWAY_REDIS_CONNECTION", "rediss://:s3cret@redis.internal:6380/2")
    monkeypatch.setenv("RUNWAY_LOCK_URL", "postgresql://x@y/z")
    monkeypatch.setenv("RUNWAY_WORKSPACE", str(tmp_path / "staging"))
    staging = load_settings(env="staging")
    cfg = fs_lib.repo_config(staging, tmp_path)
    assert cfg.project == "runway_staging"
    assert cfg.registry.registry_type == "sql"
    assert cfg.registry.path == "postgresql+psycopg2://feast:pw@db.internal:5432/feast"
    assert cfg.online_store.type == "redis"
    assert cfg.online_store.connection_string == "redis.internal:6380,db=2,password=s3cret,ssl=true"
    assert cfg.offline_store.type == "duckdb"

    assert fs_lib.redis_connection_string("h:6379,db=1") == "h:6379,db=1"
    assert fs_lib.redis_connection_string("redis://127.0.0.1:6379/0") == "127.0.0.1:6379,db=0"
    assert fs_lib.redis_connection_string("redis://localhost") == "localhost:6379"
