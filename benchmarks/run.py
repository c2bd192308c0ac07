#!/usr/bin/env python3
"""Runway's benchmark harness: times contestants on the same data, checks that
they computed the same values, writes ``benchmarks/results.md`` and
``benchmarks/results.json``.

Usage::

    python benchmarks/run.py                  # every benchmark, default sizes, 3 timed runs
    python benchmarks/run.py pit --runs 5     # one benchmark
    python benchmarks/run.py --smoke          # tiny sizes, 1 run, values checked (CI); writes nothing
    python benchmarks/run.py pit --set entity_rows=200000 --set source_rows=400000
    python benchmarks/run.py --list

For each benchmark case the harness builds the data once (in this process),
then runs every contestant once as a warm-up (discarded: page cache, lazy
imports, compiled caches) and ``--runs`` timed runs, contestants interleaved
so that a slow spell of the machine hits all of them. Every run is a fresh
subprocess, so its peak RSS is its own (measured by the child: its
``VmHWM``, or its largest child's ``ru_maxrss``; not ``wait4``'s
``ru_maxrss``, which Linux carries over from the harness at the fork). After
the runs the benchmark's ``check`` compares the values the contestants
returned (never their timings); any disagreement is reported and
makes the command exit 1.

Peers whose pins clash with the project's (evidently for drift) run from
``.venv-bench/`` (next to ``.venv/``), which this command creates and fills
from the benchmarks' ``PEER_REQUIREMENTS`` on first use; ``--no-peer-venv``
skips those peers instead. ``--smoke`` never creates it and skips peers that
are not installed there, saying so.

A benchmark is a module ``benchmarks/bench_<name>.py`` listed in ``REGISTRY``
with:

* ``TITLE`` and ``CONTESTANTS``: ``{name: {"what": str, "env": "project"|"peer"}}``;
* ``PEER_REQUIREMENTS``: pip requirements of the peer venv (optional);
* ``cases(smoke, opts) -> [case]``: each case a dict with ``name``, ``title``,
  ``params``, ``contestants`` (names), ``peer`` (the contestant ratios are
  taken against), ``rows`` and ``rows_label`` (for rows/s), ``describe``;
  ``opts`` holds the ``--set key=value`` overrides;
* ``build(case, workdir) -> data``: writes the case's data, returns a
  JSON-able dict handed to the contestants;
* ``contestant(name, case, data, outdir) -> dict``: runs inside the child;
  returns ``compute_s`` (the timed work only), ``steps``, ``versions`` and
  whatever ``check`` needs (e.g. the path of a file holding its values);
* ``check(case, data, results) -> (problems, facts)``: ``results`` maps each
  contestant to its last timed run's dict; ``problems`` are disagreements,
  ``facts`` describe what was compared.

Module top levels import only the standard library: the peer venv imports
them too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGISTRY = {
    "pit": "bench_pit",
    "drift": "bench_drift",
    "training": "bench_training",
    "batch": "bench_batch",
    "coldstart": "bench_coldstart",
    "serving": "bench_serving_harness",
}
PEER_VENV = ROOT / ".venv-bench"
QUIET_ENV = {  # no telemetry from any contestant
    "WHYLOGS_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "FEAST_USAGE": "False",
}


def load(name: str):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(REGISTRY[name])


# ----------------------------------------------------------------- child ---


def child_main(bench: str, case_path: str, name: str, data_path: str, out_path: str) -> int:
    mod = load(bench)
    case = json.loads(Path(case_path).read_text())
    data = json.loads(Path(data_path).read_text())
    out = Path(out_path)
    res = mod.contestant(name, case, data, out.parent)
    res.setdefault("versions", {})["python"] = platform.python_version()
    own = own_peak_rss_mb()
    if own is not None:
        res["own_peak_rss_mb"] = own
    out.write_text(json.dumps(res))
    return 0


def own_peak_rss_mb() -> float | None:
    """Peak RSS (MB) of this process since its exec, or of its largest child,
    whichever is larger; None where /proc is missing.

    Not ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``exec`` from the
    forked copy of the parent, so a child of a harness that holds 1 GB of
    built data reports at least 1 GB whatever it does itself. ``VmHWM`` is
    the high-water mark of the process's own address space, which ``exec``
    starts afresh. Its children's ``ru_maxrss`` (e.g. a server it started)
    carries over at most this process's own peak, so it is kept as is.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    own = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    if own is None:
        return None
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return max(own, kids) / 1024


# ---------------------------------------------------------------- parent ---


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
    return {"cpu": cpu, "cores": str(cores), "memory": mem, "os": f"{platform.system()} {platform.release()}"}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def peer_python(requirements: list[str], create: bool) -> tuple[str | None, str]:
    """The peer venv's interpreter, created and filled if asked; or None and why."""
    py = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / ".runway-requirements"
    want = "\n".join(sorted(requirements)) + "\n"
    if py.exists() and marker.exists() and marker.read_text() == want:
        return str(py), "installed"
    if not create:
        return None, f"not installed in {PEER_VENV.name}/"
    print(f"creating {PEER_VENV.name}/ with {' '.join(requirements)} ...", flush=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", *requirements], check=True)
    marker.write_text(want)
    return str(py), "installed"


def run_child(python: str, bench: str, case_file: Path, name: str, data_file: Path, outdir: Path, timeout: float) -> dict:
    out = outdir / f"{name}.result.json"
    out.unlink(missing_ok=True)
    log = outdir / f"{name}.log"
    cmd = [python, str(Path(__file__).resolve()), "--child", bench, str(case_file), name, str(data_file), str(out)]
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    t = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text()[-1500:].strip().replace(str(outdir.parent), "<workdir>").replace(str(ROOT), "<repo>")
        why = "timed out" if wall >= timeout else f"exit {proc.returncode}"
        return {"error": f"{why}: {tail}", "process_wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}
    res = json.loads(out.read_text())
    res["process_wall_s"] = wall
    # The child's own figure (see own_peak_rss_mb): wait4's ru_maxrss starts
    # at this process's RSS at the fork, so every contestant would show at
    # least the harness's own peak (the built data).
    res["peak_rss_mb"] = res.pop("own_peak_rss_mb", None) or usage.ru_maxrss / 1024  # KiB on Linux
    return res


def summarise(case: dict, runs: dict[str, list[dict]], skipped: dict[str, str]) -> dict[str, dict]:
    summary: dict[str, dict] = {}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            summary[name] = {"status": "failed", "error": (rs[0]["error"] if rs else "not run")[:600]}
            continue
        times = [r["compute_s"] for r in ok]
        steps = sorted({k for r in ok for k in r.get("steps", {})})
        summary[name] = {
            "status": "ok",
            "runs": len(ok),
            "median_s": statistics.median(times),
            "min_s": min(times),
            "max_s": max(times),
            "rows_per_s": case["rows"] / statistics.median(times) if statistics.median(times) > 0 else None,
            "process_wall_s": statistics.median(r["process_wall_s"] for r in ok),
            "cpu_s": statistics.median(r["compute_cpu_s"] for r in ok) if all("compute_cpu_s" in r for r in ok) else None,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
            "steps": {k: statistics.median(r["steps"][k] for r in ok if k in r.get("steps", {})) for k in steps},
            "versions": ok[-1].get("versions", {}),
        }
        if len(ok) < len(rs):
            summary[name]["failed_runs"] = len(rs) - len(ok)
    peer = summary.get(case["peer"], {})
    for s in summary.values():
        if s.get("status") == "ok" and peer.get("status") == "ok":
            s["ratio_to_peer"] = s["median_s"] / peer["median_s"]
            if s.get("cpu_s") and peer.get("cpu_s"):
                s["cpu_ratio_to_peer"] = s["cpu_s"] / peer["cpu_s"]
    for name, why in skipped.items():
        summary[name] = {"status": "skipped", "note": why}
    return summary


def run_case(mod, bench: str, case: dict, args, notes: list[str]) -> dict:
    print(f"\n== {case['name']}: {case['title']}", flush=True)
    own_tmp = args.workdir is None
    root = Path(tempfile.mkdtemp(prefix=f"runway-bench-{case['name']}-")) if own_tmp else args.workdir / case["name"]
    root.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        data = mod.build(case, root / "data")
        print(f"data ready in {time.perf_counter() - t:.1f}s: {case['describe']}", flush=True)
        case_file, data_file = root / "case.json", root / "data.json"
        case_file.write_text(json.dumps(case))
        data_file.write_text(json.dumps(data))

        pythons: dict[str, str] = {}
        skipped: dict[str, str] = {}
        reqs = list(getattr(mod, "PEER_REQUIREMENTS", []))
        for name in case["contestants"]:
            if args.contestants and name not in args.contestants:
                continue
            if mod.CONTESTANTS[name]["env"] == "project":
                pythons[name] = sys.executable
                continue
            create = not (args.smoke or args.no_peer_venv)
            py, why = peer_python(reqs, create=create)
            if py is None:
                skipped[name] = f"skipped: peer venv {why} ({'--smoke never creates it' if args.smoke else 'run without --no-peer-venv to create it'})"
                print(f"{name}: {skipped[name]}", flush=True)
            else:
                pythons[name] = py

        outdir = root / "out"
        outdir.mkdir(exist_ok=True)
        runs: dict[str, list[dict]] = {n: [] for n in pythons}
        # A case may cap its runs (a long one, or one that is cold by
        # definition such as a first run on a fresh workspace).
        n_warmup, n_runs = min(args.warmup, case.get("warmup", args.warmup)), min(args.runs, case.get("runs", args.runs))
        if (n_warmup, n_runs) != (args.warmup, args.runs):
            print(f"this case runs {n_warmup} warm-up + {n_runs} timed run(s) per contestant", flush=True)
        for _ in range(n_warmup):
            for name, py in pythons.items():
                r = run_child(py, bench, case_file, name, data_file, outdir, args.timeout)
                print(f"warm-up {name}: " + (r["error"][:300] if "error" in r else f"compute {r['compute_s']:.2f}s"), flush=True)
        for i in range(1, n_runs + 1):
            for name, py in pythons.items():
                r = run_child(py, bench, case_file, name, data_file, outdir, args.timeout)
                runs[name].append(r)
                msg = (
                    r["error"][:600]
                    if "error" in r
                    else (f"compute {r['compute_s']:.2f}s, wall {r['process_wall_s']:.1f}s, peak RSS {r['peak_rss_mb']:.0f} MB")
                )
                print(f"run {i}/{n_runs} {name}: {msg}", flush=True)
        summary = summarise(case, runs, skipped)
        last = {n: rs[-1] for n, rs in runs.items() if rs and "error" not in rs[-1]}
        problems, facts = mod.check(case, data, last) if last else (["no contestant finished"], [])
        for p in problems:
            print(f"DISAGREEMENT: {p}", flush=True)
        for f in facts:
            print(f"checked: {f}", flush=True)
    finally:
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)
    failed = [n for n, s in summary.items() if s["status"] == "failed"]
    return {
        "benchmark": bench,
        "title": case["title"],
        "describe": case["describe"],
        "params": case["params"],
        "peer": case["peer"],
        "rows": case["rows"],
        "rows_label": case["rows_label"],
        "what": {n: mod.CONTESTANTS[n]["what"] for n in case["contestants"]},
        "order": list(case["contestants"]),
        "command": "python benchmarks/run.py " + " ".join(args.argv_for_record),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": n_runs,
        "warmup": n_warmup,
        "smoke": args.smoke,
        "machine": {**machine_info(), "load_average_at_end": load_average()},
        "contestants": summary,
        "agreement": {"ok": not problems, "problems": problems, "facts": facts},
        "failed": failed,
        "notes": list(notes),
    }


# ---------------------------------------------------------------- report ---


def _fmt_ratio(s: dict, peer: str, name: str) -> str:
    if name == peer:
        return "1.00 (peer)"
    r = s.get("ratio_to_peer")
    return "" if r is None else f"{r:.2f}"


def _fmt_cpu(s: dict) -> str:
    if s.get("cpu_s") is None:
        return ""
    r = s.get("cpu_ratio_to_peer")
    return f"{s['cpu_s']:.2f}" + ("" if r is None else f" ({r:.2f})")


def render(results: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/run.py` from `results.json` (see `benchmarks/README.md`). Times are the contestant's "
        "own work (after interpreter start, imports and data loading), median of the timed runs with min-max; "
        "*ratio* is the median over the named peer's median in the same run; *CPU s* is the median CPU time (user + "
        "system, all threads) of that work, with its ratio to the peer's: a check on the wall times when the machine is shared; "
        "*peak RSS* is the child process's "
        "peak resident memory (its `VmHWM`, or its largest child's `ru_maxrss`: interpreter, imports, loaded data and work); *process wall* is the whole child "
        "process. Each contestant run is a fresh subprocess, after one untimed warm-up run per contestant.",
    ]
    for key in sorted(results.get("cases", {})):
        c = results["cases"][key]
        m = c["machine"]
        lines += [
            "",
            f"## {c['title']} (`{key}`)",
            "",
            f"* Data: {c['describe']}.",
            f"* Command: `{c['command']}`, {c['date']}; {c['runs']} timed run(s) per contestant after {c['warmup']} warm-up.",
            f"* Machine: {m['cores']} cores ({m['cpu']}), {m['memory']} RAM, {m['os']}; load average at the end {m.get('load_average_at_end', '?')}.",
            "",
            f"| contestant | what | median s [min-max] | ratio vs {c['peer']} | CPU s (ratio) | {c['rows_label']}/s | peak RSS MB | process wall s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        order = [n for n in c.get("order", []) if n in c["contestants"]]
        order += [n for n in c["contestants"] if n not in order]
        for name in order:
            s = c["contestants"][name]
            what = c["what"].get(name, "")
            if s["status"] == "skipped":
                lines.append(f"| {name} | {what} | {s['note']} | | | | | |")
            elif s["status"] == "failed":
                lines.append(f"| {name} | {what} | failed: {s['error'][:200].replace('|', '/')} | | | | | |")
            else:
                rps = f"{s['rows_per_s']:,.0f}" if s.get("rows_per_s") else ""
                lines.append(
                    f"| {name} | {what} | {s['median_s']:.2f} [{s['min_s']:.2f}-{s['max_s']:.2f}] | {_fmt_ratio(s, c['peer'], name)} | "
                    f"{_fmt_cpu(s)} | "
                    f"{rps} | {s['peak_rss_mb']:.0f} | {s['process_wall_s']:.1f} |"
                )
        ag = c["agreement"]
        lines += ["", "Agreement: " + ("all values agree." if ag["ok"] else "**DISAGREEMENT**.")]
        lines += [f"* {p}" for p in ag["problems"]] + [f"* {f}" for f in ag["facts"]]
        steps = [(n, s["steps"]) for n, s in c["contestants"].items() if s.get("steps")]
        if steps:
            lines += ["", "Breakdown (median s):", ""]
            lines += [f"* {n}: " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()) for n, st in steps]
        vers = [(n, s["versions"]) for n, s in c["contestants"].items() if s.get("versions")]
        if vers:
            lines += ["", "Versions:", ""]
            lines += [f"* {n}: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items())) for n, vs in vers]
        if c.get("notes"):
            lines += ["", "Notes:", ""] + [f"* {n}" for n in c["notes"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main ---


def parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _record_argv(argv: list[str]) -> list[str]:
    """The command line without options that name machine paths (and the
    notes, which are shown on their own)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--workdir", "--out-dir", "--note"):
            skip = True
        elif not a.startswith(("--workdir=", "--out-dir=", "--note=")):
            out.append(a)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return child_main(*argv[1:6])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog="See benchmarks/README.md.")
    p.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(REGISTRY)})")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 run, no warm-up; checks values; writes no results unless --out-dir")
    p.add_argument("--runs", type=int, default=3, help="timed runs per contestant (default 3; 1 with --smoke)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up runs per contestant (default 1; 0 with --smoke)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="size/option override for the benchmarks' cases (repeatable)")
    p.add_argument("--contestants", default="", help="comma-separated subset of contestants")
    p.add_argument("--case", default="", help="comma-separated subset of case names")
    p.add_argument("--no-peer-venv", action="store_true", help=f"skip peers that need {PEER_VENV.name}/ instead of creating it")
    p.add_argument("--out-dir", type=Path, default=None, help="where results.md/.json go (default benchmarks/; with --smoke: nowhere)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the data and outputs here (default: a temp dir, removed)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per contestant run (default 3600)")
    p.add_argument("--note", action="append", default=[], help="note for the results file (repeatable)")
    p.add_argument("--list", action="store_true", help="list benchmarks, cases and contestants")
    args = p.parse_args(argv)
    args.argv_for_record = _record_argv(argv)
    if args.smoke:
        args.runs = 1
    if args.warmup is None:
        args.warmup = 0 if args.smoke else 1
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    names = args.names or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {list(REGISTRY)}")
    args.contestants = [c for c in args.contestants.split(",") if c]
    only_cases = [c for c in args.case.split(",") if c]
    opts = parse_sets(args.sets)

    if args.list:
        for n in names:
            mod = load(n)
            print(f"{n}: {mod.TITLE}")
            for case in mod.cases(False, opts):
                print(f"  case {case['name']}: {case['describe']}; peer {case['peer']}; contestants {', '.join(case['contestants'])}")
        return 0

    t0 = time.perf_counter()
    done: dict[str, dict] = {}
    for n in names:
        mod = load(n)
        for case in mod.cases(args.smoke, opts):
            if only_cases and case["name"] not in only_cases:
                continue
            done[case["name"]] = run_case(mod, n, case, args, args.note)
    bad = [k for k, c in done.items() if not c["agreement"]["ok"]]
    failed = {k: c["failed"] for k, c in done.items() if c["failed"]}
    print(f"\n{len(done)} case(s) in {time.perf_counter() - t0:.0f}s", flush=True)

    out_dir = args.out_dir or (None if args.smoke else HERE)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        jpath = out_dir / "results.json"
        results = json.loads(jpath.read_text()) if jpath.exists() else {}
        results.setdefault("cases", {}).update(done)
        results["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
        jpath.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        (out_dir / "results.md").write_text(render(results))
        print(f"wrote {out_dir / 'results.md'} and results.json", flush=True)
    else:
        print(render({"cases": done}))
    if bad:
        print(f"values disagree in: {', '.join(bad)}", file=sys.stderr)
        return 1
    if failed:
        print(f"contestants failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
