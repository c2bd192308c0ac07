"""Fleet monitoring: each tenant's window against its own reference and
alert policy.

Per tenant: input drift of the model's features (window vs the tenant's
rows of the ``REFERENCE_DAYS`` before the window), live performance on the
labels recorded by the cut-off vs the serving version's holdout value, the
plug-in's KPI, the fallback share; breaches carry the tenant and go to the
tenant's own alert log (N of M, cooldown); a retraining decision and a
small HTML report per tenant. The fleet's latest state per tenant is kept
in ``<use case>/fleet/state.json`` for the fleet report.
"""

from __future__ import annotations

import html
import json
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.data.io import atomic_write_bytes
from runway.evaluation.metrics import compute, metric_direction, relative_degradation
from runway.fleet import data as data_lib
from runway.fleet import features as features_lib
from runway.fleet import progress as progress_lib
from runway.fleet import tenants as tenants_lib
from runway.fleet.training import decision_log, process_commit
from runway.monitoring import alerts as alerts_lib
from runway.monitoring import drift as drift_lib
from runway.monitoring import triggers as triggers_lib
from runway.serving import predictions as predictions_lib

REFERENCE_DAYS = 56


def state_path(settings: Settings):
    return tenants_lib.fleet_path(settings, "state.json")


def read_state(settings: Settings) -> dict[str, dict]:
    p = state_path(settings)
    return json.loads(p.read_text()) if p.exists() else {}


def _kpi(settings: Settings, labelled: pd.DataFrame) -> dict:
    from runway.plugins import load_plugin

    plugin = load_plugin(settings)
    if settings.monitoring.kpi is None or not plugin.has("kpi_frame") or labelled.empty:
        return {}
    frame = plugin.hook("kpi_frame")(labelled, "actual", "prediction", [], settings.monitoring.kpi)
    total = frame[frame["level"] == "total"]
    if total.empty:
        return {}
    return {str(k): (float(v) if isinstance(v, (int, float, np.number)) else v) for k, v in total.iloc[0].drop(["level", "segment"]).items()}


def monitor(settings: Settings, tenant_ids: list[str], batch: str, as_of: str) -> dict:
    from runway.governance import fleet_registry as reg

    t0 = time.perf_counter()
    col, ts, target, m = tenants_lib.column(settings), settings.timestamp, settings.target, settings.evaluation.primary_metric
    day, cutoff = date.fromisoformat(batch), pd.Timestamp(as_of)
    preds = predictions_lib.read_predictions(settings, [batch])
    inputs = pd.read_parquet(predictions_lib.partition_dir(settings, batch) / "inputs.parquet")
    known = [t for t in tenant_ids if t in set(preds[predictions_lib.TENANT if predictions_lib.TENANT in preds.columns else col].astype(str))]
    if predictions_lib.TENANT in preds.columns and col != predictions_lib.TENANT:
        preds = preds.rename(columns={predictions_lib.TENANT: col})
    failed = {t: f"batch {batch} was not scored for this tenant" for t in tenant_ids if t not in known}
    actual_rows = data_lib.read_fleet(settings, settings.streams.history, known, batches=[batch], as_of=cutoff, required=False)
    for t, r in actual_rows.failed.items():
        failed[t] = f"labels: {r}"
    ref_rows = data_lib.read_fleet(settings, settings.streams.history, known, until=day, required=False).frame
    ref_rows = ref_rows[ref_rows[ts] >= pd.Timestamp(day, tz="UTC") - pd.Timedelta(days=REFERENCE_DAYS)].reset_index(drop=True)
    reference, features = features_lib.retrieve(settings, ref_rows) if len(ref_rows) else (ref_rows, [])
    prod_index = reg.production_index(settings)
    pooled_v = prod_index.get(tenants_lib.pooled_model_name(settings))
    state = read_state(settings)
    entries: list[dict] = []
    out: dict = {"batch": batch, "tenants": {}, "failed": failed}
    bar = progress_lib.current()
    if bar:
        bar.update(failed=len(failed))
    keys = [col, *settings.entity_keys, ts]
    actuals = actual_rows.frame
    ref_by, in_by, pr_by = (dict(tuple(f.groupby(col, sort=False))) if len(f) else {} for f in (reference, inputs, preds))
    act_by = dict(tuple(actuals.groupby(col, sort=False))) if len(actuals) else {}
    direction = metric_direction(m)
    since_retrain = decision_log(settings).windows_since_retrain_by_model()
    for t in [t for t in known if t not in failed]:
        try:
            s_t = tenants_lib.tenant_settings(settings, t)
            name = tenants_lib.model_name(settings, t)
            p_t, i_t, r_t = pr_by[t], in_by.get(t), ref_by.get(t)
            cols = [c for c in features if i_t is not None and r_t is not None and c in i_t.columns and c not in settings.monitoring.drift_exclude]
            d = (
                drift_lib.drift_report(r_t[cols], i_t[cols], settings.monitoring.drift, categorical=[c for c in settings.monitoring.categorical if c in cols])
                if cols and r_t is not None and len(r_t) and i_t is not None and len(i_t)
                else None
            )
            breaches = [
                alerts_lib.Breach(b.feature, b.severity, b.value, b.threshold, b.detail, b.kind, tenant=t)
                for b in (alerts_lib.breaches_from_drift(d) if d else [])
            ]
            a_t = act_by.get(t)
            labelled = pd.DataFrame()
            if a_t is not None and len(a_t):
                j = p_t.merge(a_t[[*keys, target]].rename(columns={target: "actual"}), on=keys, how="inner")
                labelled = j.dropna(subset=["actual"])
            completeness = len(labelled) / len(p_t) if len(p_t) else 0.0
            serving = p_t["served_by"].value_counts(normalize=True).to_dict()
            version = prod_index.get(name) or (pooled_v if serving.get("pooled") else None)
            holdout = (version.metadata.get(m) if version is not None else None) if version else None
            live = None
            if completeness >= settings.schedule.min_label_completeness and len(labelled):
                live = compute(labelled["actual"].to_numpy(float), labelled["prediction"].to_numpy(float), settings.model.task, names=[m]).get(m)
                if live is not None and holdout:
                    worse = relative_degradation(direction, live, holdout)
                    limit = settings.monitoring.retraining.max_degradation
                    if worse > limit:
                        breaches.append(
                            alerts_lib.Breach(
                                m,
                                "alert",
                                float(live),
                                float(holdout),
                                f"live {m} {live:.4f} vs holdout {holdout:.4f} ({worse:+.0%} > {limit:.0%})",
                                "performance",
                                tenant=t,
                            )
                        )
            log = alerts_lib.AlertLog(tenants_lib.tenant_path(settings, t, "alerts.jsonl"))
            with log.locked():
                alerts = alerts_lib.evaluate_alerts(batch, breaches, log, s_t.monitoring.alerts)
                log.record_window(batch, breaches, alerts)
            webhook = s_t.monitoring.alerts.webhook_url
            if alerts and webhook:
                alerts_lib.send_webhook(webhook, alerts)
            kpi = _kpi(settings, labelled)
            trigger = retraining_decision(s_t, alerts, live=live, reference=holdout, completeness=completeness, windows_since_retrain=since_retrain.get(name))
            staleness = None
            trained_at = _trained_at(version)
            if trained_at is not None:
                staleness = (day - trained_at).days
            row = {
                "tenant": t,
                "window": batch,
                "drift": d.severity if d else "unknown",
                "drifted": [f.feature for f in d.flagged()] if d else [],
                "drift_score": max([f.psi or 0 for f in d.features if f.psi is not None] or [0.0]) if d else 0.0,
                "live": live,
                "holdout": holdout,
                "metric": m,
                "label_completeness": completeness,
                "fallback_share": float(1 - serving.get("production", 0.0)),
                "served_by": serving,
                "serving_version": version.version if version else None,
                "serving_model": version.model if version else None,
                "staleness_days": staleness,
                "kpi": kpi,
                "alerts": [a.to_dict() for a in alerts],
                "retrain": trigger.retrain,
                "retrain_reasons": trigger.reasons,
                "report": str(tenants_lib.tenant_path(settings, t, "reports", f"monitoring-{batch}.html")),
            }
            _write_tenant_report(settings, row, d)
            state[t] = row
            out["tenants"][t] = row
            entries.append(
                {
                    "use_case": settings.use_case,
                    "tenant": t,
                    "model": name,
                    "version": row["serving_version"],
                    "action": "retrain" if trigger.retrain else "no_retrain",
                    "reason": "; ".join(trigger.reasons),
                    "triggers": trigger.triggers,
                    "window": batch,
                    "git_commit": process_commit(),
                    "env": settings.environment.name,
                }
            )
            if bar:
                bar.update(done=1)
        except Exception as exc:  # noqa: BLE001 - one tenant's failure never stops the others
            failed[t] = f"{type(exc).__name__}: {exc}"
            if bar:
                bar.update(failed=1)
    decision_log(settings).append_many(entries)
    p = state_path(settings)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, json.dumps(state, default=str, indent=0).encode())
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def retraining_decision(
    s_t: Settings, alerts: list[alerts_lib.Alert], *, live: float | None, reference: float | None, completeness: float, windows_since_retrain: int | None
) -> triggers_lib.TriggerDecision:
    """The single-model retraining rule for one tenant: its alerts, its
    ``monitoring.retraining`` (on_drift, on_performance, cooldown_windows).
    No schedule trigger here: the fleet retrains only on what monitoring found."""
    m = s_t.evaluation.primary_metric
    return triggers_lib.decide_retraining(
        s_t.monitoring.retraining,
        drift_alerts=sorted({f"{a.kind}:{a.feature}" for a in alerts if a.kind in ("drift", "schema", "output")}),
        performance_alerts=[a.detail or a.feature for a in alerts if a.kind == "performance"],
        live=live,
        reference=reference,
        metric=m,
        metric_direction=metric_direction(m),
        label_completeness=completeness,
        min_label_completeness=s_t.schedule.min_label_completeness,
        windows_since_retrain=windows_since_retrain,
    )


def _trained_at(version) -> date | None:
    if version is None:
        return None
    end = version.metadata.get("holdout_end")
    try:
        return date.fromisoformat(str(end)[:10]) if end else None
    except ValueError:
        return None


def _write_tenant_report(settings: Settings, row: dict, d: drift_lib.DriftResult | None) -> None:
    e = html.escape
    drift_rows = (
        "".join(
            f"<tr><td>{e(f.feature)}</td><td>{e(f.severity)}</td><td>{'' if f.psi is None else f'{f.psi:.3f}'}</td><td>{e('; '.join(f.reasons))}</td></tr>"
            for f in sorted(d.features, key=lambda f: -(f.psi or 0))
        )
        if d
        else ""
    )
    alerts = "".join(f"<li>{e(a['message'])}</li>" for a in row["alerts"]) or "<li>none</li>"
    kpi = ", ".join(f"{k} {v:,.1f}" for k, v in row["kpi"].items() if isinstance(v, float))
    live = "n/a" if row["live"] is None else f"{row['live']:.4f}"
    hold = "n/a" if row["holdout"] is None else f"{row['holdout']:.4f}"
    body = f"""<html><head><meta charset="utf-8"><title>{e(row["tenant"])} {e(row["window"])}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>
<h2>Runway monitoring: {e(settings.use_case)} tenant {e(row["tenant"])}, window {e(row["window"])}</h2>
<p>served by {e(json.dumps(row["served_by"]))} (version {e(str(row["serving_version"]))} of {e(str(row["serving_model"]))});
staleness {row["staleness_days"]} days</p>
<p>{e(row["metric"])}: live {live} vs holdout {hold}; label completeness {row["label_completeness"]:.0%}</p>
<p>KPI: {e(kpi) or "n/a"}</p><h3>Alerts</h3><ul>{alerts}</ul>
<h3>Input drift ({e(row["drift"])})</h3><table><tr><th>feature</th><th>severity</th><th>PSI</th><th>why</th></tr>{drift_rows}</table>
<p><small>generated {datetime.now(UTC).isoformat(timespec="seconds")}</small></p></body></html>"""
    p = tenants_lib.tenant_path(settings, row["tenant"], "reports", f"monitoring-{row['window']}.html")
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, body.encode())
