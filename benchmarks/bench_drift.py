"""Drift check + profiles: Runway's monitoring core vs whylogs and evidently,
on the same data (a benchmark of ``benchmarks/run.py``: ``python
benchmarks/run.py drift``).

Contestants (each run in its own fresh subprocess, reading the same two
parquet files):

* ``runway``    : ``runway.monitoring.drift.drift_report(ref, cur)`` +
                  ``runway.monitoring.profiling.profile_frame`` of both frames
                  (chunked whylogs profiles, 200k rows);
* ``whylogs``   : whylogs' default ``why.log(df).view()`` of both frames
                  (profile only, no drift statistics); the project's venv;
* ``evidently`` : ``Report([DataDriftPreset()]).run(cur, ref)``, from the peer
                  venv ``.venv-bench/`` (evidently 0.7.23 needs pandas < 3).

Data: ``rows`` rows x 25 columns per side (20 numeric, 5 categorical) with
three injected shifts in ``current`` (``num_00`` +0.3 sd, ``price_0`` x1.2,
a new ``region`` value in 20 % of rows).

Values checked (``check``): Runway's and evidently's flagged columns are the
injected ones; Runway's chunked profiles and whylogs' default profiles have
the same counts, null counts, min, max and mean for every column of both
frames.

Module top level: standard library only (the peer venv imports it).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "Drift check and profiles (reference vs current frame, 25 columns)"
INJECTED = ["num_00", "price_0", "region"]
CONTESTANTS = {
    "runway": {"what": "`drift_report` (PSI, KS, JS, chi2, missing, schema) + chunked whylogs profile of both frames", "env": "project"},
    "whylogs": {"what": "default `why.log(df)` profile of both frames (no drift statistics)", "env": "project"},
    "evidently": {"what": "`Report([DataDriftPreset()])` (per-column drift)", "env": "peer"},
}
PEER_REQUIREMENTS = ["evidently==0.7.23", "pandas==2.3.3", "pyarrow"]
PROFILE_STATS = ["counts/n", "counts/null", "distribution/min", "distribution/max", "distribution/mean"]


def cases(smoke: bool, opts: dict) -> list[dict]:
    rows = 20_000 if smoke else int(opts.get("rows", 1_000_000))
    seed = int(opts.get("seed", 0))
    return [
        {
            "name": "drift_smoke" if smoke else "drift",
            "title": TITLE,
            "params": {"rows": rows, "seed": seed},
            "contestants": list(CONTESTANTS),
            "peer": "runway",
            "rows": 2 * rows,
            "rows_label": "rows (both sides)",
            "describe": (
                f"{rows:,} reference rows vs {rows:,} current rows x 25 columns (20 numeric, 5 categorical), parquet; injected shifts in {', '.join(INJECTED)}"
            ),
        }
    ]


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


def build(case: dict, workdir: Path) -> dict:
    ref, cur = make_data(case["params"]["rows"], case["params"]["seed"], workdir)
    return {"reference": str(ref), "current": str(cur)}


# ----------------------------------------------------------- contestants ---


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _profile_stats(view) -> dict:
    frame = view.to_pandas()
    out = {}
    for col, row in frame.iterrows():
        out[str(col)] = {k: (None if row.get(k) is None or row.get(k) != row.get(k) else float(row.get(k))) for k in PROFILE_STATS if k in frame.columns}
    return out


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    if name == "runway":
        sys.path.insert(0, str(ROOT))
        import pandas as pd
        import whylogs

        from runway.monitoring.drift import drift_report
        from runway.monitoring.profiling import profile_frame

        versions = {"pandas": pd.__version__, "whylogs": whylogs.__version__}
    elif name == "whylogs":
        import pandas as pd
        import whylogs as why

        versions = {"pandas": pd.__version__, "whylogs": why.__version__}
    elif name == "evidently":
        import evidently
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset

        versions = {"pandas": pd.__version__, "evidently": evidently.__version__}
    else:
        raise SystemExit(f"unknown contestant {name!r}")
    ref = pd.read_parquet(data["reference"])
    cur = pd.read_parquet(data["current"])
    rss_after_load = _maxrss_mb()

    steps: dict[str, float] = {}
    flagged: list[str] | None = None
    profiles = None
    t0, cpu0 = time.perf_counter(), time.process_time()
    if name == "runway":
        t = time.perf_counter()
        res = drift_report(ref, cur)
        steps["drift_report"] = time.perf_counter() - t
        t = time.perf_counter()
        views = (profile_frame(ref), profile_frame(cur))
        steps["profile_both"] = time.perf_counter() - t
        flagged = sorted(f.feature for f in res.features if f.severity != "ok")
    elif name == "whylogs":
        t = time.perf_counter()
        views = (why.log(ref).view(), why.log(cur).view())
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
        flagged = sorted(flagged)
    compute, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if name != "evidently":
        profiles = {"reference": _profile_stats(views[0]), "current": _profile_stats(views[1])}
    out = outdir / f"{name}.values.json"
    out.write_text(json.dumps({"flagged": flagged, "profiles": profiles}))
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": steps, "versions": versions, "rss_after_load_mb": rss_after_load, "output": str(out)}


# ----------------------------------------------------------------- check ---


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    facts: list[str] = []
    values = {n: json.loads(Path(r["output"]).read_text()) for n, r in results.items()}
    for name in ("runway", "evidently"):
        if name in values:
            got = values[name]["flagged"]
            if got != sorted(INJECTED):
                problems.append(f"{name} flagged {got}, expected the injected {sorted(INJECTED)}")
            else:
                facts.append(f"{name} flagged exactly the injected columns ({', '.join(sorted(INJECTED))})")
    if "runway" in values and "whylogs" in values:
        bad = []
        n = 0
        for side in ("reference", "current"):
            a, b = values["runway"]["profiles"][side], values["whylogs"]["profiles"][side]
            if set(a) != set(b):
                bad.append(f"{side}: columns differ ({sorted(set(a) ^ set(b))})")
                continue
            for col in a:
                for stat in PROFILE_STATS:
                    n += 1
                    if not _close(a[col].get(stat), b[col].get(stat)):
                        bad.append(f"{side}.{col} {stat}: runway {a[col].get(stat)} vs whylogs {b[col].get(stat)}")
        if bad:
            problems.append("runway's and whylogs' profiles differ: " + "; ".join(bad[:5]))
        else:
            facts.append(f"runway's chunked profiles equal whylogs' default ones on {n} statistics ({', '.join(PROFILE_STATS)} of every column, both frames)")
    return problems, facts


if __name__ == "__main__":  # pragma: no cover
    import subprocess

    sys.exit(subprocess.call([sys.executable, str(HERE / "run.py"), "drift", *sys.argv[1:]]))
