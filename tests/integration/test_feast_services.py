"""Feast against real services: SQL registry on PostgreSQL (own temporary
database) and the Redis online store (own Feast project, whose keys end with
the project name and are removed afterwards). Servers keep state between
runs, so nothing here assumes they are empty."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from runway.config import PROJECT_ROOT, load_settings
from runway.features import store as fs_lib
from runway.features.engine import compute_feature_tables, write_feature_tables
from tests.integration import services
from tests.integration.test_point_in_time import DAY0, synthetic_rows

pytestmark = [pytest.mark.integration, pytest.mark.services]

SERVICE = "retail_demand_v1"
SALES_HISTORY, STORE_SALES = "sales_history", "store_sales"


@pytest.fixture
def pg_database(postgres_url):
    """A fresh database on the server of RUNWAY_TEST_POSTGRES_URL, dropped afterwards."""
    with services.pg_database(postgres_url) as url:
        yield url


@pytest.fixture
def redis_project(redis_url):
    """A project name unique to this test (the environment's ``feast.project``;
    the use case's Feast project starts with it); its Redis keys are deleted
    afterwards."""
    import redis

    url = redis_url
    project = services.unique()
    client = redis.Redis.from_url(url)
    try:
        yield url, project, client
    finally:
        for key in client.scan_iter(match=b"*" + project.encode() + b"*"):
            client.delete(key)
        client.close()


def test_sql_registry_and_redis_online_store(tmp_path, pg_database, redis_project):
    redis_url, project, client = redis_project
    repo = tmp_path / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = load_settings(
        overrides={
            "environment": {
                "workspace": str(tmp_path / "ws"),
                "feature_repo": str(repo),
                "feast": {"registry": pg_database, "online_store": "redis", "redis_connection": redis_url, "project": project},
            }
        }
    )
    tables = compute_feature_tables(synthetic_rows(settings, days=45, seed=4, future_days=0), settings)
    write_feature_tables(tables, fs_lib.feature_data_dir(settings))

    store = fs_lib.open_store(settings)
    assert store.config.registry.registry_type == "sql"
    assert store.config.online_store.type == "redis"
    assert store.project == fs_lib.feast_project(settings) == f"{project}_retail_demand"
    fs_lib.apply(store, settings)
    end = DAY0 + pd.Timedelta(days=40)
    fs_lib.materialize(store, end.to_pydatetime())

    # the registry lives in PostgreSQL: a second store (another process, in
    # effect) sees the service and the materialization
    other = fs_lib.open_store(settings)
    assert fs_lib.feature_names(other, SERVICE) == fs_lib.feature_names(store, SERVICE)
    assert {fv.name: pd.Timestamp(fv.most_recent_end_time) for fv in other.list_feature_views()} == dict.fromkeys(
        ["calendar", "price_promo", "sales_history", "store_sales"], end
    )

    keys = list(client.scan_iter(match=b"*" + store.project.encode()))
    # one hash per entity key (views with the same key share it): 4 store x
    # item, 2 stores, 1 for the entityless calendar
    assert len(keys) == 4 + 2 + 1
    rows = pd.DataFrame({"store_id": ["S000", "S001", "S001"], "item_id": ["I001", "I000", "I001"]})
    online = fs_lib.online_features(other, rows, SERVICE)

    sh = tables[SALES_HISTORY].set_index(["store_id", "item_id", "event_timestamp"])
    ss = tables[STORE_SALES].set_index(["store_id", "event_timestamp"])
    for i, r in rows.iterrows():
        written = sh.loc[(r["store_id"], r["item_id"], end)]
        for col in [c for c in fs_lib.feature_names(other, SERVICE) if c in written.index]:
            assert online.loc[i, col] == pytest.approx(written[col]), col
        assert online.loc[i, "store_item_units_mean_28d"] == pytest.approx(ss.loc[(r["store_id"], end), "store_item_units_mean_28d"])
        assert online.loc[i, "day_of_week"] == end.dayofweek
    with pytest.raises(fs_lib.UnknownEntityError, match="S999"):
        fs_lib.online_features(other, [{"store_id": "S999", "item_id": "I000"}], SERVICE)
