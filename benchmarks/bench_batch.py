"""Batch inference end to end vs a bare ``model.predict`` on the same array (a
benchmark of ``benchmarks/run.py``: ``python benchmarks/run.py batch``).

Set-up (``build``, untimed, once): the retail simulator's history for 100
stores x 100 items, the declared feature tables written and ``feast apply``'d
in a Feast repo copy, a model trained (50 boosting iterations on a sample:
its quality is not the point) and stored as the artifact's bytes with their
sha256; the scoring rows are the last ``days`` days of every entity (label
removed): 100 x 100 x 100 = 1,000,000 rows.

Contestants (each in its own fresh subprocess; the scoring frame is read
before the clock starts, as the ingest step hands it over):

* ``runway_batch``: what the batch-inference step does with those rows:
  ``unknown_entities`` + ``historical_features`` (Runway's ASOF offline store)
  + ``attach_request_features``, the model loaded through
  ``deserialize_verified`` (sha256 check + restricted unpickler) inside the
  fallback chain (``predict_with_fallback``), the predictions frame
  (keys, timestamp, segments, prediction, served_by, version) and
  ``write_predictions`` (predictions + model inputs, atomic parquet).
* ``bare_predict``: the fitted scikit-learn estimator's ``predict`` on the
  float64 input matrix of the same rows, already in memory (the peer:
  throughput ratio = 1 / time ratio).

``check``: the predictions ``runway_batch`` wrote equal the bare estimator's
(clipped at the model's ``clip_min``), row for row, exactly; every row was
served by the production level.

Module top level: standard library only.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "Batch inference end to end vs bare model.predict"
CONTESTANTS = {
    "runway_batch": {
        "what": "features (Feast `get_historical_features`, ASOF store) + sha256-checked load + fallback-chain predict + `write_predictions`",
        "env": "project",
    },
    "bare_predict": {"what": "the fitted estimator's `predict` on the same float64 array, in memory", "env": "project"},
}
USE_CASE = "retail_demand"


def cases(smoke: bool, opts: dict) -> list[dict]:
    stores, items, days = (10, 10, 20) if smoke else (int(opts.get("stores", 100)), int(opts.get("items", 100)), int(opts.get("days", 100)))
    rows = stores * items * days
    return [
        {
            "name": "batch_smoke" if smoke else "batch",
            "title": TITLE,
            "params": {"stores": stores, "items": items, "days": days, "history_days": days + 70},
            "contestants": list(CONTESTANTS),
            "peer": "bare_predict",
            "rows": rows,
            "rows_label": "scored rows",
            "describe": f"retail simulator, {stores} stores x {items} items; {rows:,} scoring rows (the last {days} days of each entity), "
            "the retail use case's model inputs (its feature service's 4 views plus request features)",
        }
    ]


def _overrides(case: dict, workdir: Path) -> dict:
    p = case["params"]
    return {
        "simulation": {"stores": p["stores"], "items": p["items"], "history_days": p["history_days"]},
        "model": {"name": "bench-batch", "params": {"max_iter": 50}},
        "environment": {"workspace": str(workdir / "ws"), "feature_repo": str(workdir / "feature_repo"), "zenml": {"config_dir": "zenml"}},
    }


def _settings(overrides: dict):
    sys.path.insert(0, str(ROOT))
    from runway.config import load_settings

    return load_settings(USE_CASE, "local", overrides)


def build(case: dict, workdir: Path) -> dict:
    import shutil

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    import runway.features.engine as engine_lib
    import runway.features.frames as frames_lib
    import runway.features.store as fs_lib
    import runway.modeling.artifact as modeling_lib
    import usecases.retail_demand as retail
    from runway.data import contract as contract_lib

    workdir.mkdir(parents=True, exist_ok=True)
    over = _overrides(case, workdir)
    shutil.copytree(ROOT / "feature_repo", workdir / "feature_repo", ignore=shutil.ignore_patterns("data", "__pycache__"), dirs_exist_ok=True)
    s = _settings(over)
    retail.ensure_history(s.raw_dir, s)
    history = contract_lib.admit(s, s.streams.history).frame
    tables = engine_lib.compute_feature_tables(history, s)
    engine_lib.write_feature_tables(tables, fs_lib.feature_data_dir(s))
    store = fs_lib.open_store(s)
    fs_lib.apply(store, s)
    service = s.features.service_name
    features = frames_lib.model_feature_list(fs_lib.feature_names(store, service), s)

    ts = pd.to_datetime(history[s.timestamp])
    last = ts.max().normalize()
    scoring = history[ts > last - pd.Timedelta(days=case["params"]["days"])].drop(columns=[s.target]).reset_index(drop=True)
    train_rows = history[ts <= last - pd.Timedelta(days=case["params"]["days"])]
    train_rows = train_rows.sample(min(len(train_rows), 200_000), random_state=0).reset_index(drop=True)
    feats = fs_lib.historical_features(store, frames_lib.entity_frame(train_rows, s), service, timestamp_column=s.timestamp)
    train_frame = frames_lib.attach_request_features(feats, train_rows, s).dropna(subset=[s.target])
    model = modeling_lib.train(train_frame, features, s.model, s.timestamp)
    blob = modeling_lib.serialize(model)
    (workdir / "model.bin").write_bytes(blob)

    # The bare contestant's input: the same rows' model matrix, computed once here.
    score_feats = fs_lib.historical_features(store, frames_lib.entity_frame(scoring, s), service, timestamp_column=s.timestamp, allow_unknown_entities=True)
    x = frames_lib.attach_request_features(score_feats, scoring, s)[model.features].astype(float).to_numpy()
    np.save(workdir / "x.npy", x)
    (workdir / "estimator.pkl").write_bytes(pickle.dumps(model.estimator))
    scoring.to_parquet(workdir / "scoring.parquet", index=False)
    return {
        "overrides": over,
        "model": str(workdir / "model.bin"),
        "sha256": modeling_lib.sha256_bytes(blob),
        "clip_min": model.clip_min,
        "x": str(workdir / "x.npy"),
        "estimator": str(workdir / "estimator.pkl"),
        "scoring": str(workdir / "scoring.parquet"),
        "rows": len(scoring),
    }


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    if name == "bare_predict":
        import sklearn

        est = pickle.loads(Path(data["estimator"]).read_bytes())  # noqa: S301 - our own file, written by build
        x = np.load(data["x"])
        t0, cpu0 = time.perf_counter(), time.process_time()
        pred = est.predict(x)
        compute, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        out = outdir / "bare_predict.npy"
        np.save(out, pred)
        return {"compute_s": compute, "compute_cpu_s": cpu, "steps": {"predict": compute}, "versions": {"sklearn": sklearn.__version__}, "output": str(out)}
    if name != "runway_batch":
        raise SystemExit(f"unknown contestant {name!r}")

    import pandas as pd

    import runway.features.frames as frames_lib
    import runway.features.store as fs_lib
    import runway.modeling.artifact as modeling_lib
    import runway.serving.fallback as serving_lib
    import runway.serving.predictions as predictions_lib

    s = _settings(data["overrides"])  # the build's workspace: its Feast registry; each run overwrites the same batch
    scoring = pd.read_parquet(data["scoring"])
    fs_lib.open_store(s)  # imports Feast, reads the registry once: set-up, not work
    keys, ts = s.entity_keys, s.timestamp
    steps: dict[str, float] = {}
    t0, cpu0 = time.perf_counter(), time.process_time()
    t = time.perf_counter()
    store = fs_lib.open_store(s)
    service = s.features.service_name
    entities = frames_lib.entity_frame(scoring, s)
    unknown = fs_lib.unknown_entities(store, entities, service)
    feats = fs_lib.historical_features(store, entities, service, timestamp_column=ts, allow_unknown_entities=True)
    features = frames_lib.attach_request_features(feats, scoring, s)
    steps["features"] = time.perf_counter() - t
    t = time.perf_counter()
    loaded: dict[str, float] = {}

    def load():
        t1 = time.perf_counter()
        m = modeling_lib.deserialize_verified(Path(data["model"]).read_bytes(), data["sha256"])
        loaded["s"] = time.perf_counter() - t1
        return m

    result = serving_lib.predict_with_fallback(len(scoring), features, [serving_lib.Candidate("production", "1", load)], lambda: np.zeros(len(scoring)), None)
    steps["hash-checked load"] = loaded.get("s", 0.0)
    steps["predict (fallback chain)"] = time.perf_counter() - t - steps["hash-checked load"]
    t = time.perf_counter()
    preds = scoring[[*keys, ts]].reset_index(drop=True).copy()
    for col in dict.fromkeys([*s.monitoring.segment_by, *s.monitoring.categorical]):
        if col in scoring.columns and col not in preds.columns:
            preds[col] = scoring[col].to_numpy()
    preds["prediction"] = result.predictions
    preds["served_by"] = result.served_by
    preds["model_version"] = result.served_version
    where = predictions_lib.write_predictions(s, preds, features, "bench")
    steps["write"] = time.perf_counter() - t
    compute, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    out = outdir / "runway_batch.values.json"
    out.write_text(json.dumps({"predictions": where, "unknown": len(unknown), "served_by": result.counts(), "reasons": result.reasons}))
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": steps, "versions": {"pandas": pd.__version__}, "output": str(out)}


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    import numpy as np
    import pandas as pd

    problems: list[str] = []
    facts: list[str] = []
    if "runway_batch" not in results or "bare_predict" not in results:
        return problems, [f"only {', '.join(results)} ran: nothing to compare"]
    info = json.loads(Path(results["runway_batch"]["output"]).read_text())
    got = pd.read_parquet(info["predictions"])
    bare = np.load(results["bare_predict"]["output"])
    if data["clip_min"] is not None:
        bare = np.clip(bare, data["clip_min"], None)
    if len(got) != data["rows"]:
        problems.append(f"runway_batch wrote {len(got)} predictions for {data['rows']} scoring rows")
    elif not np.array_equal(got["prediction"].to_numpy(float), bare):
        diff = int(np.sum(got["prediction"].to_numpy(float) != bare))
        problems.append(f"{diff} of {len(bare)} predictions differ from the bare estimator's")
    else:
        facts.append(f"all {len(bare):,} written predictions equal the bare estimator's predict on the same array (clipped at {data['clip_min']}), row for row")
    if info["served_by"] != {"production": data["rows"]}:
        problems.append(f"not every row was served by the model: {info['served_by']} ({'; '.join(info['reasons'])})")
    facts.append(f"unknown entities: {info['unknown']}; served by: {info['served_by']}")
    return problems, facts


if __name__ == "__main__":  # pragma: no cover
    import subprocess

    sys.exit(subprocess.call([sys.executable, str(HERE / "run.py"), "batch", *sys.argv[1:]]))
