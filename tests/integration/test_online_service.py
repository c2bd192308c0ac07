"""The online scoring service end to end, without pipelines.

Real here: the HTTP server (uvicorn on 127.0.0.1), the Feast online store
(SQLite in a temporary workspace; Redis when ``RUNWAY_TEST_REDIS_URL`` is
set), model artifacts trained with ``runway.modeling.artifact.train`` and
registered on ZenML's Model Control Plane the way
``runway.governance.registry`` reads them (``model`` artifact, ``model.pkl``,
``artifact_sha256`` metadata, promotions through ``set_production`` under
the lock and the decision log), sha256 verification, rollback.

The fixture builds a tiny use case (3 stores x 4 items, one label-derived
view with lags and rolling means of the target), its feature table, three
versions: v1 and v2 promoted in turn, v3 parked in staging (the canary).
"""

from __future__ import annotations

import os
import tempfile

# Before ZenML is imported anywhere (tests/conftest.py does the same when it runs).
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")
os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")
if "ZENML_CONFIG_PATH" not in os.environ:
    os.environ["ZENML_CONFIG_PATH"] = tempfile.mkdtemp(prefix="runway-zenml-online-")

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import requests

from runway.config import Settings
from runway.serving import online
from runway.serving.app import create_app

pytestmark = pytest.mark.integration

STORES, ITEMS, DAYS = 3, 4, 70
DAY0 = pd.Timestamp("2024-03-01")
FEATURES = ["units_sold_lag_14d", "units_sold_lag_21d", "units_sold_mean_7d", "units_sold_mean_28d"]
MODEL_INPUTS = [*FEATURES, "price", "on_promotion"]


def use_case_dict(workspace: Path, repo: Path, model_name: str, project: str = "runway") -> dict[str, Any]:
    """A small generic use case: nothing of retail_demand's YAML is assumed."""
    return {
        "use_case": "tiny_demand",
        "contract": {
            "keys": ["store_id", "item_id", "date"],
            "timestamp": "date",
            "columns": {
                "date": {"dtype": "datetime", "nullable": False},
                "store_id": {"dtype": "string", "nullable": False},
                "item_id": {"dtype": "string", "nullable": False},
                "price": {"dtype": "float", "nullable": False, "min": 0.01, "max": 1000},
                "on_promotion": {"dtype": "bool", "nullable": False},
                "units_sold": {"dtype": "float", "min": 0},
            },
        },
        "entities": [{"name": "store", "join_keys": ["store_id"]}, {"name": "item", "join_keys": ["item_id"]}],
        "features": {
            "service": "tiny_demand",
            "version": 1,
            "request": ["price", "on_promotion"],
            "horizon_days": 14,
            "views": [
                {
                    "name": "sales_history",
                    "entities": ["store", "item"],
                    "known": "lagged",
                    "ttl_days": 14,
                    "features": [
                        {"transform": "lag", "column": "units_sold", "days": [14, 21]},
                        {"transform": "rolling", "column": "units_sold", "stats": ["mean"], "days": [7, 28]},
                    ],
                }
            ],
        },
        "model": {"name": model_name, "task": "regression", "target": "units_sold", "estimator": "ridge", "clip_min": 0},
        "evaluation": {"primary_metric": "wape", "metrics": ["wape", "mae"], "baseline": {"kind": "seasonal_naive", "period_days": 7}},
        "serving": {"poll_seconds": 0.2},
        "environment": {
            "name": "local",
            "workspace": str(workspace),
            "feature_repo": str(repo),
            "zenml": {"config_dir": None},
            "feast": {"registry": "feast/registry.db", "online_store": "sqlite", "project": project},
        },
    }


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def sales_frame(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [[f"S{s}" for s in range(STORES)], [f"I{i}" for i in range(ITEMS)], range(DAYS)], names=["store_id", "item_id", "d"]
    ).to_frame(index=False)
    base = rng.uniform(3, 15, STORES * ITEMS).repeat(DAYS)
    weekday = 1 + 0.3 * np.sin(2 * np.pi * idx["d"].to_numpy() / 7)
    promo = rng.random(len(idx)) < 0.2
    price = rng.uniform(1, 5, len(idx)).round(2)
    units = rng.poisson(base * weekday * (1 + 0.5 * promo) * (3 / price) ** 0.3).astype(float)
    return pd.DataFrame(
        {
            "date": DAY0 + pd.to_timedelta(idx["d"], unit="D"),
            "store_id": idx["store_id"],
            "item_id": idx["item_id"],
            "price": price,
            "on_promotion": promo,
            "units_sold": units,
        }
    )


def feature_table(sales: pd.DataFrame) -> pd.DataFrame:
    """Label-derived features stamped at the target date t, from sales up to t - 14 days."""
    f = sales.sort_values(["store_id", "item_id", "date"]).reset_index(drop=True)
    g = f.groupby(["store_id", "item_id"])["units_sold"]
    f["units_sold_lag_14d"] = g.shift(14)
    f["units_sold_lag_21d"] = g.shift(21)
    f["units_sold_mean_7d"] = g.transform(lambda s: s.shift(14).rolling(7, min_periods=4).mean())
    f["units_sold_mean_28d"] = g.transform(lambda s: s.shift(14).rolling(28, min_periods=14).mean())
    return f


def write_feature_source(settings: Settings, table: pd.DataFrame) -> None:
    from runway.features.store import feature_data_dir

    settings.feature_repo.mkdir(parents=True, exist_ok=True)
    out = feature_data_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    t = table[["store_id", "item_id", "date", *FEATURES]].rename(columns={"date": "event_timestamp"})
    t["event_timestamp"] = pd.to_datetime(t["event_timestamp"]).dt.tz_localize("UTC")
    t["created_timestamp"] = t["event_timestamp"]
    t.to_parquet(out / "sales_history.parquet", index=False)


def materialize(settings: Settings, end: pd.Timestamp):
    from runway.features import store as fs

    store = fs.open_store(settings)
    fs.apply(store, settings)
    fs.materialize(store, end.to_pydatetime())
    return store


# ------------------------------------------------------- ZenML registration --


from zenml.enums import ArtifactType  # noqa: E402
from zenml.io import fileio  # noqa: E402
from zenml.materializers.base_materializer import BaseMaterializer  # noqa: E402

from runway.governance.registry import MODEL_FILE  # noqa: E402
from runway.modeling import artifact as artifact_lib  # noqa: E402


class ModelFileMaterializer(BaseMaterializer):
    """Writes what ``registry.read_model_bytes`` reads: ``<uri>/model.pkl``.
    (Top level: ZenML records materializers by import path.)"""

    ASSOCIATED_TYPES: ClassVar[tuple] = (artifact_lib.ModelArtifact,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar = ArtifactType.MODEL

    def save(self, data) -> None:
        with fileio.open(os.path.join(self.uri, MODEL_FILE), "wb") as fh:
            fh.write(artifact_lib.serialize(data))

    def load(self, data_type):
        raise NotImplementedError("the registry loads model.pkl itself, after checking its sha256")


def register_version(settings: Settings, model) -> str:
    """A new model version with its ``model`` artifact and recorded sha256."""
    from zenml import log_metadata
    from zenml.artifacts.utils import save_artifact
    from zenml.client import Client
    from zenml.enums import ArtifactType
    from zenml.model.utils import link_artifact_version_to_model_version

    from runway.governance import registry
    from runway.modeling.artifact import sha256_bytes

    client = Client()
    try:
        client.get_model(settings.model.name)
    except KeyError:
        client.create_model(settings.model.name)
    mv = client.create_model_version(settings.model.name)
    av = save_artifact(model, name=registry.MODEL_ARTIFACT, materializer=ModelFileMaterializer, artifact_type=ArtifactType.MODEL)
    link_artifact_version_to_model_version(av, mv)
    sha = sha256_bytes(registry.read_model_bytes(settings.model.name, str(mv.name)))
    log_metadata({registry.SHA_KEY: sha}, model_name=settings.model.name, model_version=str(mv.name))
    return str(mv.name)


def model_file(settings: Settings, version: str) -> Path:
    from zenml.client import Client

    from runway.governance import registry

    art = Client().get_model_version(settings.model.name, version).get_model_artifact(registry.MODEL_ARTIFACT)
    return Path(art.uri) / registry.MODEL_FILE


def ensure_production(settings: Settings, version: str) -> None:
    from runway.governance import registry

    prod = registry.production(settings.model.name)
    if prod is None or prod.version != version:
        registry.set_production(settings, settings.model.name, version, action="promote", reason="test: set the state this test needs")


# ------------------------------------------------------------------ world --


@dataclass
class World:
    tmp: Path
    base: dict
    settings: Settings
    sales: pd.DataFrame
    table: pd.DataFrame
    end: pd.Timestamp

    @property
    def day(self) -> str:
        return self.end.strftime("%Y-%m-%d")

    def settings_with(self, **over: Any) -> Settings:
        return Settings.model_validate(_merge(self.base, over))

    def online_value(self, store_id: str, item_id: str, feature: str) -> float:
        t = self.table
        return float(t[(t.store_id == store_id) & (t.item_id == item_id) & (t.date == self.end)][feature].iloc[0])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from runway.governance import registry
    from runway.modeling import artifact

    tmp = tmp_path_factory.mktemp("online")
    base = use_case_dict(tmp / "ws", tmp / "feature_repo", f"online-{uuid.uuid4().hex[:8]}")
    settings = Settings.model_validate(base)
    sales = sales_frame()
    table = feature_table(sales)
    end = sales["date"].max()
    write_feature_source(settings, table)
    materialize(settings, end)
    labelled = table.dropna(subset=FEATURES)
    v1 = register_version(settings, artifact.train(labelled[labelled.date < end - pd.Timedelta(days=14)], MODEL_INPUTS, settings.model, "date"))
    v2 = register_version(settings, artifact.train(labelled, MODEL_INPUTS, settings.model, "date"))
    v3 = register_version(settings, artifact.train(labelled[labelled.date >= end - pd.Timedelta(days=20)], MODEL_INPUTS, settings.model, "date"))
    assert (v1, v2, v3) == ("1", "2", "3")
    registry.set_production(settings, settings.model.name, v1, action="promote", reason="test: first")
    registry.set_production(settings, settings.model.name, v2, action="promote", reason="test: second")
    registry.set_candidate_stage(settings, settings.model.name, v3, "staging")
    return World(tmp, base, settings, sales, table, end)


# ----------------------------------------------------------------- server --


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app on 127.0.0.1 in a background thread (uvicorn, lifespan on)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    def predict(self, rows: list[dict], session: requests.Session | None = None) -> requests.Response:
        return (session or requests).post(f"{self.url}/predict", json={"rows": rows}, timeout=30)


def serve(settings: Settings, poller: bool = False, **kw):
    """(service, server) for ``settings``; without the poller the test polls by hand."""
    svc = online.build_service(settings, **kw)
    if not poller:
        svc.poll_once()
    return svc, Server(create_app(settings, svc, start_poller=poller))


def row(world: World, store: str = "S0", item: str = "I0", **extra) -> dict:
    return {"store_id": store, "item_id": item, "date": world.day, "price": 2.5, "on_promotion": False, **extra}


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ================================================================== tests ==


def test_production_answers_each_row_with_version_level_and_source(world: World) -> None:
    ensure_production(world.settings, "2")
    _, srv = serve(world.settings)
    with srv:
        r = srv.predict([row(world), row(world, "S1", "I2", on_promotion=True)])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["production_version"] == "2"
        assert [p["row"] for p in body["predictions"]] == [0, 1]
        for p in body["predictions"]:
            assert p["level"] == "production" and p["model_version"] == "2" and p["source"] == "online" and p["skipped"] == []
            assert np.isfinite(p["prediction"]) and p["prediction"] >= 0
        assert body["predictions"][1]["store_id"] == "S1" and body["predictions"][1]["date"] == world.day
        assert requests.get(f"{srv.url}/healthz", timeout=5).status_code == 200
        ready = requests.get(f"{srv.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["models"]["production"]["version"] == "2"


def test_validation_errors_name_the_field_and_the_row(world: World) -> None:
    _, srv = serve(world.settings)
    with srv:
        bad = [
            row(world),
            {**row(world), "store_id": 7},
            {k: v for k, v in row(world).items() if k != "price"},
            {**row(world), "price": -1.0, "date": "not a date"},
        ]
        r = srv.predict(bad)
        assert r.status_code == 422
        detail = r.json()["detail"]
        got = {(d["row"], d["field"], d["type"]) for d in detail}
        assert got == {(1, "store_id", "type_error"), (2, "price", "missing"), (3, "price", "value_error"), (3, "date", "type_error")}, detail
        assert all(d["loc"] == ["body", "rows", d["row"], d["field"]] for d in detail)
        assert any("row 2" in d["msg"] and "'price' is missing" in d["msg"] for d in detail)

        assert requests.post(f"{srv.url}/predict", data=b"{nope", headers={"content-type": "application/json"}, timeout=10).status_code == 422
        assert srv.predict([]).status_code == 422
        too_many = srv.predict([row(world)] * (world.settings.serving.max_entities_per_request + 1))
        assert too_many.status_code == 422 and too_many.json()["detail"][0]["type"] == "too_many_rows"
        # A null key or a bool where a number belongs is a type error, not a 500.
        r = srv.predict([{**row(world), "item_id": None, "on_promotion": 1}])
        assert r.status_code == 422 and {d["field"] for d in r.json()["detail"]} == {"item_id", "on_promotion"}


def test_unknown_and_stale_entities_fall_back_per_row(world: World) -> None:
    ensure_production(world.settings, "2")
    _, srv = serve(world.settings)
    later = (world.end + pd.Timedelta(days=15)).strftime("%Y-%m-%d")
    earlier = (world.end - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    with srv:
        r = srv.predict([row(world), row(world, "S9", "I0"), row(world, date=later), row(world, date=earlier)])
        assert r.status_code == 200, r.text
        known, unknown, stale, before = r.json()["predictions"]
    assert known["level"] == "production"
    assert unknown["level"] == "baseline" and unknown["model_version"] is None
    assert {s["reason"] for s in unknown["skipped"]} == {"missing_entity"} and {s["level"] for s in unknown["skipped"]} == {"production", "last_known_good"}
    assert "store_id=S9" in unknown["skipped"][0]["detail"]
    # No usable feature for an unknown entity: the constant of last resort (clip_min = 0).
    assert unknown["rule"] == "constant" and unknown["prediction"] == 0.0
    assert stale["level"] == "baseline" and {s["reason"] for s in stale["skipped"]} == {"stale_entity"} and "TTL" in stale["skipped"][0]["detail"]
    assert (
        before["level"] == "baseline"
        and {s["reason"] for s in before["skipped"]} == {"stale_entity"}
        and "after the requested time" in before["skipped"][0]["detail"]
    )


def test_baseline_uses_the_entitys_online_lag_when_no_model_can_serve(world: World) -> None:
    settings = world.settings_with(model={"name": f"never-registered-{uuid.uuid4().hex[:6]}"})
    _, srv = serve(settings)
    with srv:
        r = srv.predict([row(world, "S2", "I3")])
        assert r.status_code == 200, r.text
        (p,) = r.json()["predictions"]
        ready = requests.get(f"{srv.url}/readyz", timeout=10)
        degraded = requests.get(f"{srv.url}/readyz?allow_degraded=true", timeout=10)
    assert p["level"] == "baseline" and [s["reason"] for s in p["skipped"]] == ["no_version", "no_version"]
    # seasonal_naive, period 7: the 14-day lag (two weeks back, same weekday) comes first.
    assert p["rule"] == "units_sold_lag_14d"
    assert p["prediction"] == pytest.approx(world.online_value("S2", "I3", "units_sold_lag_14d"))
    assert ready.status_code == 503 and ready.json()["model_loaded"] is False
    assert degraded.status_code == 200


def test_tampered_artifact_is_refused_and_last_known_good_answers(world: World) -> None:
    ensure_production(world.settings, "2")
    path = model_file(world.settings, "2")
    original = path.read_bytes()
    _, srv = serve(world.settings)
    try:
        with srv:
            tampered = bytearray(original)
            tampered[len(tampered) // 2] ^= 0x01
            path.write_bytes(bytes(tampered))
            # A fresh service: the cached, verified v2 of the old one would keep serving.
            svc2, srv2 = serve(world.settings)
            with srv2:
                r = srv2.predict([row(world), row(world, "S1", "I1")])
                assert r.status_code == 200, r.text
                for p in r.json()["predictions"]:
                    assert p["level"] == "last_known_good" and p["model_version"] != "2"
                    (skip,) = p["skipped"]
                    assert skip["level"] == "production" and skip["version"] == "2" and skip["reason"] == "artifact_sha_mismatch"
                    assert "sha256" in skip["detail"]
                assert requests.get(f"{srv2.url}/readyz", timeout=10).json()["skipped"]["production"]["reason"] == "artifact_sha_mismatch"
            # The running service keeps the v2 it verified at load time.
            assert srv.predict([row(world)]).json()["predictions"][0]["model_version"] == "2"
            path.write_bytes(original)
            svc2.poll_once()  # repaired: the next poll loads it
            assert svc2.models.current().models["production"].version == "2"
    finally:
        path.write_bytes(original)


def test_sqlite_outage_answers_from_the_baseline_then_recovers(world: World) -> None:
    from runway.features.store import online_db_path

    ensure_production(world.settings, "2")
    db = online_db_path(world.settings)
    original = db.read_bytes()
    svc, srv = serve(world.settings)
    try:
        with srv:
            assert srv.predict([row(world)]).json()["predictions"][0]["level"] == "production"
            with open(db, "r+b") as fh:  # in place: Feast's open connection sees it
                fh.write(b"broken!!" * (len(original) // 8))
            r = srv.predict([row(world), row(world, "S1", "I1")])
            assert r.status_code == 200, r.text
            for p in r.json()["predictions"]:
                assert p["level"] == "baseline" and p["rule"] == "constant"
                assert {s["reason"] for s in p["skipped"]} == {"feature_store_outage"}
                assert "not a database" in p["skipped"][0]["detail"]
            # Within the breaker window the store is not asked again: fast failover.
            t0 = time.perf_counter()
            assert srv.predict([row(world)]).json()["predictions"][0]["level"] == "baseline"
            assert time.perf_counter() - t0 < 1.0
            ready = requests.get(f"{srv.url}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["online_store"]["ok"] is False
            with open(db, "r+b") as fh:
                fh.write(original)
            svc.features._open_until = time.monotonic()  # skip the rest of the breaker window
            assert wait_for(lambda: srv.predict([row(world)]).json()["predictions"][0]["level"] == "production", 10, "recovery")
            assert requests.get(f"{srv.url}/readyz", timeout=10).status_code == 200
    finally:
        with open(db, "r+b") as fh:
            fh.write(original)


def test_unreachable_redis_answers_from_the_baseline(world: World) -> None:
    ensure_production(world.settings, "2")
    settings = world.settings_with(environment={"feast": {"online_store": "redis", "redis_connection": f"127.0.0.1:{free_port()}"}})
    _, srv = serve(settings)
    with srv:
        r = srv.predict([row(world)])
        assert r.status_code == 200, r.text
        (p,) = r.json()["predictions"]
        assert p["level"] == "baseline" and {s["reason"] for s in p["skipped"]} == {"feature_store_outage"}
        assert "Connection" in p["skipped"][0]["detail"]
        assert requests.get(f"{srv.url}/readyz", timeout=30).status_code == 503
        # The probe Kubernetes uses does no I/O: it answers at once, degraded but serving.
        t0 = time.perf_counter()
        degraded = requests.get(f"{srv.url}/readyz?allow_degraded=true", timeout=30)
        assert degraded.status_code == 200 and time.perf_counter() - t0 < 1.0
        assert degraded.json()["online_store"]["ok"] is False


def test_promotion_then_rollback_while_requests_run(world: World) -> None:
    from runway.governance import registry

    ensure_production(world.settings, "1")
    settings = world.settings_with(serving={"poll_seconds": 0.2})
    svc, srv = serve(settings, poller=True)
    results: list[tuple[int, str | None, str | None]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(k: int) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    r = srv.predict([row(world, f"S{k % STORES}", f"I{k % ITEMS}")], session)
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                    continue
                p = r.json()["predictions"][0] if r.status_code == 200 else {}
                results.append((r.status_code, p.get("model_version"), p.get("level")))

    with srv:
        wait_for(lambda: svc.models.current().models.get("production") and svc.models.current().models["production"].version == "1", what="v1 in production")
        threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(results) >= 10, what="first requests")
            registry.set_production(settings, settings.model.name, "2", action="promote", reason="test: promotion under load")
            n = len(results)
            wait_for(lambda: any(v == "2" for _, v, _ in results[n:]), what="v2 serving")
            registry.rollback(settings, settings.model.name, reason="test: rollback under load")
            n = len(results)
            wait_for(lambda: len(results) > n + 10 and results[-1][1] == "1", what="v1 serving again")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
    assert not failures
    assert {status for status, _, _ in results} == {200}
    assert {level for _, _, level in results} == {"production"}, "a swap must never send a request to a fallback level"
    versions = [v for _, v, _ in results]
    assert versions[0] == "1" and "2" in versions and versions[-1] == "1"
    first_two, last_two = versions.index("2"), len(versions) - 1 - versions[::-1].index("2")
    assert set(versions[:first_two]) == {"1"} and set(versions[last_two + 1 :]) == {"1"}


def test_request_histogram_counts_every_request(world: World) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    ensure_production(world.settings, "2")
    _, srv = serve(world.settings)  # a new app: its own registry starts at zero
    n = 7
    with srv:
        with requests.Session() as session:
            for k in range(n):
                assert srv.predict([row(world, f"S{k % STORES}")], session).status_code == 200
            srv.predict([{"store_id": 1}], session)  # one 422
        text = requests.get(f"{srv.url}/metrics", timeout=10).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}

    def value(name: str, **labels: str) -> float:
        want = {"use_case": "tiny_demand", "environment": "local", **labels}
        return sum(v for (nm, ls), v in samples.items() if nm == name and all(dict(ls).get(k) == x for k, x in want.items()))

    assert value("runway_serving_request_duration_seconds_count", endpoint="/predict", status="200") == n
    assert value("runway_serving_request_duration_seconds_count", endpoint="/predict", status="422") == 1
    assert value("runway_serving_predictions_total", level="production", source="online") == n
    assert value("runway_serving_errors_total", endpoint="/predict", kind="validation") == 1
    assert value("runway_serving_feature_lookup_duration_seconds_count", store="sqlite", outcome="ok") == n
    assert value("runway_serving_model_info", role="production", version="2") == 1
    assert value("runway_serving_process_resident_memory_bytes") > 0
    assert value("runway_serving_requests_in_flight") == 1  # the /metrics request itself


def test_hybrid_answers_from_batch_predictions_when_the_batch_scored_the_entity(world: World) -> None:
    from runway.serving import predictions as predictions_lib

    ensure_production(world.settings, "2")
    settings = world.settings_with(serving={"use_batch_predictions": True})
    preds = pd.DataFrame(
        {"store_id": ["S0"], "item_id": ["I0"], "date": [world.end], "prediction": [123.5], "served_by": ["production"], "model_version": ["1"]}
    )
    predictions_lib.write_predictions(settings, preds, preds.drop(columns=["prediction"]), world.day)
    _, srv = serve(settings)
    with srv:
        r = srv.predict([row(world), row(world, "S1", "I1"), row(world, date=(world.end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"))])
        assert r.status_code == 200, r.text
        batch, other_entity, other_day = r.json()["predictions"]
    assert batch["source"] == "batch" and batch["prediction"] == 123.5 and batch["model_version"] == "1" and batch["level"] == "production"
    assert batch["batch"] == world.day
    assert other_entity["source"] == "online" and other_entity["model_version"] == "2"
    assert other_day["source"] == "online"


def test_canary_scores_a_sticky_share_and_logs_both_predictions(world: World) -> None:
    ensure_production(world.settings, "2")
    settings = world.settings_with(serving={"canary_share": 0.5})
    svc, srv = serve(settings)
    log = online.canary_log_path(settings)
    log.unlink(missing_ok=True)
    entities = [(f"S{s}", f"I{i}") for s in range(STORES) for i in range(ITEMS)]
    with srv:
        assert svc.models.current().models["canary"].version == "3"
        rows = [row(world, s, i) for s, i in entities]
        first = srv.predict(rows).json()["predictions"]
        srv.predict(rows)
    assert {p["level"] for p in first} == {"production"} and {p["model_version"] for p in first} == {"2"}, "the canary never answers"
    records = online.CanaryLog(log).read()
    chosen = [(r["keys"]["store_id"], r["keys"]["item_id"]) for r in records]
    expected = [e for e in entities if online.entity_bucket({"store_id": e[0], "item_id": e[1]}, ["store_id", "item_id"]) < 0.5]
    assert 0 < len(expected) < len(entities)
    assert chosen == expected + expected, "the same entities, in both requests (sticky)"
    served = {(p["store_id"], p["item_id"]): p["prediction"] for p in first}
    for r in records:
        assert r["served"]["version"] == "2" and r["canary"]["version"] == "3"
        assert r["served"]["prediction"] == pytest.approx(served[(r["keys"]["store_id"], r["keys"]["item_id"])])
        assert np.isfinite(r["canary"]["prediction"]) and r["canary"]["prediction"] != r["served"]["prediction"]


def same_lookups(settings: Settings, rows: list[dict], as_of: list) -> online.FeatureLookup:
    """The direct per-view read and Feast's get_online_features give the same values and states."""
    direct, general = online.FeastFeatureSource(settings), online.FeastFeatureSource(settings, direct=False)
    assert direct._resolved[3] is not None and general._resolved[3] is None, "the plain view takes the direct read"
    a, b = direct.lookup(rows, as_of), general.lookup(rows, as_of)
    assert json.dumps(a.values) == json.dumps(b.values) and a.view_of == b.view_of
    assert a.problems == b.problems
    return a


def test_direct_online_read_equals_feast_get_online_features(world: World) -> None:
    end = world.end.to_pydatetime().replace(tzinfo=online.UTC)
    rows = [{"store_id": s, "item_id": i} for s, i in [("S0", "I0"), ("S9", "I9"), ("S1", "I2"), ("S2", "I3"), ("S0", "I0")]]
    as_of = [end, end, end - pd.Timedelta(days=1), end + pd.Timedelta(days=30), end]
    got = same_lookups(world.settings, rows, as_of)
    assert [[r for _, r, _ in p] for p in got.problems] == [[], ["missing_entity"], ["stale_entity"], ["stale_entity"], []]
    assert got.values["units_sold_lag_14d"][0] == world.online_value("S0", "I0", "units_sold_lag_14d") == got.values["units_sold_lag_14d"][4]
    assert got.values["units_sold_mean_28d"][1] is None


def test_a_pii_entity_key_is_hashed_as_ingestion_hashes_it_and_never_echoed_or_logged(world: World, monkeypatch) -> None:
    """The raw key a client sends finds the row ingestion stored under its
    keyed hash; the response and the canary log carry the hash only."""
    from runway.data import privacy

    key = "integration-pii-key-0123456789"
    monkeypatch.setenv("RUNWAY_TEST_PII_KEY", key)
    raw = "Kq7PiiStore1"
    settings = world.settings_with(
        contract={"columns": {"store_id": {"pii": True}}},
        privacy={"hash_key": "{env:RUNWAY_TEST_PII_KEY}", "columns": {"store_id": "hash"}},
        serving={"canary_share": 1.0},
        environment={"feature_repo": str(world.tmp / "pii_repo"), "feast": {"project": "runwaypii"}},
    )
    table = world.table.assign(store_id=world.table["store_id"].replace({"S1": raw}))
    write_feature_source(settings, privacy.protect(table, settings))  # what ingestion hands the feature pipeline
    materialize(settings, world.end)
    ensure_production(settings, "2")
    log = online.canary_log_path(settings)
    log.unlink(missing_ok=True)
    svc, srv = serve(settings)
    with srv:
        r = srv.predict([row(world, raw, "I2")])
        bad = srv.predict([row(world, raw, "I2", price=-1.0)])
    assert r.status_code == 200, r.text
    (p,) = r.json()["predictions"]
    assert p["level"] == "production", p["skipped"]  # found: the same hash as ingestion's
    assert p["store_id"] == privacy.hash_value(raw, key.encode(), "string") == svc.schema.hasher("store_id", raw)
    assert p["prediction"] == pytest.approx(srv_free_prediction(world, settings, "S1", "I2"))
    assert bad.status_code == 422 and "price" in bad.text
    records = log.read_text()
    assert records.count("\n") == 1 and p["store_id"] in records
    for text in (r.text, bad.text, records):
        assert raw not in text and raw.lower() not in text
    log.unlink()


def srv_free_prediction(world: World, settings: Settings, store: str, item: str) -> float:
    """What the production model predicts from the raw table's features (no store, no server)."""
    from runway.governance import registry

    model = registry.load_verified(settings, settings.model.name, "2")
    t = world.table
    x = t[(t.store_id == store) & (t.item_id == item) & (t.date == world.end)][FEATURES].assign(price=2.5, on_promotion=False)
    return float(np.asarray(model.predict(x[MODEL_INPUTS]), dtype=float)[0])


# ------------------------------------------------------------------ redis --


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("RUNWAY_TEST_REDIS_URL")
    if not url:
        pytest.skip("RUNWAY_TEST_REDIS_URL is not set; set it (e.g. redis://127.0.0.1:6379/15) to run the service against a real Redis online store")
    return url


@pytest.mark.services
def test_redis_online_store_serves(world: World, redis_url: str) -> None:
    import redis

    project = f"rwtest{uuid.uuid4().hex[:8]}"  # the Feast project suffixes every key: our own key space
    settings = world.settings_with(environment={"feast": {"online_store": "redis", "redis_connection": redis_url, "project": project}})
    client = redis.Redis.from_url(redis_url)
    try:
        materialize(settings, world.end)
        assert len(list(client.scan_iter(match=f"*{project}*".encode()))) == STORES * ITEMS, "materialized keys not under the project's key space"
        ensure_production(settings, "2")
        svc, srv = serve(settings)
        with srv:
            r = srv.predict([row(world), row(world, "S9", "I9")])
            assert r.status_code == 200, r.text
            known, unknown = r.json()["predictions"]
            assert known["level"] == "production" and known["model_version"] == "2"
            assert unknown["level"] == "baseline" and {s["reason"] for s in unknown["skipped"]} == {"missing_entity"}
            assert requests.get(f"{srv.url}/readyz", timeout=10).status_code == 200
        assert svc.features.kind == "redis"
        end = world.end.to_pydatetime().replace(tzinfo=online.UTC)
        keys = [{"store_id": s, "item_id": i} for s, i in [("S0", "I0"), ("S9", "I9"), ("S1", "I2")]]
        got = same_lookups(settings, keys, [end, end, end - pd.Timedelta(days=1)])
        assert [[r for _, r, _ in p] for p in got.problems] == [[], ["missing_entity"], ["stale_entity"]]
        assert got.values["units_sold_lag_14d"][0] == world.online_value("S0", "I0", "units_sold_lag_14d")
    finally:
        keys = list(client.scan_iter(match=f"*{project}*".encode()))
        if keys:
            client.delete(*keys)
        assert not list(client.scan_iter(match=f"*{project}*".encode()))
        client.close()


# ------------------------------------------------- pieces, without a server --


def test_poll_keeps_the_models_when_the_registry_fails(world: World) -> None:
    class Flaky:
        fail = False

        def state(self):
            if self.fail:
                raise ConnectionError("registry down")
            return online.RegistryState("7", None, None, {"7": "abc"})

        def load(self, role, version):
            return object()

    backend = Flaky()
    src = online.RegistryModelSource(backend)
    assert src.poll() is True
    first = src.current()
    backend.fail = True
    with pytest.raises(ConnectionError):
        src.poll()
    after = src.current()
    assert after.models["production"] is first.models["production"] and "registry down" in after.error
    backend.fail = False
    assert src.poll() is False and src.current().error is None


def test_classification_baseline_is_the_recorded_prior(world: World) -> None:
    settings = world.settings_with(
        contract={"columns": {"units_sold": {"dtype": "float", "min": 0, "max": 1}}},
        model={"task": "binary_classification", "estimator": "logistic_regression", "clip_min": None},
        evaluation={"primary_metric": "roc_auc", "metrics": ["roc_auc"], "baseline": {"kind": "prior_rate"}},
    )
    rule = online.BaselineRule(settings, FEATURES)
    snap = online.ModelSnapshot(prior_rate=0.27)
    assert rule.predict(None, [0, 1], snap) == ([0.27, 0.27], ["prior_rate", "prior_rate"])
    assert rule.predict(None, [0], online.ModelSnapshot()) == ([0.5], ["default_prior"])


def test_response_is_json_serialisable_with_numpy_values(world: World) -> None:
    ensure_production(world.settings, "2")
    svc = online.build_service(world.settings)
    svc.poll_once()
    out = svc.predict({"rows": [row(world)]})
    json.dumps(out, allow_nan=False)


def test_concurrent_requests_are_scored_together_and_answered_apart(world: World) -> None:
    ensure_production(world.settings, "2")
    svc = online.build_service(world.settings)
    svc.poll_once()
    batcher = online.MicroBatcher(svc)
    requests_ = [
        {"rows": [row(world, "S0", "I0"), row(world, "S1", "I1")]},
        {"rows": [{"store_id": "S0"}]},  # invalid: its own 422, the others go on
        {"rows": [row(world, "S9", "I9")]},
        {"rows": [row(world, "S2", "I3", on_promotion=True)]},
    ]
    futures = [batcher.submit(p) for p in requests_]  # queued before the worker runs: one batch
    batcher.start()
    try:
        answers = []
        for fut in futures:
            try:
                answers.append(json.loads(fut.result(timeout=30)))
            except online.RequestValidationError as exc:
                answers.append(exc)
    finally:
        batcher.stop()
    assert batcher.batches == 1 and batcher.requests == 3
    assert isinstance(answers[1], online.RequestValidationError) and {e["field"] for e in answers[1].errors} == {"item_id", "price", "on_promotion"}
    for payload, answer in zip(requests_, answers, strict=True):
        if isinstance(answer, Exception):
            continue
        alone = svc.predict(payload)
        assert [p["row"] for p in answer["predictions"]] == list(range(len(payload["rows"])))
        assert [(p["level"], p["model_version"], p["store_id"]) for p in answer["predictions"]] == [
            (p["level"], p["model_version"], p["store_id"]) for p in alone["predictions"]
        ]
        assert [p["prediction"] for p in answer["predictions"]] == pytest.approx([p["prediction"] for p in alone["predictions"]])
    assert answers[2]["predictions"][0]["level"] == "baseline"


def test_small_requests_are_scored_together_on_the_loop_and_large_ones_in_the_thread(world: World) -> None:
    import asyncio

    ensure_production(world.settings, "2")
    svc = online.build_service(world.settings)
    svc.poll_once()
    thread = online.MicroBatcher(svc)
    inline = online.LoopBatcher(svc, thread, inline_rows=2)
    small = [
        {"rows": [row(world, "S0", "I0")]},
        {"rows": [{"store_id": "S0", "item_id": "I1", "date": world.day, "price": "cheap", "on_promotion": False}]},  # its own 422
        {"rows": [row(world, "S1", "I2"), row(world, "S2", "I3", on_promotion=True)]},
    ]
    large = {"rows": [row(world, f"S{k % STORES}", f"I{k % ITEMS}") for k in range(5)]}

    async def go() -> list[Any]:
        # submitted in one turn of the loop: one scoring pass for the small ones
        return await asyncio.gather(*(inline.submit(p) for p in [*small, large]), return_exceptions=True)

    try:
        answers = asyncio.run(go())
    finally:
        thread.stop()
    assert inline.batches == 1 and inline.requests == 2, "the two valid small requests: one pass"
    assert thread.requests == 1, "the 5-row request went to the thread"
    assert isinstance(answers[1], online.RequestValidationError) and [e["field"] for e in answers[1].errors] == ["price"]
    for payload, body in zip([small[0], small[2], large], [answers[0], answers[2], answers[3]], strict=True):
        answer = json.loads(body)
        alone = svc.predict(payload)
        assert [(p["row"], p["level"], p["store_id"], p["item_id"]) for p in answer["predictions"]] == [
            (p["row"], p["level"], p["store_id"], p["item_id"]) for p in alone["predictions"]
        ]
        assert [p["prediction"] for p in answer["predictions"]] == pytest.approx([p["prediction"] for p in alone["predictions"]])
        assert {p["level"] for p in answer["predictions"]} == {"production"}
