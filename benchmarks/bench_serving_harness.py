"""The online load test (``benchmarks/bench_serving.py``, issue 10) as a
benchmark of the harness (``python benchmarks/run.py serving``).

One contestant, ``load_test``: ``bench_serving.main([...,"--json", out])`` in
its own subprocess (it starts the service in a further process and drives it
over HTTP; it measures bare Feast ``get_online_features`` beside it, so its
peer is inside its own run). The harness records the whole load test's wall
time, CPU time and peak RSS; the latencies, throughput and the p99 target
come from the script's own JSON and are listed under the case's facts.
``bench_serving.py`` and ``runway/serving`` are not changed by this wrapper.

``check``: no request failed, and every row was served by the production
model (the script's own counts); the p99 target is reported, not asserted
(a timing).

Module top level: standard library only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "Online scoring load test (bench_serving.py): /predict vs bare get_online_features"
CONTESTANTS = {
    "load_test": {"what": "`benchmarks/bench_serving.py` (service in its own process, HTTP keep-alive clients; bare Feast reads beside it)", "env": "project"},
}


def cases(smoke: bool, opts: dict) -> list[dict]:
    argv = ["--smoke", "--no-sequential", "--entities", "1"] if smoke else [a for a in str(opts.get("serving_args", "")).split() if a]
    return [
        {
            "name": "serving_smoke" if smoke else "serving",
            "title": TITLE,
            "params": {"argv": argv},
            "contestants": ["load_test"],
            "peer": "load_test",
            "rows": 1,
            "rows_label": "load tests",
            "describe": "bench_serving.py "
            + (" ".join(argv) or "(its defaults: 2000 / 500 requests per phase, 10 clients, 1 and 100 entities, SQLite and Redis)"),
            "runs": 1,
            "warmup": 0,
        }
    ]


def build(case: dict, workdir: Path) -> dict:
    return {}


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    if name != "load_test":
        raise SystemExit(f"unknown contestant {name!r}")
    sys.path.insert(0, str(HERE))
    import bench_serving

    out = outdir / "serving.json"
    t0, cpu0 = time.perf_counter(), time.process_time()
    code = bench_serving.main([*case["params"]["argv"], "--json", str(out)])
    compute, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": {}, "versions": {}, "output": str(out), "exit_code": code}


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    facts: list[str] = []
    r = results.get("load_test")
    if r is None:
        return ["the load test did not finish"], facts
    res = json.loads(Path(r["output"]).read_text())
    for p in res.get("phases", []):
        errs = p.get("errors", 0)
        other = sum(v for lvl, v in (p.get("served_rows") or {}).items() if lvl != "production")
        if errs:
            problems.append(f"{p['store']} {p['entities']} entities {p['clients']} clients {p['what']}: {errs} failed requests")
        if other:
            problems.append(f"{p['store']} {p['entities']} entities {p['clients']} clients {p['what']}: {other:.0f} rows not served by the production model")
        p99 = p.get("p99_ms")
        facts.append(
            f"{p['store']}, {p['entities']} entit{'y' if p['entities'] == 1 else 'ies'}/request, {p['clients']} client(s), {p['what']}: "
            f"{p['requests']} requests, p50 {p.get('p50_ms') or 0:.2f} ms, p99 {p99 or 0:.2f} ms, {p.get('req_per_s') or 0:.0f} req/s, {errs} errors"
        )
    for t in res.get("targets", []):
        facts.append(
            f"target ({t['store']}, {t['clients']} client(s)): /predict p99 {t['predict_p99_ms']:.2f} ms vs bare {t['bare_p99_ms']:.2f} ms, "
            f"gap {t['gap_ms']:+.2f} ms (target {t['target_ms']:g} ms): {'met' if t['met'] else 'NOT met'}"
        )
    facts += [f"skipped {s}" for s in res.get("skipped", [])]
    return problems, facts
