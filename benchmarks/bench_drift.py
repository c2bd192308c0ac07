#!/usr/bin/env python3
"""Runway's drift check + chunked whylogs profile vs peers, on the same data.

Contestants (each in its own fresh subprocess, reading the same two parquet
files, so wall time and peak RSS are per contestant):

* ``runway``    : ``runway.monitoring.drift.drift_report(ref, cur)`` + ``runway.monitoring.profiling.profile_frame``
                  of both frames (chunked, 200k rows).
* ``whylogs``   : whylogs' default ``why.log(df).view()`` of both frames (profile only,
                  no drift statistics). Same venv as Runway.
* ``evidently`` : ``Report([DataDriftPreset()]).run(cur, ref)``, run with the Python of a
                  separate venv (``--evidently-python``, default ``/work/bench-venv/bin/python``);
                  skipped with a note when that interpreter is missing.

Data: ``--rows`` rows x 25 columns per side (20 numeric, 5 categorical) with three
injected shifts in ``current`` (``num_00`` +0.3 sd, ``price_0`` x1.2, a new
``region`` value in 20 % of rows); each contestant's flagged columns are
reported next to its timings, so speed is not bought with wrong answers.

Usage::

    /work/venv/bin/python benchmarks/bench_drift.py                  # 1M vs 1M, 3 runs
    /work/venv/bin/python benchmarks/bench_drift.py --rows 100000 --runs 1 --out /tmp/r.md

Not part of pytest. Writes ``benchmarks/results.md`` by default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_EVIDENTLY_PY = "/work/bench-venv/bin/python"
INJECTED = ["num_00", "price_0", "region"]
QUIET_ENV = {  # no telemetry from any contestant
    "WHYLOGS_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}


# ------------------------------------------------------------------- data ---


def make_data(rows: int, seed: int, workdir: Path) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    def frame(rng: np.random.Generator, shifted: bool) -> pd.DataFrame:
        n = rows
        cols: dict[str, object] = {}
        for i in range(15):  # standardised features (lags, rolling means...)
            v = rng.normal(0.3 if (shifted and i == 0) else 0.0, 1.0, n)
            if i in (3, 4):
                v[rng.random(n) < 0.01] = np.nan  # a few missing values
            cols[f"num_{i:02d}"] = v
        for i in range(3):
            cols[f"price_{i}"] = np.exp(rng.normal(1.0 + 0.2 * i, 0.4, n)) * (1.2 if (shifted and i == 0) else 1.0)
        for i in range(2):
            cols[f"units_lag_{7 * (i + 1)}"] = rng.poisson(4 + 2 * i, n).astype("int64")
        region = np.array(["north", "south", "east"], dtype=object)[rng.integers(0, 3, n)]
        if shifted:
            region[rng.random(n) < 0.2] = "west"
        cols["region"] = region
        cols["store_id"] = np.char.add("s", rng.integers(0, 50, n).astype(str)).astype(object)
        cols["item_id"] = np.char.add("i", rng.integers(0, 200, n).astype(str)).astype(object)
        cols["weekday"] = np.array(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], dtype=object)[rng.integers(0, 7, n)]
        cols["on_promotion"] = np.where(rng.random(n) < 0.1, "yes", "no").astype(object)
        return pd.DataFrame(cols)

    workdir.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = workdir / f"reference_{rows}.parquet", workdir / f"current_{rows}.parquet"
    if not (ref_path.exists() and cur_path.exists()):
        frame(np.random.default_rng(seed), False).to_parquet(ref_path, index=False)
        frame(np.random.default_rng(seed + 1), True).to_parquet(cur_path, index=False)
    return ref_path, cur_path


# ----------------------------------------------------------- contestants ---


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def contestant_main(name: str, ref_path: str, cur_path: str, result_path: str) -> None:
    """Runs inside the subprocess: import, load, compute, report."""
    t_start = time.perf_counter()
    out: dict[str, object] = {"contestant": name, "python": platform.python_version()}
    if name == "runway":
        sys.path.insert(0, str(ROOT))
        import pandas as pd
        import whylogs

        from runway.monitoring.drift import drift_report
        from runway.monitoring.profiling import profile_frame

        out["versions"] = {"pandas": pd.__version__, "whylogs": whylogs.__version__}
    elif name == "whylogs":
        import pandas as pd
        import whylogs as why

        out["versions"] = {"pandas": pd.__version__, "whylogs": why.__version__}
    elif name == "evidently":
        import evidently
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset

        out["versions"] = {"pandas": pd.__version__, "evidently": evidently.__version__}
    else:
        raise SystemExit(f"unknown contestant {name!r}")
    t_imported = time.perf_counter()
    ref = pd.read_parquet(ref_path)
    cur = pd.read_parquet(cur_path)
    t_loaded = time.perf_counter()
    out["rss_after_load_mb"] = _maxrss_mb()

    steps: dict[str, float] = {}
    flagged: list[str] | None = None
    if name == "runway":
        t = time.perf_counter()
        res = drift_report(ref, cur)
        steps["drift_report"] = time.perf_counter() - t
        t = time.perf_counter()
        profile_frame(ref)
        profile_frame(cur)
        steps["profile_both"] = time.perf_counter() - t
        flagged = [f.feature for f in res.features if f.severity != "ok"]
    elif name == "whylogs":
        t = time.perf_counter()
        why.log(ref).view()
        why.log(cur).view()
        steps["profile_both"] = time.perf_counter() - t
    else:
        t = time.perf_counter()
        snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        d = snap.dict()
        steps["data_drift_preset"] = time.perf_counter() - t
        flagged = []
        for m in d["metrics"]:
            cfg = m.get("config", {})
            if cfg.get("type", "").endswith("ValueDrift"):
                method, thr, val = str(cfg.get("method", "")), cfg.get("threshold"), m.get("value")
                # p-value methods drift below the threshold, distances above it
                is_p = "p_value" in method or "test" in method.lower()
                if val is not None and thr is not None and ((val < thr) if is_p else (val >= thr)):
                    flagged.append(cfg["column"])
    t_end = time.perf_counter()
    out.update(
        import_s=t_imported - t_start,
        load_s=t_loaded - t_imported,
        compute_s=t_end - t_loaded,
        steps=steps,
        peak_rss_mb=_maxrss_mb(),
        flagged=flagged,
    )
    Path(result_path).write_text(json.dumps(out))


def run_contestant(name: str, python: str, ref: Path, cur: Path, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = Path(fh.name)
    cmd = [python, str(Path(__file__).resolve()), "--contestant", name, "--reference", str(ref), "--current", str(cur), "--result", str(result)]
    env = {**os.environ, **QUIET_ENV}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    wall = time.perf_counter() - t
    try:
        if proc.returncode != 0:
            return {"contestant": name, "error": f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}"}
        data = json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
    data["process_wall_s"] = wall
    return data


# --------------------------------------------------------------- report ---


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": str(cores), "memory": mem, "os": platform.platform()}


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    summary = {}
    for name, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            summary[name] = {"error": runs[0].get("error", "no runs") if runs else "not run"}
            continue
        steps = sorted({k for r in ok for k in r["steps"]})
        summary[name] = {
            "runs": len(ok),
            "compute_s": statistics.median(r["compute_s"] for r in ok),
            "compute_min_s": min(r["compute_s"] for r in ok),
            "compute_max_s": max(r["compute_s"] for r in ok),
            "process_wall_s": statistics.median(r["process_wall_s"] for r in ok),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
            "rss_after_load_mb": statistics.median(r["rss_after_load_mb"] for r in ok),
            "steps": {k: statistics.median(r["steps"][k] for r in ok) for k in steps},
            "flagged": ok[-1]["flagged"],
            "versions": ok[-1]["versions"],
            "python": ok[-1]["python"],
        }
    return summary


def render_markdown(summary: dict[str, dict], args: argparse.Namespace, machine: dict[str, str], notes: list[str]) -> str:
    rw = summary.get("runway", {})
    lines = [
        "# Drift benchmark results",
        "",
        (f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} by `benchmarks/bench_drift.py "
         f"--rows {args.rows} --runs {args.runs}`."),
        "",
        (f"* Data: {args.rows:,} reference rows vs {args.rows:,} current rows x 25 columns (20 numeric, 5 categorical), "
         f"parquet; injected shifts in {', '.join(INJECTED)}."),
        f"* Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory']} RAM, {machine['os']}.",
        (f"* Runs: {args.runs} per contestant, each in a fresh subprocess, contestants interleaved; times are medians "
         "(min-max in brackets). *Compute* excludes interpreter start, imports and parquet reading, which are in *process wall*."),
        ("* Peak RSS: `ru_maxrss` of the contestant's process (includes both loaded frames; *after load* is the RSS at "
         "that point, so the difference is the contestant's own working memory)."),
        "",
        "| contestant | what it computes | compute s | process wall s | peak RSS MB | RSS after load MB | compute ratio vs runway | flagged columns |",
        "|---|---|---|---|---|---|---|---|",
    ]
    what = {
        "runway": "drift_report (PSI, KS, JS, chi2, missing, schema) + chunked whylogs profile of both frames",
        "whylogs": "default `why.log(df)` profile of both frames (no drift statistics)",
        "evidently": "`DataDriftPreset` report (per-column drift)",
    }
    for name in ("runway", "whylogs", "evidently"):
        s = summary.get(name)
        if s is None:
            continue
        if "error" in s:
            lines.append(f"| {name} | {what[name]} | failed: {s['error'][:200]} | | | | | |")
            continue
        ratio = s["compute_s"] / rw["compute_s"] if rw.get("compute_s") else float("nan")
        flagged = "n/a (profile only)" if s["flagged"] is None else (", ".join(s["flagged"]) or "none")
        lines.append(
            f"| {name} | {what[name]} | {s['compute_s']:.2f} [{s['compute_min_s']:.2f}-{s['compute_max_s']:.2f}] | "
            f"{s['process_wall_s']:.2f} | {s['peak_rss_mb']:.0f} | {s['rss_after_load_mb']:.0f} | "
            f"{'1.00 (baseline)' if name == 'runway' else f'{ratio:.1f}x slower' if ratio >= 1 else f'{1 / ratio:.1f}x faster'} | {flagged} |"
        )
    lines += ["", "Breakdown (median seconds):", ""]
    for name, s in summary.items():
        if "steps" in s:
            lines.append(f"* {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in s["steps"].items()))
    like = []
    if "steps" in rw and "steps" in summary.get("whylogs", {}):
        like.append(f"* Profile vs profile: whylogs default `why.log` {summary['whylogs']['steps']['profile_both']:.2f} s vs Runway's "
                    f"chunked `profile_frame` {rw['steps']['profile_both']:.2f} s "
                    f"({summary['whylogs']['steps']['profile_both'] / rw['steps']['profile_both']:.1f}x).")
    if "steps" in rw and "steps" in summary.get("evidently", {}):
        like.append(f"* Drift vs drift: evidently `DataDriftPreset` {summary['evidently']['steps']['data_drift_preset']:.2f} s vs Runway's "
                    f"`drift_report` {rw['steps']['drift_report']:.2f} s "
                    f"({summary['evidently']['steps']['data_drift_preset'] / rw['steps']['drift_report']:.1f}x).")
    if like:
        lines += ["", "Like for like:", "", *like]
    lines += ["", "Versions:", ""]
    for name, s in summary.items():
        if "versions" in s:
            lines.append(f"* {name}: Python {s['python']}, " + ", ".join(f"{k} {v}" for k, v in s["versions"].items()))
    if notes:
        lines += ["", "Notes:", "", *[f"* {n}" for n in notes]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- main ---


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Contestants run as subprocesses of this script; see the module docstring.")
    p.add_argument("--rows", type=int, default=1_000_000, help="rows per side (default 1,000,000)")
    p.add_argument("--runs", type=int, default=3, help="runs per contestant (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--contestants", default="runway,whylogs,evidently", help="comma-separated subset (default all)")
    p.add_argument("--evidently-python", default=DEFAULT_EVIDENTLY_PY, help=f"interpreter of a venv with evidently (default {DEFAULT_EVIDENTLY_PY})")
    p.add_argument("--workdir", type=Path, default=None, help="where the parquet files go (default: a temp dir, removed at the end)")
    p.add_argument("--out", type=Path, default=HERE / "results.md", help="markdown results file (default benchmarks/results.md)")
    p.add_argument("--json", type=Path, default=None, help="also write raw per-run results as JSON")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per contestant run")
    p.add_argument("--note", action="append", default=[], help="free-text note for the results file (repeatable)")
    # Internal: the subprocess entry point.
    p.add_argument("--contestant", help=argparse.SUPPRESS)
    p.add_argument("--reference", help=argparse.SUPPRESS)
    p.add_argument("--current", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.contestant:
        contestant_main(args.contestant, args.reference, args.current, args.result)
        return 0
    if args.rows < 100 or args.runs < 1:
        p.error("--rows must be >= 100 and --runs >= 1")

    names = [n.strip() for n in args.contestants.split(",") if n.strip()]
    unknown = set(names) - {"runway", "whylogs", "evidently"}
    if unknown:
        p.error(f"unknown contestants: {sorted(unknown)}")
    notes: list[str] = list(args.note)
    pythons = {"runway": sys.executable, "whylogs": sys.executable, "evidently": args.evidently_python}
    if "evidently" in names and not (shutil.which(args.evidently_python) or Path(args.evidently_python).is_file()):
        notes.append(f"evidently skipped: no interpreter at {args.evidently_python} (create a separate venv with evidently and pandas<3).")
        names.remove("evidently")

    own_tmp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="runway-bench-")) if own_tmp else args.workdir
    try:
        t = time.perf_counter()
        ref, cur = make_data(args.rows, args.seed, workdir)
        print(f"data ready in {time.perf_counter() - t:.1f}s: {ref.stat().st_size / 1e6:.0f} MB + {cur.stat().st_size / 1e6:.0f} MB", flush=True)
        results: dict[str, list[dict]] = {n: [] for n in names}
        for run in range(1, args.runs + 1):
            for name in names:  # interleaved, so slow drifts of the machine hit everyone
                r = run_contestant(name, pythons[name], ref, cur, args.timeout)
                results[name].append(r)
                msg = r.get("error") or f"compute {r['compute_s']:.2f}s, wall {r['process_wall_s']:.2f}s, peak RSS {r['peak_rss_mb']:.0f} MB, flagged {r['flagged']}"
                print(f"run {run}/{args.runs} {name}: {msg}", flush=True)
    finally:
        if own_tmp:
            shutil.rmtree(workdir, ignore_errors=True)

    summary = summarise(results)
    md = render_markdown(summary, args, machine_info(), notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": results}, indent=1))
    print(md)
    return 0 if all("error" not in s for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
