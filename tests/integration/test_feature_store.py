"""Local Feast (file registry, SQLite online store, DuckDB offline store) on a
temporary copy of feature_repo: apply from the declarations, materialize,
online reads, the CLI, one Feast project per use case, config per
environment and the error messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from runway.config import PROJECT_ROOT, load_settings
from runway.features import store as fs_lib
from runway.features.definitions import build_objects
from runway.features.engine import compute_feature_tables, table_columns, write_feature_tables
from runway.features.naming import feature_names
from tests.integration.test_point_in_time import synthetic_rows
from tests.unit.test_feature_declarations import snapshots, write_use_case

pytestmark = pytest.mark.integration

SERVICE = "retail_demand_v1"
SALES_HISTORY = "sales_history"
DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
FEAST_CLI = Path(sys.executable).with_name("feast")
LAGS = [n for n in feature_names(load_settings().features.views[0]) if "_lag_" in n]
LAG = LAGS[0]


def day(d: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=d)


def copy_repo(dst: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "feature_repo", dst, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return dst


def retail(tmp_path: Path, repo: Path):
    return load_settings("retail_demand", "local", overrides={"environment": {"workspace": str(tmp_path / "ws"), "feature_repo": str(repo)}})


def small_sales(settings, seed: int = 2) -> pd.DataFrame:
    return synthetic_rows(settings, days=60, seed=seed, per_key=3, future_days=0)


@pytest.fixture
def local(tmp_path):
    repo = copy_repo(tmp_path / "feature_repo")
    settings = retail(tmp_path, repo)
    tables = compute_feature_tables(small_sales(settings), settings)
    write_feature_tables(tables, fs_lib.feature_data_dir(settings))
    store = fs_lib.open_store(settings)
    fs_lib.apply(store, settings)
    return settings, store, tables


def test_definitions_match_the_computed_tables(tmp_path):
    """The Feast objects and the engine's tables come from the same declarations."""
    repo_dir = copy_repo(tmp_path / "repo")
    settings = retail(tmp_path, repo_dir)
    data = fs_lib.feature_data_dir(settings)
    assert data == (repo_dir / "data" / "retail_demand").resolve()
    tables = compute_feature_tables(small_sales(settings), settings)
    repo = build_objects(settings, data)
    views = {fv.name: fv for fv in repo.feature_views}
    assert set(views) == set(tables)
    join_key = {e.name: e.join_key for e in repo.entities if e.name != "__dummy"}
    for name, fv in views.items():
        keys = [join_key[e] for e in fv.entities if e in join_key]
        assert fv.tags["join_keys"] == ",".join(keys)
        cols = table_columns(settings)[name]
        assert list(tables[name].columns) == cols
        assert [*keys, "event_timestamp", "created_timestamp", *(f.name for f in fv.features)] == cols, name
        assert Path(fv.batch_source.path) == data / f"{name}.parquet"
    # the CLI's thin definitions.py builds the same objects, sources in its own copy
    cli = fs_lib.load_definitions(repo_dir)
    assert {fv.name: [f.name for f in fv.features] for fv in cli.feature_views} == {n: [f.name for f in fv.features] for n, fv in views.items()}
    assert {fv.name: fv.batch_source.path for fv in cli.feature_views} == {n: fv.batch_source.path for n, fv in views.items()}
    assert [s.name for s in cli.feature_services] == [SERVICE]
    assert [p.name for p in cli.projects] == ["runway_retail_demand"]
    assert {e.name for e in cli.entities} == {"store", "item", "__dummy"}


def test_two_repo_copies_in_one_process_keep_their_own_paths(tmp_path):
    a = fs_lib.load_definitions(copy_repo(tmp_path / "a"))
    b = fs_lib.load_definitions(copy_repo(tmp_path / "b"))
    pa = {fv.batch_source.path for fv in a.feature_views}
    pb = {fv.batch_source.path for fv in b.feature_views}
    assert all(p.startswith(str((tmp_path / "a" / "data" / "retail_demand").resolve())) for p in pa)
    assert all(p.startswith(str((tmp_path / "b" / "data" / "retail_demand").resolve())) for p in pb)


def test_apply_materialize_and_read_online(local):
    settings, store, tables = local
    assert fs_lib.feature_names(store, SERVICE)[: len(LAGS)] == LAGS
    assert store.project == "runway_retail_demand"
    assert Path(store.config.registry.path) == settings.workspace_path("feast", "registry.db")
    assert Path(store.config.online_store.path) == settings.workspace_path("feast", "online.db")

    pairs = pd.DataFrame({"store_id": ["S001", "S000", "S000"], "item_id": ["I002", "I000", "I001"]})
    for end in (day(40), day(47)):  # the second run is incremental
        loaded = fs_lib.materialize(store, end.to_pydatetime())
        assert set(loaded) == {"sales_history", "price_promo", "store_sales", "calendar"}
        online = fs_lib.online_features(store, pairs, SERVICE)
        assert list(online.columns) == ["store_id", "item_id", *fs_lib.feature_names(store, SERVICE)]
        # online = the as-of values at the end of the materialization
        offline = fs_lib.historical_features(store, pairs.assign(date=end), SERVICE, timestamp_column="date")
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


def test_use_cases_keep_to_their_own_project(local, tmp_path):
    """Two use cases in one registry and online store: applying or
    materializing one never creates, changes or deletes the other's objects."""
    retail_settings, retail_store, _ = local
    subs = load_settings(
        write_use_case(tmp_path),
        "local",
        overrides={"environment": {"workspace": str(tmp_path / "ws"), "feature_repo": str(retail_settings.feature_repo)}},
    )
    rows = snapshots(seed=1, customers=4, weeks=10)
    write_feature_tables(compute_feature_tables(rows, subs), fs_lib.feature_data_dir(subs))
    assert fs_lib.feature_data_dir(subs) != fs_lib.feature_data_dir(retail_settings)
    subs_store = fs_lib.open_store(subs)
    assert subs_store.project == "runway_subscriptions"
    assert Path(subs_store.config.registry.path) == Path(retail_store.config.registry.path)  # one registry
    with pytest.raises(fs_lib.FeatureStoreError, match="open it with open_store"):
        fs_lib.apply(retail_store, subs)
    fs_lib.apply(subs_store, subs)

    retail_views = sorted(fv.name for fv in retail_store.list_feature_views())
    assert retail_views == ["calendar", "price_promo", "sales_history", "store_sales"]
    assert sorted(fv.name for fv in subs_store.list_feature_views()) == ["account", "all_customers", "spend_history", "weeks"]
    assert [s.name for s in retail_store.list_feature_services()] == [SERVICE]
    assert [s.name for s in subs_store.list_feature_services()] == ["subscriptions_v2"]

    end = pd.Timestamp(rows["week"].max()).to_pydatetime()
    assert set(fs_lib.materialize(subs_store, end)) == {"account", "all_customers", "spend_history", "weeks"}
    assert all(fv.most_recent_end_time is None for fv in retail_store.list_feature_views())
    fs_lib.apply(retail_store, retail_settings)  # re-applying one leaves the other alone
    assert all(fv.most_recent_end_time is not None for fv in subs_store.list_feature_views())

    customers = pd.DataFrame({"customer_id": [1000, 1001]})
    online = fs_lib.online_features(subs_store, customers, "subscriptions_v2")
    assert online["plan_is_basic"].notna().all()
    offline = fs_lib.historical_features(subs_store, customers.assign(week=pd.Timestamp(end)), "subscriptions_v2", timestamp_column="week")
    assert offline["spend_lag_7d"].notna().all()


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
        fs_lib.historical_features(store, ok, "retail_demand_v9", timestamp_column="date")
    with pytest.raises(fs_lib.UnknownFeatureServiceError, match="retail_demand_v9"):
        fs_lib.feature_names(store, "retail_demand_v9")
    with pytest.raises(fs_lib.EntityFrameError, match=r"key column\(s\) \['item_id'\]"):
        fs_lib.historical_features(store, ok.drop(columns=["item_id"]), SERVICE, timestamp_column="date")
    with pytest.raises(fs_lib.EntityFrameError, match="timestamp column 'date'"):
        fs_lib.historical_features(store, ok.rename(columns={"date": "when"}), SERVICE, timestamp_column="date")
    with pytest.raises(fs_lib.EntityFrameError, match="'date' has 1 null"):
        fs_lib.historical_features(store, ok.assign(date=pd.NaT), SERVICE, timestamp_column="date")
    with pytest.raises(fs_lib.EntityFrameError, match=LAG):
        fs_lib.historical_features(store, ok.assign(**{LAG: 1.0}), SERVICE, timestamp_column="date")
    with pytest.raises(fs_lib.FeatureStoreError, match="no online feature view"):
        fs_lib.materialize(store, day(30).to_pydatetime(), views=["nope"])


def _cli(repo: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FEAST_CLI), "-c", str(repo), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "RUNWAY_PROJECT_ROOT": str(PROJECT_ROOT), **env},
    )


def test_feast_cli_apply_from_another_directory(tmp_path, monkeypatch):
    repo = copy_repo(tmp_path / "repo")
    settings = retail(tmp_path, repo)
    write_feature_tables(compute_feature_tables(small_sales(settings), settings), fs_lib.feature_data_dir(settings))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _cli(repo, elsewhere, "apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retail_demand_v1" in proc.stdout and "runway_retail_demand" in proc.stdout
    assert (repo / "data" / "registry.db").is_file() and (repo / "data" / "online.db").is_file()
    assert not list(elsewhere.iterdir())  # nothing written relative to the CWD

    # the registry the CLI wrote serves retrieval from any directory
    from feast import FeatureStore

    monkeypatch.chdir(elsewhere)
    store = FeatureStore(repo_path=str(repo))
    assert store.project == "runway_retail_demand"
    # The CLI's repo uses Runway's ASOF store too, as every Runway path does.
    assert store.config.offline_store.type == "runway.features.offline_store.RunwayAsofOfflineStore"
    got = fs_lib.historical_features(store, pd.DataFrame({"store_id": ["S001"], "item_id": ["I001"], "date": [day(30)]}), SERVICE, timestamp_column="date")
    assert got[LAG].notna().all()


def test_feast_cli_for_another_use_case(tmp_path):
    """RUNWAY_USE_CASE picks the declarations; the CLI refuses them in another
    use case's project and applies them with a YAML naming their own."""
    repo = copy_repo(tmp_path / "repo")
    use_case = write_use_case(tmp_path)
    refused = _cli(repo, tmp_path, "apply", RUNWAY_USE_CASE=str(use_case))
    assert refused.returncode != 0
    assert "Project object name should match" in refused.stdout + refused.stderr
    yaml_file = tmp_path / "subscriptions_store.yaml"
    yaml_file.write_text((repo / "feature_store.yaml").read_text().replace("project: runway_retail_demand", "project: runway_subscriptions"))
    proc = _cli(repo, tmp_path, "-f", str(yaml_file), "apply", RUNWAY_USE_CASE=str(use_case))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "subscriptions_v2" in proc.stdout and "retail_demand_v1" not in proc.stdout


def test_repo_config_per_environment(tmp_path, monkeypatch):
    local = load_settings(overrides={"environment": {"workspace": str(tmp_path / "ws")}})
    cfg = fs_lib.repo_config(local, tmp_path)
    assert (cfg.project, cfg.provider, cfg.offline_store.type) == ("runway_retail_demand", "local", "runway.features.offline_store.RunwayAsofOfflineStore")
    assert cfg.registry.registry_type == "file" and cfg.registry.path == str(tmp_path / "ws" / "feast" / "registry.db")
    assert cfg.online_store.type == "sqlite" and cfg.online_store.path == str(tmp_path / "ws" / "feast" / "online.db")
    assert cfg.repo_path == tmp_path.resolve() and cfg.entity_key_serialization_version == 3
    assert fs_lib.repo_config(local).repo_path == PROJECT_ROOT / "feature_repo"
    assert fs_lib.feature_data_dir(local) == PROJECT_ROOT / "feature_repo" / "data" / "retail_demand"

    monkeypatch.setenv("RUNWAY_FEAST_REGISTRY_URL", "postgresql+psycopg2://feast:pw@db.internal:5432/feast")
    monkeypatch.setenv("RUNWAY_REDIS_CONNECTION", "rediss://:s3cret@redis.internal:6380/2")
    monkeypatch.setenv("RUNWAY_LOCK_URL", "postgresql://x@y/z")
    monkeypatch.setenv("RUNWAY_DECISION_LOG_URL", "postgresql://x@y/z")
    monkeypatch.setenv("RUNWAY_PREDICTIONS_URL", "postgresql://x@y/z")
    monkeypatch.setenv("RUNWAY_WORKSPACE", str(tmp_path / "staging"))
    staging = load_settings(env="staging")
    cfg = fs_lib.repo_config(staging, tmp_path)
    assert cfg.project == "runway_staging_retail_demand"
    assert cfg.registry.registry_type == "sql"
    assert cfg.registry.path == "postgresql+psycopg2://feast:pw@db.internal:5432/feast"
    assert cfg.online_store.type == "redis"
    assert cfg.online_store.connection_string == "redis.internal:6380,db=2,password=s3cret,ssl=true"
    assert cfg.offline_store.type == "runway.features.offline_store.RunwayAsofOfflineStore"

    assert fs_lib.redis_connection_string("h:6379,db=1") == "h:6379,db=1"
    assert fs_lib.redis_connection_string("redis://127.0.0.1:6379/0") == "127.0.0.1:6379,db=0"
    assert fs_lib.redis_connection_string("redis://localhost") == "localhost:6379"
