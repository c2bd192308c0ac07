"""Drift check + profiles: Runway's monitoring core vs whylogs and evidently,
on the same data (a benchmark of ``benchmarks/run.py``: ``python
benchmarks/run.py drift``).

Case ``drift`` (peer ``runway_window``); each contestant runs in its own fresh
subprocess, reading the same parquet files:

* ``runway_window``: the whole monitoring computation of one window: the
                  current frame's whylogs profile (``profile_frame``), the
                  drift statistics (``drift_report``) and the output drift
                  (``drift_report`` of the prediction column). What training
                  stores is read, not built: the reference profile (before
                  the clock) and the prepared references of the inputs and
                  the predictions (``prepare_reference``: sorted numeric
                  columns, category counts, schema), loaded inside the timed
                  part under the key they were stored with;
* ``runway``    : ``runway.monitoring.drift.drift_report(ref, cur)`` +
                  ``runway.monitoring.profiling.profile_frame`` of both frames
                  (chunked whylogs profiles, 200k rows);
* ``whylogs``   : whylogs' default ``why.log(df).view()`` of both frames
                  (profile only, no drift statistics); the project's venv;
* ``evidently`` : ``Report([DataDriftPreset()]).run(cur, ref)``, from the peer
                  venv ``.venv-bench/`` (evidently 0.7.23 needs pandas < 3).

Case ``drift_stats`` (peer ``floor``): the drift statistics alone.

* ``runway_drift``: ``drift_report(ref, cur)`` (PSI, KS, JS, chi-square,
                  missing rate, schema, severities);
* ``floor``     : numpy/scipy written for this schema, no framework: per
                  numeric column ``np.quantile`` edges of the reference, bin
                  counts, PSI with the same eps smoothing, and
                  ``scipy.stats.ks_2samp``; per categorical column the category
                  frequencies' PSI; columns on a thread pool like Runway's.

Data: ``rows`` rows x 25 columns per side (20 numeric, 5 categorical) with
three injected shifts in ``current`` (``num_00`` +0.3 sd, ``price_0`` x1.2,
a new ``region`` value in 20 % of rows).

Values checked (``check``): Runway's and evidently's flagged columns are the
injected ones; Runway's chunked profiles and whylogs' default profiles have
the same counts, null counts, min, max and mean for every column of both
frames (the window's current profile against whylogs' current one); the
window's drift statistics (from the prepared reference) equal ``runway``'s
(from the reference frame) exactly; in ``drift_stats`` every PSI
(numeric and categorical) and KS statistic equals the floor's (relative
1e-9), and the window's output drift flags the shifted predictions.

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
CATEGORICAL = ["region", "store_id", "item_id", "weekday", "on_promotion"]
CONTESTANTS = {
    "runway_window": {
        "what": "one window: whylogs profile of the current frame + `drift_report` + output drift vs prepared references stored at training (loaded, timed)",
        "env": "project",
    },
    "runway_drift": {"what": "`drift_report` alone (PSI numeric + categorical, KS, JS, chi2, missing, schema, severities)", "env": "project"},
    "floor": {"what": "numpy/scipy floor: quantile-bin PSI (same eps), `scipy.stats.ks_2samp`, categorical PSI; thread pool", "env": "project"},
    "runway": {"what": "`drift_report` (PSI, KS, JS, chi2, missing, schema) + chunked whylogs profile of both frames", "env": "project"},
    "whylogs": {"what": "default `why.log(df)` profile of both frames (no drift statistics)", "env": "project"},
    "evidently": {"what": "`Report([DataDriftPreset()])` (per-column drift)", "env": "peer"},
}
PEER_REQUIREMENTS = ["evidently==0.7.23", "pandas==2.3.3", "pyarrow"]
PROFILE_STATS = ["counts/n", "counts/null", "distribution/min", "distribution/max", "distribution/mean"]


def cases(smoke: bool, opts: dict) -> list[dict]:
    rows = 20_000 if smoke else int(opts.get("rows", 1_000_000))
    seed = int(opts.get("seed", 0))
    sfx = "_smoke" if smoke else ""
    describe = f"{rows:,} reference rows vs {rows:,} current rows x 25 columns (20 numeric, 5 categorical), parquet; injected shifts in {', '.join(INJECTED)}"
    return [
        {
            "name": f"drift{sfx}",
            "title": TITLE,
            "params": {"rows": rows, "seed": seed},
            "contestants": ["runway_window", "runway", "whylogs", "evidently"],
            "peer": "runway_window",
            "rows": 2 * rows,
            "rows_label": "rows (both sides)",
            "describe": describe + "; plus a prediction column per side for output drift",
        },
        {
            "name": f"drift_stats{sfx}",
            "title": "Drift statistics alone vs a numpy/scipy floor (PSI + KS, 25 columns)",
            "params": {"rows": rows, "seed": seed},
            "contestants": ["runway_drift", "floor"],
            "peer": "floor",
            "rows": 2 * rows,
            "rows_label": "rows (both sides)",
            "describe": describe,
        },
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


def _predictions(frame) -> object:
    """A model's output for the window: a fixed linear score of a few inputs
    (the current side's shifted num_00 and price_0 move it)."""
    import numpy as np

    return (2.0 + 0.8 * frame["num_00"].to_numpy() + 0.5 * np.log(frame["price_0"].to_numpy()) + 0.1 * frame["units_lag_7"].to_numpy()).astype("float64")


def build(case: dict, workdir: Path) -> dict:
    import pandas as pd

    rows = case["params"]["rows"]
    ref, cur = make_data(rows, case["params"]["seed"], workdir)
    out = {"reference": str(ref), "current": str(cur)}
    if not case["name"].startswith("drift_stats"):
        sys.path.insert(0, str(ROOT))
        from runway.monitoring.drift import prepare_reference, reference_fingerprint, save_prepared_reference
        from runway.monitoring.profiling import profile_frame, save_profile

        ref_df, cur_df = pd.read_parquet(ref), pd.read_parquet(cur)
        pred = {"reference": workdir / f"ref_pred_{rows}.parquet", "current": workdir / f"cur_pred_{rows}.parquet"}
        pd.DataFrame({"prediction": _predictions(ref_df)}).to_parquet(pred["reference"], index=False)
        pd.DataFrame({"prediction": _predictions(cur_df)}).to_parquet(pred["current"], index=False)
        # What training stores (untimed here, as in the product): the reference
        # profile, and the reference side of the drift statistics prepared once
        # for the inputs and for the predictions, each under the key of the
        # exact frame it was built from (the window loads it by that key).
        profile = save_profile(profile_frame(ref_df), workdir / f"reference_{rows}.whylogs.bin")
        ref_pred = pd.read_parquet(pred["reference"])
        keys = {"reference_key": reference_fingerprint(ref_df), "reference_predictions_key": reference_fingerprint(ref_pred)}
        prepared = save_prepared_reference(prepare_reference(ref_df, key=keys["reference_key"]), workdir / f"reference_{rows}.prepared.bin")
        prepared_pred = save_prepared_reference(prepare_reference(ref_pred, key=keys["reference_predictions_key"]), workdir / f"ref_pred_{rows}.prepared.bin")
        out.update(
            reference_predictions=str(pred["reference"]),
            current_predictions=str(pred["current"]),
            reference_profile=str(profile),
            prepared_reference=str(prepared),
            prepared_reference_predictions=str(prepared_pred),
            **keys,
        )
    return out


# ----------------------------------------------------------- contestants ---


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _profile_stats(view) -> dict:
    frame = view.to_pandas()
    out = {}
    for col, row in frame.iterrows():
        out[str(col)] = {k: (None if row.get(k) is None or row.get(k) != row.get(k) else float(row.get(k))) for k in PROFILE_STATS if k in frame.columns}
    return out


def floor_statistics(ref, cur, bins: int = 10, eps: float = 1e-4) -> dict[str, dict[str, float]]:
    """The floor: textbook numpy/scipy PSI and KS per column, no framework.
    Same definitions as Runway's (reference-quantile edges with numpy's
    default interpolation, duplicate edges merged, open outer bins, empty bins
    set to ``eps``; categories seen on either side), so values must agree."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from scipy import stats

    def psi_counts(rc, cc):
        p, q = rc / rc.sum(), cc / cc.sum()
        p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
        return float(np.sum((q - p) * np.log(q / p)))

    def one(col: str) -> tuple[str, dict[str, float]]:
        if col in CATEGORICAL:
            rc, cc = ref[col].value_counts(), cur[col].value_counts()
            keys = rc.index.union(cc.index)
            return col, {"psi": psi_counts(rc.reindex(keys, fill_value=0).to_numpy(float), cc.reindex(keys, fill_value=0).to_numpy(float))}
        a = ref[col].to_numpy(dtype=np.float64)
        b = cur[col].to_numpy(dtype=np.float64)
        a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
        edges = np.unique(np.quantile(a, np.arange(1, bins) / bins))
        rc = np.diff(np.concatenate(([0], np.searchsorted(a, edges, side="right"), [a.size])))
        cc = np.diff(np.concatenate(([0], np.searchsorted(b, edges, side="right"), [b.size])))
        res = stats.ks_2samp(a, b)
        return col, {"psi": psi_counts(rc.astype(float), cc.astype(float)), "ks_stat": float(res.statistic), "ks_pvalue": float(res.pvalue)}

    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8)) as ex:
        return dict(ex.map(one, list(ref.columns)))


def _runway_statistics(res) -> dict[str, dict[str, float]]:
    out = {}
    for f in res.features:
        d = {"psi": f.psi}
        if f.kind == "numeric":
            d.update(ks_stat=f.ks_stat, ks_pvalue=f.ks_pvalue)
        out[f.feature] = d
    return out


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    stats_out = None
    if name in ("runway", "runway_window", "runway_drift", "floor"):
        sys.path.insert(0, str(ROOT))
        import numpy as np
        import pandas as pd
        import scipy
        import whylogs

        from runway.monitoring.drift import drift_report, load_prepared_reference
        from runway.monitoring.profiling import load_profile, profile_frame

        versions = {"pandas": pd.__version__, "whylogs": whylogs.__version__, "numpy": np.__version__, "scipy": scipy.__version__}
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
    # The window needs no raw reference: training stored what it compares with.
    ref = pd.read_parquet(data["reference"]) if name != "runway_window" else None
    cur = pd.read_parquet(data["current"])
    if name == "runway_window":
        cur_pred = pd.read_parquet(data["current_predictions"])
        ref_view = load_profile(data["reference_profile"])  # stored at training
    rss_after_load = _maxrss_mb()

    steps: dict[str, float] = {}
    flagged: list[str] | None = None
    profiles = None
    method = None
    t0, cpu0 = time.perf_counter(), time.process_time()
    if name == "runway_window":
        t = time.perf_counter()
        # Stored at training; refused unless prepared from the expected reference.
        prepared = load_prepared_reference(data["prepared_reference"], key=data["reference_key"])
        prepared_pred = load_prepared_reference(data["prepared_reference_predictions"], key=data["reference_predictions_key"])
        steps["load_prepared"] = time.perf_counter() - t
        t = time.perf_counter()
        cur_view = profile_frame(cur)
        steps["profile_current"] = time.perf_counter() - t
        t = time.perf_counter()
        res = drift_report(prepared, cur)
        steps["drift_report"] = time.perf_counter() - t
        t = time.perf_counter()
        out_res = drift_report(prepared_pred, cur_pred)
        steps["output_drift"] = time.perf_counter() - t
        views = (ref_view, cur_view)
        flagged = sorted(f.feature for f in res.features if f.severity != "ok")
        stats_out = _runway_statistics(res)
        stats_out["__output__"] = {"psi": out_res.features[0].psi, "severity": out_res.severity}  # type: ignore[dict-item]
        method = res.psi_method
    elif name == "runway_drift":
        res = drift_report(ref, cur)
        flagged = sorted(f.feature for f in res.features if f.severity != "ok")
        stats_out = _runway_statistics(res)
        method = res.psi_method
    elif name == "floor":
        stats_out = floor_statistics(ref, cur)
    elif name == "runway":
        t = time.perf_counter()
        res = drift_report(ref, cur)
        steps["drift_report"] = time.perf_counter() - t
        t = time.perf_counter()
        views = (profile_frame(ref), profile_frame(cur))
        steps["profile_both"] = time.perf_counter() - t
        flagged = sorted(f.feature for f in res.features if f.severity != "ok")
        stats_out = _runway_statistics(res)
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
    if name in ("runway", "runway_window", "whylogs"):
        profiles = {"reference": _profile_stats(views[0]), "current": _profile_stats(views[1])}
    out = outdir / f"{name}.values.json"
    out.write_text(json.dumps({"flagged": flagged, "profiles": profiles, "statistics": stats_out, "psi_method": method}))
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": steps, "versions": versions, "rss_after_load_mb": rss_after_load, "output": str(out)}


# ----------------------------------------------------------------- check ---


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _close_rel(a, b, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300) or abs(a - b) <= 1e-15


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    facts: list[str] = []
    values = {n: json.loads(Path(r["output"]).read_text()) for n, r in results.items()}
    if "floor" in values and "runway_drift" in values:
        a, b = values["runway_drift"]["statistics"], values["floor"]["statistics"]
        bad, n = [], 0
        for col in sorted(set(a) | set(b)):
            for stat in sorted(set(a.get(col, {})) | set(b.get(col, {}))):
                n += 1
                if not _close_rel(a.get(col, {}).get(stat), b.get(col, {}).get(stat)):
                    bad.append(f"{col} {stat}: runway {a.get(col, {}).get(stat)} vs floor {b.get(col, {}).get(stat)}")
        if bad:
            problems.append(f"runway's drift statistics differ from the floor's ({len(bad)} of {n}): " + "; ".join(bad[:5]))
        else:
            facts.append(f"runway's drift statistics equal the floor's on all {n} values (PSI of 25 columns, KS D and p of 20; relative 1e-9)")
        facts.append(f"binning and smoothing, as runway's result names it: {values['runway_drift'].get('psi_method')}")
    if "runway_drift" in values and values["runway_drift"]["flagged"] != sorted(INJECTED):
        problems.append(f"runway_drift flagged {values['runway_drift']['flagged']}, expected the injected {sorted(INJECTED)}")
    if "runway_window" in values:
        w = values["runway_window"]
        out_stat = w["statistics"].pop("__output__")
        if out_stat["severity"] == "ok":
            problems.append(f"runway_window's output drift missed the shifted predictions (PSI {out_stat['psi']})")
        else:
            facts.append(f"runway_window's output drift flags the shifted predictions ({out_stat['severity']}, PSI {out_stat['psi']:.3f})")
        if "runway" in values and w["flagged"] != values["runway"]["flagged"]:
            problems.append(f"runway_window flagged {w['flagged']}, runway {values['runway']['flagged']}")
        if "runway" in values:
            a, b = w["statistics"], values["runway"]["statistics"]
            if a != b:
                bad = [f"{c}: {a.get(c)} vs {b.get(c)}" for c in sorted(set(a) | set(b)) if a.get(c) != b.get(c)]
                problems.append(f"runway_window's drift statistics (prepared reference) differ from runway's (reference frame): {'; '.join(bad[:5])}")
            else:
                facts.append(f"runway_window's drift statistics from the prepared reference equal runway's from the reference frame exactly ({len(a)} columns)")
        if "whylogs" in values:
            bad = []
            a, b = w["profiles"]["current"], values["whylogs"]["profiles"]["current"]
            for col in sorted(set(a) | set(b)):
                for stat in PROFILE_STATS:
                    if not _close(a.get(col, {}).get(stat), b.get(col, {}).get(stat)):
                        bad.append(f"current.{col} {stat}: runway_window {a.get(col, {}).get(stat)} vs whylogs {b.get(col, {}).get(stat)}")
            if bad:
                problems.append("runway_window's current profile differs from whylogs': " + "; ".join(bad[:5]))
            else:
                facts.append("runway_window's current-frame profile equals whylogs' default one (count, nulls, min, max, mean of every column)")
    for name in ("runway_window", "runway", "evidently"):
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
