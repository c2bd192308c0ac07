#!/usr/bin/env python3
"""Load test of the online scoring service, with bare Feast as the reference.

One run, same machine, same data, same online store:

* **bare**: ``FeatureStore.get_online_features(features=<service>, entity_rows=...)``
  plus ``.to_dict()``, called in this process from ``--clients`` threads
  (closed loop: each thread calls again as soon as its call returns);
* **/predict**: the real service (``runway.serving.app.create_app`` around
  ``OnlineService``: request validation against the contract, the same Feast
  read with per-row state, the model, the fallback bookkeeping, the metrics,
  JSON both ways) in its own process on ``127.0.0.1``, driven over HTTP
  keep-alive by ``--clients`` concurrent aiohttp clients in this process
  (closed loop).

For 1 and 100 entities per request, on SQLite and, when
``RUNWAY_TEST_REDIS_URL`` is set, on Redis (own Feast project, keys deleted
at the end). Each phase is bounded by ``--requests`` and ``--duration``;
reported: p50/p95/p99/mean latency, throughput, error rate and the rows
that were not served by the production model (read from the service's own
``/metrics``). The target checked: one-entity ``/predict`` p99 within
``--target-ms`` (3 ms) of bare p99 at the same concurrency. A sequential
(1 client) pair is measured too: that difference is the per-request cost
of the service; at 10 clients on a 2-core machine most of a p99 is queueing.

Data: ``--stores`` x ``--items`` entities (default 20 x 50 = 1000), 70 days
of simulated sales, one label-derived view (lags 14/21 days, rolling means
7/28 days of the target), ``price`` and ``on_promotion`` as request
features; the model is the project's artifact trained with
``--estimator`` (default hist_gradient_boosting, 100 iterations).

Usage::

    python benchmarks/bench_serving.py             # full: 2000 / 500 requests per phase
    python benchmarks/bench_serving.py --smoke     # a quick check that it all works
    python benchmarks/bench_serving.py --json /tmp/serving.json --out /tmp/serving.md

Not part of pytest. ``main(argv)`` is the entry point (returns an exit code);
``run(args)`` returns the results as a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")

FEATURES = ["units_sold_lag_14d", "units_sold_lag_21d", "units_sold_mean_7d", "units_sold_mean_28d"]
MODEL_INPUTS = [*FEATURES, "price", "on_promotion"]
DAYS = 70
DAY0 = "2024-03-01"


# ------------------------------------------------------------------- data ---


def use_case(workspace: Path, repo: Path, estimator: str, online: str = "sqlite", redis: str | None = None, project: str = "bench") -> dict[str, Any]:
    params = {"max_iter": 100} if estimator == "hist_gradient_boosting" else {}
    feast = {"registry": "feast/registry.db", "online_store": online, "project": project}
    if redis:
        feast["redis_connection"] = redis
    return {
        "use_case": "bench_demand",
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
            "service": "bench_demand",
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
        "model": {"name": "bench-model", "task": "regression", "target": "units_sold", "estimator": estimator, "params": params, "clip_min": 0},
        "evaluation": {"primary_metric": "wape", "metrics": ["wape"], "baseline": {"kind": "seasonal_naive", "period_days": 7}},
        "serving": {"max_entities_per_request": 1000},
        "environment": {"name": "local", "workspace": str(workspace), "feature_repo": str(repo), "zenml": {"config_dir": None}, "feast": feast},
    }


def build_data(stores: int, items: int, seed: int = 11):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [[f"S{s:03d}" for s in range(stores)], [f"I{i:03d}" for i in range(items)], range(DAYS)], names=["store_id", "item_id", "d"]
    ).to_frame(index=False)
    base = rng.uniform(3, 15, stores * items).repeat(DAYS)
    weekday = 1 + 0.3 * np.sin(2 * np.pi * idx["d"].to_numpy() / 7)
    promo = rng.random(len(idx)) < 0.2
    price = rng.uniform(1, 5, len(idx)).round(2)
    units = rng.poisson(base * weekday * (1 + 0.5 * promo) * (3 / price) ** 0.3).astype(float)
    f = pd.DataFrame(
        {
            "date": pd.Timestamp(DAY0) + pd.to_timedelta(idx["d"], unit="D"),
            "store_id": idx["store_id"],
            "item_id": idx["item_id"],
            "price": price,
            "on_promotion": promo,
            "units_sold": units,
        }
    )
    g = f.groupby(["store_id", "item_id"])["units_sold"]
    f["units_sold_lag_14d"] = g.shift(14)
    f["units_sold_lag_21d"] = g.shift(21)
    shifted = g.shift(14)
    key = [f["store_id"], f["item_id"]]
    f["units_sold_mean_7d"] = shifted.groupby(key).transform(lambda s: s.rolling(7, min_periods=4).mean())
    f["units_sold_mean_28d"] = shifted.groupby(key).transform(lambda s: s.rolling(28, min_periods=14).mean())
    return f


def write_and_materialize(settings, table) -> Any:
    import pandas as pd

    from runway.features import store as fs

    settings.feature_repo.mkdir(parents=True, exist_ok=True)
    out = fs.feature_data_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    t = table[["store_id", "item_id", "date", *FEATURES]].rename(columns={"date": "event_timestamp"})
    t["event_timestamp"] = pd.to_datetime(t["event_timestamp"]).dt.tz_localize("UTC")
    t["created_timestamp"] = t["event_timestamp"]
    t.to_parquet(out / "sales_history.parquet", index=False)
    store = fs.open_store(settings)
    fs.apply(store, settings)
    fs.materialize(store, table["date"].max().to_pydatetime())
    return store


# ----------------------------------------------------------------- server ---


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_worker(config_path: str) -> None:
    """Child process: the real app around fixed, sha256-verified models."""
    import uvicorn

    from runway.config import Settings
    from runway.modeling.artifact import deserialize_verified
    from runway.serving.app import create_app
    from runway.serving.online import FeastFeatureSource, OnlineService, StaticModelSource

    cfg = json.loads(Path(config_path).read_text())
    settings = Settings.model_validate(cfg["settings"])
    model = deserialize_verified(Path(cfg["model_path"]).read_bytes(), cfg["model_sha256"])
    service = OnlineService(settings, StaticModelSource({"production": ("1", model)}, {"production": cfg["model_sha256"]}), FeastFeatureSource(settings))
    app = create_app(settings, service)
    uvicorn.run(app, host="127.0.0.1", port=int(cfg["port"]), log_level="warning", access_log=False, server_header=False)


class ServerProcess:
    def __init__(self, workdir: Path, settings_dict: dict, model_path: Path, sha: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / f"serve-{self.port}.json"
        self.config.write_text(json.dumps({"settings": settings_dict, "model_path": str(model_path), "model_sha256": sha, "port": self.port}))
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_serve", str(self.config)], env=env)
        import urllib.request

        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:  # noqa: S310 - http://127.0.0.1 built here
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("service not ready after 120 s")
            time.sleep(0.2)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as r:  # noqa: S310 - http://127.0.0.1 built here
            text = r.read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ----------------------------------------------------------------- phases ---


def _summary(latencies: list[float], errors: int, wall: float, rows_per_request: int) -> dict[str, Any]:
    n = len(latencies) + errors
    lat = sorted(latencies)

    def pct(p: float) -> float | None:
        if not lat:
            return None
        return lat[min(len(lat) - 1, max(0, round(p / 100 * len(lat) + 0.5) - 1))] * 1000

    return {
        "requests": n,
        "errors": errors,
        "error_rate": errors / n if n else None,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else None,
        "max_ms": lat[-1] * 1000 if lat else None,
        "wall_s": wall,
        "req_per_s": n / wall if wall else None,
        "rows_per_s": n * rows_per_request / wall if wall else None,
    }


def bare_phase(store, service, rows_pool: list[list[dict]], clients: int, n: int, duration: float, warmup: int) -> dict[str, Any]:
    for i in range(warmup):
        store.get_online_features(features=service, entity_rows=rows_pool[i % len(rows_pool)]).to_dict()
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + duration

    def worker() -> None:
        mine, bad = [], 0
        while True:
            i = next(counter)
            if i >= n or time.perf_counter() > deadline:
                break
            rows = rows_pool[i % len(rows_pool)]
            t0 = time.perf_counter()
            try:
                store.get_online_features(features=service, entity_rows=rows).to_dict()
                mine.append(time.perf_counter() - t0)
            except Exception:  # noqa: BLE001
                bad += 1
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start, cpu0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = _summary(latencies, errors[0], time.perf_counter() - start, len(rows_pool[0]))
    done = len(latencies) + errors[0]
    out["cpu_ms_per_request"] = (time.process_time() - cpu0) * 1000 / done if done else None
    return out


def http_phase(url: str, bodies: list[bytes], clients: int, n: int, duration: float, warmup: int, rows_per_request: int) -> dict[str, Any]:
    import aiohttp

    async def go() -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        connector = aiohttp.TCPConnector(limit=clients, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            for i in range(warmup):
                async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                    await r.read()
            counter = itertools.count()
            latencies: list[float] = []
            errors = 0
            deadline = time.perf_counter() + duration

            async def worker() -> None:
                nonlocal errors
                while True:
                    i = next(counter)
                    if i >= n or time.perf_counter() > deadline:
                        return
                    t0 = time.perf_counter()
                    try:
                        async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                            await r.read()
                            ok = r.status == 200
                    except Exception:  # noqa: BLE001
                        ok = False
                    if ok:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            return _summary(latencies, errors, time.perf_counter() - start, rows_per_request)

    return asyncio.run(go())


def http_get_phase(url: str, n: int, duration: float, warmup: int) -> dict[str, Any]:
    """One client, GET: what HTTP (client and server) costs without any work."""
    import aiohttp

    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            for _ in range(warmup):
                async with session.get(url) as r:
                    await r.read()
            latencies, errors = [], 0
            deadline = time.perf_counter() + duration
            start = time.perf_counter()
            for _ in range(n):
                if time.perf_counter() > deadline:
                    break
                t0 = time.perf_counter()
                async with session.get(url) as r:
                    await r.read()
                    if r.status == 200:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1
            return _summary(latencies, errors, time.perf_counter() - start, 0)

    return asyncio.run(go())


def _server_mean_ms(before: dict, after: dict) -> float | None:
    """Mean /predict time inside the service (its own histogram: request in to response out)."""
    total = {"sum": 0.0, "count": 0.0}
    for (name, labels), v in after.items():
        lab = dict(labels)
        if lab.get("endpoint") == "/predict" and lab.get("status") == "200":
            for part in total:
                if name == f"runway_serving_request_duration_seconds_{part}":
                    total[part] += v - before.get((name, labels), 0.0)
    return total["sum"] / total["count"] * 1000 if total["count"] else None


def _server_p99_ms(before: dict, after: dict) -> float | None:
    """The service's own p99 of /predict (200s), as the upper edge of the
    histogram bucket it falls in: tells the service's tail from the
    transport's (client, kernel, scheduler)."""
    counts: dict[float, float] = {}
    for (name, labels), v in after.items():
        lab = dict(labels)
        if name == "runway_serving_request_duration_seconds_bucket" and lab.get("endpoint") == "/predict" and lab.get("status") == "200":
            le = float(lab["le"])
            counts[le] = counts.get(le, 0.0) + v - before.get((name, labels), 0.0)
    total = counts.get(float("inf"), 0.0)
    if not total:
        return None
    for le in sorted(counts):
        if counts[le] >= 0.99 * total:
            return le * 1000
    return None


def _server_cpu_ms(before: dict, after: dict, requests: int) -> float | None:
    """CPU time of the service process per request (its process_cpu_seconds_total):
    what a request costs the service whatever else the machine runs."""
    name = "runway_serving_process_cpu_seconds_total"
    spent = sum(v - before.get((n, labels), 0.0) for (n, labels), v in after.items() if n == name)
    return spent * 1000 / requests if requests else None


def _served_rows(before: dict, after: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), v in after.items():
        if name == "runway_serving_predictions_total":
            level = dict(labels)["level"]
            out[level] = out.get(level, 0.0) + v - before.get((name, labels), 0.0)
    return out


# -------------------------------------------------------------------- run ---


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from runway.config import Settings
    from runway.modeling import artifact

    work = Path(tempfile.mkdtemp(prefix="runway-bench-serving-"))
    rng = np.random.default_rng(5)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_before": os.getloadavg()},
        "config": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "phases": [],
    }
    redis_url = os.environ.get("RUNWAY_TEST_REDIS_URL")
    backends = ["sqlite"] + (["redis"] if redis_url and not args.no_redis else [])
    results["skipped"] = [] if "redis" in backends else ["redis: RUNWAY_TEST_REDIS_URL is not set" if not redis_url else "redis: --no-redis"]
    redis_cleanup: list[tuple[str, str]] = []
    try:
        t0 = time.perf_counter()
        table = build_data(args.stores, args.items)
        base = use_case(work / "ws", work / "repo", args.estimator)
        settings = Settings.model_validate(base)
        labelled = table.dropna(subset=FEATURES)
        model = artifact.train(labelled, MODEL_INPUTS, settings.model, "date")
        blob = artifact.serialize(model)
        sha = artifact.sha256_bytes(blob)
        model_path = work / "model.pkl"
        model_path.write_bytes(blob)
        results["setup_s"] = {"data_and_model": round(time.perf_counter() - t0, 1)}
        entities = table[["store_id", "item_id"]].drop_duplicates().to_dict("records")
        day = table["date"].max().strftime("%Y-%m-%d")
        sizes = [int(x) for x in args.entities.split(",")]
        pools: dict[int, list[list[dict]]] = {}
        for k in sizes:
            pools[k] = [[entities[j] for j in rng.choice(len(entities), size=k, replace=False)] for _ in range(args.pool)]
        bodies = {
            k: [
                json.dumps(
                    {"rows": [{**e, "date": day, "price": float(round(rng.uniform(1, 5), 2)), "on_promotion": bool(rng.random() < 0.2)} for e in rows]}
                ).encode()
                for rows in pools[k]
            ]
            for k in sizes
        }

        for backend in backends:
            t1 = time.perf_counter()
            if backend == "redis":
                project = f"bench{uuid.uuid4().hex[:8]}"
                sdict = use_case(work / "ws", work / "repo", args.estimator, online="redis", redis=redis_url, project=project)
                redis_cleanup.append((redis_url, project))
            else:
                sdict = base
            s = Settings.model_validate(sdict)
            store = write_and_materialize(s, table)
            service = store.get_feature_service(s.features.service_name)
            results["setup_s"][f"feast_{backend}"] = round(time.perf_counter() - t1, 1)
            with ServerProcess(work, sdict, model_path, sha) as server:
                for k in sizes:
                    n = args.requests if k == 1 else args.requests_many
                    concurrencies = [args.clients] + ([1] if k == 1 and args.sequential and args.clients != 1 else [])
                    for c in concurrencies:
                        bare = bare_phase(store, service, pools[k], c, n, args.duration, args.warmup)
                        before = server.metrics()
                        pred = http_phase(f"{server.url}/predict", bodies[k], c, n, args.duration, args.warmup, k)
                        after = server.metrics()
                        pred["served_rows"] = _served_rows(before, after)
                        pred["server_mean_ms"] = _server_mean_ms(before, after)
                        pred["server_p99_ms"] = _server_p99_ms(before, after)
                        pred["cpu_ms_per_request"] = _server_cpu_ms(before, after, pred["requests"])
                        for what, r in (("bare get_online_features", bare), ("/predict", pred)):
                            results["phases"].append({"store": backend, "entities": k, "clients": c, "what": what, **r})
                        print(
                            f"  {backend:6} {k:>3} entities, {c:>2} clients: bare p99 {bare['p99_ms']:.2f} ms, /predict p99 {pred['p99_ms']:.2f} ms",
                            file=sys.stderr,
                            flush=True,
                        )
                if args.sequential:
                    hz = http_get_phase(f"{server.url}/healthz", args.requests, args.duration, args.warmup)
                    results["phases"].append({"store": backend, "entities": 0, "clients": 1, "what": "GET /healthz (HTTP floor)", **hz})
                rss = [v for (nm, _), v in server.metrics().items() if nm == "runway_serving_process_resident_memory_bytes"]
                results.setdefault("service_rss_mb", {})[backend] = round(rss[0] / 2**20) if rss else None
    finally:
        for url, project in redis_cleanup:
            try:
                import redis

                client = redis.Redis.from_url(url)
                keys = list(client.scan_iter(match=f"*{project}*".encode()))
                if keys:
                    client.delete(*keys)
                client.close()
            except Exception as exc:  # noqa: BLE001
                print(f"warning: could not delete the Redis keys of Feast project {project}: {exc}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg_after"] = os.getloadavg()
    results["targets"] = _targets(results, args.target_ms, args.clients)
    return results


def _targets(results: dict, target_ms: float, clients: int) -> list[dict[str, Any]]:
    out = []
    by = {(p["store"], p["entities"], p["clients"], p["what"]): p for p in results["phases"]}
    for (store, k, c, what), p in by.items():
        if k != 1 or what != "/predict":
            continue
        bare = by.get((store, k, c, "bare get_online_features"))
        if not bare or p["p99_ms"] is None or bare["p99_ms"] is None:
            continue
        gap = p["p99_ms"] - bare["p99_ms"]
        out.append(
            {
                "store": store,
                "clients": c,
                "bare_p99_ms": bare["p99_ms"],
                "predict_p99_ms": p["p99_ms"],
                "gap_ms": gap,
                "target_ms": target_ms,
                "met": gap <= target_ms,
            }
        )
    return out


def render(results: dict[str, Any]) -> str:
    def f(x, nd=2):
        return "-" if x is None else f"{x:.{nd}f}"

    m, cfg = results["machine"], results["config"]
    lines = [
        "# Online scoring service: load test",
        "",
        f"Run {results['started']} on {m['platform']}, Python {m['python']}, {m['cpus']} CPUs; "
        f"load average before {', '.join(f'{x:.2f}' for x in m['loadavg_before'])}, after {', '.join(f'{x:.2f}' for x in m['loadavg_after'])} "
        "(other processes shared the cores: figures are for this machine at that moment).",
        "",
        f"Closed loop, bounded by {cfg['requests']} (1 entity) / {cfg['requests_many']} (more) requests or {cfg['duration']} s per phase; "
        f"model `{cfg['estimator']}`; {cfg['stores'] * cfg['items']} entities materialized. "
        "Bare = `get_online_features(...).to_dict()` in-process from threads; "
        "/predict = HTTP keep-alive from aiohttp clients to the service in its own process; "
        "server mean = the service's own request histogram (request in to response out, queueing in the service included); "
        "server p99 <= = the upper edge of that histogram's bucket holding the p99.",
        "",
        "CPU ms/req = CPU time per request of the process doing the work (bare: this process; /predict: the service, from its "
        "process_cpu_seconds_total), which a busy machine does not inflate the way it inflates wall-clock latency.",
        "",
        "| store | entities/req | clients | what | requests | p50 ms | p95 ms | p99 ms | mean ms | server mean ms | server p99 <= ms | CPU ms/req "
        "| req/s | rows/s | errors | rows not by production |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in results["phases"]:
        served = p.get("served_rows")
        other = "-" if served is None else f"{sum(v for lvl, v in served.items() if lvl != 'production'):.0f}"
        lines.append(
            f"| {p['store']} | {p['entities']} | {p['clients']} | {p['what']} | {p['requests']} | "
            f"{f(p['p50_ms'])} | {f(p['p95_ms'])} | {f(p['p99_ms'])} | {f(p['mean_ms'])} | {f(p.get('server_mean_ms'))} | "
            f"{f(p.get('server_p99_ms'), 1)} | {f(p.get('cpu_ms_per_request'))} | "
            f"{f(p['req_per_s'], 0)} | {f(p['rows_per_s'], 0)} | {p['errors']} ({f((p['error_rate'] or 0) * 100, 1)}%) | {other} |"
        )
    lines += ["", "Target: one-entity /predict p99 within the target of bare get_online_features p99 at the same concurrency.", ""]
    for t in results["targets"]:
        lines.append(
            f"* {t['store']}, {t['clients']} client(s): bare p99 {t['bare_p99_ms']:.2f} ms, /predict p99 {t['predict_p99_ms']:.2f} ms, "
            f"gap {t['gap_ms']:+.2f} ms (target {t['target_ms']:g} ms): **{'met' if t['met'] else 'NOT met'}**"
        )
    for s in results.get("skipped", []):
        lines.append(f"* skipped {s}")
    if results.get("service_rss_mb"):
        lines.append(f"* service resident memory after the run: {', '.join(f'{k} {v} MB' for k, v in results['service_rss_mb'].items())}")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny run: 60/20 requests per phase, 5 s cap, 200 entities")
    p.add_argument("--requests", type=int, default=2000, help="requests per one-entity phase (default 2000)")
    p.add_argument("--requests-many", type=int, default=500, help="requests per phase with more entities (default 500)")
    p.add_argument("--duration", type=float, default=30.0, help="cap in seconds per phase (default 30)")
    p.add_argument("--clients", type=int, default=10, help="concurrent clients (default 10)")
    p.add_argument("--entities", default="1,100", help="entities per request, comma-separated (default 1,100)")
    p.add_argument("--no-sequential", dest="sequential", action="store_false", help="skip the 1-client pair of the one-entity case")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured requests before each phase (default 50)")
    p.add_argument("--pool", type=int, default=200, help="distinct prebuilt requests cycled through (default 200)")
    p.add_argument("--stores", type=int, default=20)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--estimator", default="hist_gradient_boosting", choices=["hist_gradient_boosting", "random_forest", "ridge"])
    p.add_argument("--target-ms", type=float, default=3.0, help="allowed p99 gap, one entity (default 3)")
    p.add_argument("--no-redis", action="store_true", help="SQLite only, even with RUNWAY_TEST_REDIS_URL set")
    p.add_argument("--json", help="write the raw results here")
    p.add_argument("--out", help="write the markdown report here (default: stdout only)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    p.add_argument("--_serve", dest="serve_config", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve_config:
        serve_worker(args.serve_config)
        return 0
    if args.smoke:
        args.requests, args.requests_many, args.duration, args.warmup, args.pool = 60, 20, 5.0, 10, 20
        args.stores, args.items = 10, 20
    results = run(args)
    report = render(results)
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    errors = sum(p["errors"] for p in results["phases"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
