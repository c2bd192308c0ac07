"""Training: the default ZenML training pipeline vs the same library functions
called in one plain Python process, on the same simulated retail history (a
benchmark of ``benchmarks/run.py``: ``python benchmarks/run.py training``).

Contestants (each run in its own fresh subprocess, on its own fresh
workspace: ZenML store, Feast repo copy and registry, decision log):

* ``zenml_pipeline``: ``pipelines.training.run_training(settings)``, the
  default training pipeline on ZenML's local orchestrator with a fresh
  (temporary) SQLite store: ingest + contract -> feature tables + ``feast
  apply`` + materialize -> point-in-time retrieval -> split -> fit ->
  reference profile -> evaluation vs the baseline -> gated promotion on the
  Model Control Plane. Timed: the ``run_training`` call. Breakdown: ZenML's
  own start/end time of each step, and ``outside steps`` (pipeline compile,
  run creation, step launch, the source fingerprint).
* ``plain``: the same library functions in the same order in one process,
  no ZenML: ``contract.admit``, ``engine.compute_feature_tables`` +
  ``write_feature_tables``, ``store.apply`` + ``materialize``,
  ``historical_features``, ``time_split``, ``modeling.train``,
  ``profile_frame``, ``evaluate_candidate`` + ``permutation_importance`` (the
  evaluate step's, for the lineage and model card), the artifact's bytes + sha256
  written to disk, ``gate.decide``. No registry, no materializers, no
  metadata, no decision log.

Cases: ``pipeline_overhead`` (the use case's default simulation, 10 stores x
12 items x 546 days, 65,520 rows; peer ``plain``) and ``training_at_size``
(100 stores x 100 items x 360 days = 3.6M rows of history; one timed run,
no warm-up; peer ``plain``). ``--set stores=N --set items=N --set days=N``
resize the first, ``--set big_stores/big_items/big_days`` the second.

``check``: both contestants computed the same candidate metrics on the same
holdout rows (relative 1e-9) and took the same gate decision.

Module top level: standard library only.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "Training pipeline: ZenML vs the same library functions in one process"
CONTESTANTS = {
    "zenml_pipeline": {"what": "`run_training`: the default ZenML training pipeline, local orchestrator, fresh SQLite store", "env": "project"},
    "plain": {"what": "the same library functions, same order, one plain Python process (no ZenML, no registry)", "env": "project"},
}
USE_CASE = "retail_demand"


def _case(name: str, title: str, stores: int, items: int, days: int, smoke: bool, runs: int | None = None) -> dict:
    rows = stores * items * days
    case = {
        "name": name,
        "title": title,
        "params": {"stores": stores, "items": items, "history_days": days, "smoke": smoke},
        "contestants": list(CONTESTANTS),
        "peer": "plain",
        "rows": rows,
        "rows_label": "history rows",
        "describe": f"retail simulator, {stores} stores x {items} items x {days} days = {rows:,} rows of history (parquet)"
        + ("; 30 boosting iterations, 50 bootstrap samples" if smoke else "; the use case's model (200 boosting iterations) and evaluation"),
    }
    if runs is not None:
        case.update(runs=runs, warmup=0)
    return case


def cases(smoke: bool, opts: dict) -> list[dict]:
    if smoke:
        return [_case("pipeline_overhead_smoke", "Training pipeline overhead (smoke)", 3, 4, 196, True)]
    return [
        _case(
            "pipeline_overhead",
            "Training pipeline overhead: ZenML pipeline vs plain library calls",
            int(opts.get("stores", 10)),
            int(opts.get("items", 12)),
            int(opts.get("days", 546)),
            False,
        ),
        _case(
            "training_at_size",
            "Training at size: 100 stores x 100 items (3.6M rows of history)",
            int(opts.get("big_stores", 100)),
            int(opts.get("big_items", 100)),
            int(opts.get("big_days", 360)),
            False,
            runs=1,
        ),
    ]


def _overrides(case: dict, workspace: Path) -> dict:
    p = case["params"]
    over: dict = {
        "simulation": {"stores": p["stores"], "items": p["items"], "history_days": p["history_days"]},
        "model": {"name": f"bench-{uuid.uuid4().hex[:10]}"},
        "environment": {"workspace": str(workspace / "ws"), "feature_repo": str(workspace / "feature_repo"), "zenml": {"config_dir": "zenml"}},
    }
    if p["smoke"]:
        over["model"]["params"] = {"max_iter": 30}
        over["evaluation"] = {"bootstrap_samples": 50}
    return over


def _settings(case: dict, workspace: Path):
    sys.path.insert(0, str(ROOT))
    from runway.config import load_settings

    return load_settings(USE_CASE, "local", _overrides(case, workspace))


def build(case: dict, workdir: Path) -> dict:
    """The simulated history, once; each run hard-links it into its own workspace."""
    sys.path.insert(0, str(ROOT))
    import usecases.retail_demand as retail

    s = _settings(case, workdir)
    retail.ensure_history(s.raw_dir, s)
    files = sorted((s.raw_dir / s.streams.history).glob("*.parquet"))
    return {"raw_dir": str(s.raw_dir), "files": len(files), "bytes": sum(f.stat().st_size for f in files)}


def _fresh_workspace(case: dict, data: dict, outdir: Path, name: str):
    ws = outdir / f"{name}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(ROOT / "feature_repo", ws / "feature_repo", ignore=shutil.ignore_patterns("data", "__pycache__"))
    s = _settings(case, ws)
    shutil.copytree(data["raw_dir"], s.raw_dir, copy_function=os.link)
    return ws, s


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _summary(evaluation: dict, decision_promote: bool, reason: str) -> dict:
    return {
        "candidate": evaluation["candidate"],
        "baseline": evaluation["baseline"],
        "rows": evaluation["rows"],
        "importance": evaluation.get("importance"),
        "promote": decision_promote,
        "reason": reason,
    }


def run_zenml(case: dict, data: dict, outdir: Path) -> dict:
    ws, s = _fresh_workspace(case, data, outdir, "zenml")
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
    from runway.platform import runtime

    runtime.configure(s)  # fresh SQLite store, created and migrated here (untimed set-up)
    from zenml.client import Client

    from pipelines.training import run_training

    t0, cpu0 = time.perf_counter(), time.process_time()
    result = run_training(s)
    compute, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    run = Client().get_pipeline_run(result["run_id"])
    steps: dict[str, float] = {}
    for name, st in run.steps.items():
        if st.start_time and st.end_time:
            steps[name] = (st.end_time - st.start_time).total_seconds()
    steps["outside steps"] = max(compute - sum(steps.values()), 0.0)
    d = result["decision"]
    values = _summary(result["evaluation"], bool(d.get("promote")), str(d.get("reason", "")))
    import zenml

    shutil.rmtree(ws, ignore_errors=True)
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": steps, "values": values, "versions": {"zenml": zenml.__version__}, "rss_mb": _rss_mb()}


def run_plain(case: dict, data: dict, outdir: Path) -> dict:
    ws, s = _fresh_workspace(case, data, outdir, "plain")
    # steps.features (imported for its hash function) imports zenml: keep its config here.
    os.environ["ZENML_CONFIG_PATH"] = str(ws / "zenml-unused")
    import pandas as pd

    import runway.data.contract as contract_lib
    import runway.data.sources as sources_lib
    import runway.evaluation.gate as gate_lib
    import runway.evaluation.importance as importance_lib
    import runway.evaluation.report as evaluation_lib
    import runway.features.engine as engine_lib
    import runway.features.frames as frames_lib
    import runway.features.store as fs_lib
    import runway.modeling.artifact as modeling_lib
    import runway.monitoring.profiling as profiling_lib
    from runway.data.io import atomic_write_bytes
    from steps.features import feature_version  # the content hash the pipeline computes too

    steps: dict[str, float] = {}
    t0, cpu0 = time.perf_counter(), time.process_time()

    def lap(name: str, t: float) -> float:
        now = time.perf_counter()
        steps[name] = now - t
        return now

    t = time.perf_counter()
    fingerprint = contract_lib.read_or_quarantine(s, s.streams.history).fingerprint  # as run_training does before the pipeline
    batch = contract_lib.admit(s, s.streams.history)
    assert not fingerprint or batch.fingerprint == fingerprint
    history = sources_lib.known_as_of(batch.frame, None, s.target)
    t = lap("ingest_batch", t)
    tables = engine_lib.compute_feature_tables(history, s)
    engine_lib.write_feature_tables(tables, fs_lib.feature_data_dir(s))
    store = fs_lib.open_store(s)
    fs_lib.apply(store, s)
    fs_lib.materialize(store, pd.Timestamp(history[s.timestamp].max()).to_pydatetime())
    feature_version(tables)
    t = lap("sync_feature_store", t)
    service = s.features.service_name
    feats = fs_lib.historical_features(store, frames_lib.entity_frame(history, s), service, timestamp_column=s.timestamp)
    frame = frames_lib.attach_request_features(feats, history, s)
    t = lap("retrieve_features", t)
    usable = frames_lib.drop_warmup(frame.dropna(subset=[s.target]), s)
    train, holdout = modeling_lib.time_split(usable, s.timestamp, s.split)
    t = lap("split_frame", t)
    features = frames_lib.model_feature_list(fs_lib.feature_names(store, service), s)
    model = modeling_lib.train(train, features, s.model, s.timestamp)
    blob = modeling_lib.serialize(model)
    sha = modeling_lib.sha256_bytes(blob)
    atomic_write_bytes(ws / "model.pkl", blob)
    t = lap("train_model", t)
    profiling_lib.profile_frame(train[[*model.features, s.target]])
    t = lap("profile_reference", t)
    report = evaluation_lib.evaluate_candidate(s, model, holdout, history)
    ev = s.evaluation  # the evaluate step's permutation importance (lineage and model card), same seed
    importance = importance_lib.permutation_importance(
        model, holdout, ev.primary_metric, max_rows=ev.importance_rows, repeats=ev.importance_repeats, seed=ev.seed
    )
    t = lap("evaluate_model", t)
    decision = gate_lib.decide(report, s.promotion, candidate_sha256=sha)
    t = lap("promote_model", t)
    compute, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    values = _summary(report.to_dict() | {"importance": importance}, bool(decision.promote), decision.reason)
    shutil.rmtree(ws, ignore_errors=True)
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": steps, "values": values, "versions": {"pandas": pd.__version__}, "rss_mb": _rss_mb()}


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    fn = {"zenml_pipeline": run_zenml, "plain": run_plain}.get(name)
    if fn is None:
        raise SystemExit(f"unknown contestant {name!r}")
    res = fn(case, data, outdir)
    out = outdir / f"{name}.values.json"
    out.write_text(json.dumps(res.pop("values")))
    res["output"] = str(out)
    return res


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return out


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    facts: list[str] = []
    values = {n: json.loads(Path(r["output"]).read_text()) for n, r in results.items()}
    if len(values) < 2:
        return problems, [f"only {', '.join(values)} ran: nothing to compare"]
    a, b = values["zenml_pipeline"], values["plain"]
    if a["rows"] != b["rows"]:
        problems.append(f"holdout rows differ: pipeline {a['rows']}, plain {b['rows']}")
    fa, fb = _flat({k: a[k] for k in ("candidate", "baseline")}), _flat({k: b[k] for k in ("candidate", "baseline")})
    for k in sorted(set(fa) | set(fb)):
        x, y = fa.get(k), fb.get(k)
        same = _close(x, y) if isinstance(x, float) and isinstance(y, float) else x == y
        if not same:
            problems.append(f"{k}: pipeline {x} vs plain {y}")
    if a.get("importance") != b.get("importance"):
        problems.append(f"permutation importance differs: pipeline {a.get('importance')} vs plain {b.get('importance')}")
    if a["promote"] != b["promote"]:
        problems.append(f"gate decisions differ: pipeline {a['promote']} ({a['reason']}), plain {b['promote']} ({b['reason']})")
    if not problems:
        m = ", ".join(f"{k} {v:.4f}" for k, v in sorted(_flat(a["candidate"]).items()) if isinstance(v, float) and "." not in k)
        facts.append(f"the pipeline and the plain path computed the same candidate and baseline metrics on the same {a['rows']:,} holdout rows ({m})")
        facts.append(f"same gate decision: {'promote' if a['promote'] else 'reject'} ({a['reason']})")
        facts.append(f"same permutation importance of the {len(a.get('importance') or {})} model inputs")
    return problems, facts


if __name__ == "__main__":  # pragma: no cover
    import subprocess

    sys.exit(subprocess.call([sys.executable, str(HERE / "run.py"), "training", *sys.argv[1:]]))
