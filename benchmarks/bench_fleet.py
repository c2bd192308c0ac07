#!/usr/bin/env python3
"""The fleet pipeline vs a plain Python loop, on the same small tenants.

For each fleet size (default 100 and 1,000 tenants; ``--smoke``: 8), the
retail simulator writes N tenants (1-3 stores x 2-4 items, a year of daily
history, own seeds; untimed). Then, each in a fresh subprocess (wall time
and peak RSS per contestant):

* ``fleet``: ``pipelines.fleet.run_fleet_training`` on a fresh local ZenML
  store: read + contract per tenant, features in one pass, one Feast
  retrieval, pooled model, chunk steps of <= 100 tenants (fits in a process
  pool of ``tenants.workers``), evaluation against the baseline (and
  production), gate, and per tenant a registered version, artifact,
  metadata, run link, stage and decision-log entry.
* ``plain``: one process, a loop over the same tenants' feature frames
  (computed once by the engine, retrieved per chunk of 100 tenants as the
  fleet does; reported apart): time split,
  fit, score the holdout, WAPE vs the seasonal-naive baseline. No registry,
  no gate, no artifacts: the floor the platform's overhead is measured
  against.

Peak RSS: ``ru_maxrss`` of the contestant's process plus its largest child
(the pool's workers). Usage::

    python benchmarks/bench_fleet.py --smoke
    python benchmarks/bench_fleet.py --tenants 100 1000 --out benchmarks/results_fleet.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings(workspace: Path, n: int, smoke: bool):
    from runway.config import load_settings

    over = {
        "simulation": {"tenants": n, "history_days": 364, "bad_batch_tenants": 0, "cold_start_tenants": 0},
        "evaluation": {"bootstrap_samples": 100},
        "environment": {"workspace": str(workspace / "ws"), "feature_repo": str(workspace / "feature_repo"), "zenml": {"config_dir": "zenml"}},
    }
    if smoke:
        over["model"] = {"params": {"max_iter": 30}}
    return load_settings("retail_fleet", "local", over)


def _rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own + kids, 1)


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process, its finished children and
    its live descendants (the fleet's forkserver and its reaped workers): on a
    shared machine the steadier figure beside wall time."""
    import psutil

    def total(t) -> float:
        return t.user + t.system + t.children_user + t.children_system

    me = psutil.Process()
    out = total(me.cpu_times())
    for kid in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            out += total(kid.cpu_times())
    return round(out, 1)


def prepare(workspace: Path, n: int, smoke: bool) -> None:
    import usecases.retail_demand as retail

    shutil.copytree(ROOT / "feature_repo", workspace / "feature_repo", ignore=shutil.ignore_patterns("data", "__pycache__"), dirs_exist_ok=True)
    s = _settings(workspace, n, smoke)
    retail.ensure_fleet_history(s.raw_dir, s)


def run_fleet(workspace: Path, n: int, smoke: bool) -> dict:
    from runway.fleet import tenants as tenants_lib
    from runway.platform import runtime

    s = _settings(workspace, n, smoke)
    runtime.configure(s)
    from pipelines.fleet import run_fleet_training

    ids = tenants_lib.discover(s)
    t0 = time.perf_counter()
    c0 = _cpu_s()
    out = run_fleet_training(s, ids)
    wall = time.perf_counter() - t0
    from runway.fleet.work import shutdown_pool

    shutdown_pool()  # the workers' CPU time reaches their parent once they exit
    return {"seconds": round(wall, 1), "cpu_s": round(_cpu_s() - c0, 1), "rss_mb": _rss_mb(), "counts": out["counts"], "chunks": out["chunks"]}


def run_plain(workspace: Path, n: int, smoke: bool) -> dict:
    import numpy as np

    from runway.evaluation.baselines import baseline_predictions
    from runway.evaluation.metrics import compute
    from runway.features import frames as frames_lib
    from runway.fleet import data as data_lib
    from runway.fleet import features as features_lib
    from runway.fleet import tenants as tenants_lib
    from runway.fleet.work import limit_native_threads
    from runway.modeling import artifact as modeling_lib

    # The fastest plain loop on a shared 2-core machine: one native thread
    # per fit (OpenMP on ~2k rows only adds contention), as the fleet's workers do.
    limit_native_threads()
    s = _settings(workspace, n, smoke)
    ids = tenants_lib.discover(s)
    col = tenants_lib.column(s)
    t0, c0 = time.perf_counter(), _cpu_s()
    hist = data_lib.read_fleet(s, s.streams.history, ids).frame
    features_lib.sync(s, hist)
    t_feat = time.perf_counter() - t0
    t_loop = 0.0
    wapes = []
    # Features retrieved per chunk of tenants, as the fleet does (one
    # retrieval of the whole fleet peaked at ~15 GB at 1,000 tenants).
    for group in tenants_lib.chunks(ids, 100):
        t1 = time.perf_counter()
        frame, feats = features_lib.retrieve(s, hist[hist[col].isin(group)])
        t_feat += time.perf_counter() - t1
        t1 = time.perf_counter()
        for t, f in frame.groupby(col, sort=False):
            h = hist[hist[col] == t].drop(columns=[col]).reset_index(drop=True)
            usable = frames_lib.drop_warmup(f.dropna(subset=[s.target]), s)
            train, holdout = modeling_lib.time_split(usable, s.timestamp, s.split)
            model = modeling_lib.train(train, feats, s.model, s.timestamp)
            p = model.predict(holdout)
            b = baseline_predictions(s, h, holdout.drop(columns=[col]))
            y = holdout[s.target].to_numpy(float)
            wapes.append((compute(y, p, names=["wape"]).get("wape"), compute(y, b, names=["wape"]).get("wape")))
        t_loop += time.perf_counter() - t1
    return {
        "seconds": round(t_feat + t_loop, 1),
        "features_seconds": round(t_feat, 1),
        "loop_seconds": round(t_loop, 1),
        "cpu_s": round(_cpu_s() - c0, 1),
        "rss_mb": _rss_mb(),
        "median_wape": float(np.median([w[0] for w in wapes])),
    }


def _child(variant: str, workspace: Path, n: int, smoke: bool) -> dict:
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "PYTHONPATH": str(ROOT), "ZENML_LOGGING_VERBOSITY": "ERROR"}
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", variant, "--workspace", str(workspace), "--tenants", str(n), *(["--smoke"] if smoke else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} ({n} tenants) failed:\n{proc.stderr[-4000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tenants", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--smoke", action="store_true", help="8 tenants, 30 boosting iterations: a check that it runs")
    p.add_argument("--out", help="write a markdown table here")
    p.add_argument("--child", choices=["prepare", "fleet", "plain"], help=argparse.SUPPRESS)
    p.add_argument("--workspace", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        ws, n = Path(a.workspace), a.tenants[0]
        fn = {"prepare": lambda: prepare(ws, n, a.smoke) or {}, "fleet": lambda: run_fleet(ws, n, a.smoke), "plain": lambda: run_plain(ws, n, a.smoke)}[a.child]
        print(json.dumps(fn()))
        return 0
    sizes = [8] if a.smoke else a.tenants
    rows = []
    for n in sizes:
        ws = Path(tempfile.mkdtemp(prefix=f"runway-bench-fleet-{n}-"))
        try:
            _child("prepare", ws, n, a.smoke)
            plain = _child("plain", ws, n, a.smoke)
            # Both pay the fleet's `feast apply` once (a repeated fleet run skips it: same definitions).
            for marker in (ws / "ws" / "feast").glob("*.applied"):
                marker.unlink()
            fleet = _child("fleet", ws, n, a.smoke)
        finally:
            shutil.rmtree(ws, ignore_errors=True)
        ratio = fleet["seconds"] / plain["seconds"] if plain["seconds"] else float("nan")
        rows.append((n, fleet, plain, ratio))
        print(
            f"{n} tenants: fleet {fleet['seconds']} s, CPU {fleet['cpu_s']} s (peak RSS {fleet['rss_mb']} MB, {fleet['counts']}), "
            f"plain loop {plain['seconds']} s, CPU {plain['cpu_s']} s "
            f"(features {plain['features_seconds']} s + fits {plain['loop_seconds']} s, RSS {plain['rss_mb']} MB); ratio {ratio:.2f}x; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        "| tenants | fleet s (CPU s) | fleet peak RSS MB | plain loop s (features + fits) (CPU s) | plain peak RSS MB "
        "| fleet / plain wall | fleet / plain CPU | outcome |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, f, pl, r in rows:
        cpu = f["cpu_s"] / pl["cpu_s"] if pl["cpu_s"] else float("nan")
        lines.append(
            f"| {n} | {f['seconds']} ({f['cpu_s']}) | {f['rss_mb']} | {pl['seconds']} ({pl['features_seconds']} + {pl['loop_seconds']}) ({pl['cpu_s']}) "
            f"| {pl['rss_mb']} | {r:.2f}x | {cpu:.2f}x | {f['counts']} |"
        )
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
