"""Fleet batch inference: every tenant scored by its own production model,
else the pooled fleet model (cold start), else the baseline rule.

A tenant whose scoring batch breaks the contract is quarantined and
reported; the others are scored. One feature pass and one Feast call for
the fleet; one predictions file (or SQL rows) per batch with a tenant column.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.evaluation import baselines as baseline_lib
from runway.fleet import data as data_lib
from runway.fleet import features as features_lib
from runway.fleet import progress as progress_lib
from runway.fleet import tenants as tenants_lib
from runway.fleet.training import decision_log
from runway.serving import predictions as predictions_lib


def score(settings: Settings, tenant_ids: list[str], batch: str) -> dict:
    from runway.governance import fleet_registry as reg

    t0 = time.perf_counter()
    col, ts = tenants_lib.column(settings), settings.timestamp
    day = date.fromisoformat(batch)
    scoring = data_lib.read_fleet(settings, settings.streams.scoring, tenant_ids, batches=[batch])
    history = data_lib.read_fleet(settings, settings.streams.history, tenant_ids, until=day, as_of=pd.Timestamp(day, tz="UTC"))
    failed = dict(scoring.failed)
    for t, r in history.failed.items():
        failed.setdefault(t, f"history: {r}")
    ok = [t for t in tenant_ids if t not in failed]
    bar = progress_lib.current()
    if bar:
        bar.update(failed=len(failed))
    out: dict = {"batch": batch, "tenants": {}, "failed": failed, "rows": 0}
    if not ok:
        return out
    rows = scoring.frame[scoring.frame[col].isin(ok)].reset_index(drop=True)
    hist = history.frame[history.frame[col].isin(ok)].reset_index(drop=True)
    features_lib.sync(settings, hist, rows)
    frame, _ = features_lib.retrieve(settings, rows)
    prod_index = reg.production_index(settings)
    promoted = decision_log(settings).promoted_index()
    pooled_v = prod_index.get(tenants_lib.pooled_model_name(settings))
    pooled = None
    if pooled_v is not None:
        try:
            pooled = reg.load_model(pooled_v, promoted)
            frame = features_lib.with_tenant_code(frame, col, pooled.metadata.get("tenant_codes", {}))
        except Exception:  # noqa: BLE001 - no pooled model: the rule answers for cold tenants
            pooled = None
    preds_parts, input_parts = [], []
    segs = list(dict.fromkeys([*settings.monitoring.segment_by, *settings.monitoring.categorical]))
    hist_by = dict(tuple(hist.groupby(col, sort=False)))
    for t, idx in rows.groupby(col, sort=False).groups.items():
        t = str(t)
        f_t, r_t = frame.loc[idx].reset_index(drop=True), rows.loc[idx].reset_index(drop=True)
        ts_settings = tenants_lib.tenant_settings(settings, t)
        name = tenants_lib.model_name(settings, t)
        served, version, pred, reasons = None, None, None, []
        own = prod_index.get(name)
        for level, v in (("production", own), ("pooled", pooled_v if pooled is not None else None)):
            if v is None:
                continue
            try:
                model = reg.load_model(v, promoted) if level == "production" else pooled
                pred = np.asarray(model.predict(f_t), dtype=float)  # type: ignore[union-attr]
                if not np.isfinite(pred).all():
                    raise ValueError("non-finite predictions")
                served, version = level, v.version
                break
            except Exception as exc:  # noqa: BLE001 - fall back to the next level
                reasons.append(f"{level} v{v.version}: {exc}")
        if pred is None:
            h_t = hist_by.get(t, hist.iloc[:0]).drop(columns=[col]).reset_index(drop=True)
            pred = baseline_lib.baseline_predictions(ts_settings, h_t, r_t.drop(columns=[col]))
            served, version = "baseline", ""
        p = r_t[[col, *settings.entity_keys, ts, *[c for c in segs if c in r_t.columns and c not in settings.entity_keys]]].copy()
        p["prediction"] = pred
        p["served_by"] = served
        p["model_version"] = version
        preds_parts.append(p)
        input_parts.append(f_t)
        out["tenants"][t] = {"rows": len(p), "served_by": served, "version": version, "reasons": reasons}
        if bar:
            bar.update(done=1)
    preds = pd.concat(preds_parts, ignore_index=True)
    inputs = pd.concat(input_parts, ignore_index=True).drop(columns=[settings.target], errors="ignore")
    out["written_to"] = predictions_lib.write_predictions(settings, preds, inputs, batch, tenant_column=col)
    out["rows"] = len(preds)
    out["served_by"] = preds["served_by"].value_counts().to_dict()
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
