"""Monitoring steps: window vs reference, alerts, retraining triggers, report."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
import pandas as pd
from zenml import log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.types import HTMLString

import runway.governance.registry as registry_lib
import runway.monitoring.alerts as alerts_lib
import runway.monitoring.profiling as profiling_lib
import runway.monitoring.report as report_lib
import runway.monitoring.triggers as triggers_lib
import runway.monitoring.window as monitoring_lib
import runway.serving.predictions as predictions_lib
import runway.serving.review as review_lib
from runway.config import Settings
from runway.data.io import atomic_write_bytes
from runway.evaluation.metrics import metric_direction, metric_names
from runway.governance.decision_log import git_commit
from runway.monitoring.drift import DriftResult
from runway.plugins import load_plugin

logger = get_logger(__name__)
REFERENCE_SAMPLE_ROWS = 200_000
LABELLED_SAMPLE_ROWS = 20_000  # labelled scores kept for the report's ROC and calibration plots


@step(enable_cache=False)
def load_window(settings: Settings, batches: list[str]) -> tuple[Annotated[pd.DataFrame, "window_predictions"], Annotated[pd.DataFrame, "window_inputs"]]:
    preds = predictions_lib.read_predictions(settings, batches)
    preds[settings.timestamp] = pd.to_datetime(preds[settings.timestamp], utc=True)
    inputs = predictions_lib.read_inputs(settings, batches)
    return preds, inputs


def feature_join_keys(settings: Settings) -> dict[str, list[str]]:
    """Each served feature's join keys, from its Feast feature view."""
    import runway.features.store as fs_lib

    store = fs_lib.open_store(settings)
    out: dict[str, list[str]] = {}
    for proj in store.get_feature_service(settings.features.service_name).feature_view_projections:
        view = store.get_feature_view(proj.name)
        keys = [proj.join_key_map.get(k, k) if proj.join_key_map else k for k in view.join_keys if k != "__dummy_id"]
        out.update({f.name: keys for f in proj.features})
    return out


@step(enable_cache=False)
def load_reference(
    settings: Settings, window_predictions: pd.DataFrame, window_inputs: pd.DataFrame
) -> tuple[Annotated[pd.DataFrame, "reference_inputs"], Annotated[np.ndarray, "reference_predictions"], Annotated[dict, "reference_info"]]:
    """The training frame and predictions of the version that served the window,
    and what whylogs says of the window's inputs against that version's
    reference profile."""
    model = settings.model.name
    served = Counter(v for v in window_predictions.get("model_version", pd.Series(dtype=str)) if v and v != "rule")
    version = served.most_common(1)[0][0] if served else None
    if version is None:
        prod = registry_lib.production(model)
        if prod is None:
            raise registry_lib.RegistryError(f"no model of '{model}' served this window and none is in production: nothing to compare against")
        version = prod.version
    mv = Client().get_model_version(model, version)
    reference, note = monitoring_lib.reference_for_window(settings, mv.get_data_artifact("train_frame").load(), window_predictions)
    if len(reference) > REFERENCE_SAMPLE_ROWS:
        reference = reference.sample(REFERENCE_SAMPLE_ROWS, random_state=0)
    forecaster = registry_lib.load_verified(settings, model, version)
    ref_pred = forecaster.predict(reference)
    current_cols = [c for c in forecaster.features if c in window_inputs.columns]
    profile_diff = profiling_lib.compare_profiles(mv.get_artifact("reference_profile").load(), profiling_lib.profile_frame(window_inputs[current_cols]))
    profile_diff = profile_diff[["column", "status", "null_fraction_change", "mean_shift_sd", "stddev_ratio", "sketch_ks"]]
    feature_keys = feature_join_keys(settings)
    evaluation = mv.run_metadata.get("evaluation") or {}
    holdout_metric = (evaluation.get("candidate") or {}).get(settings.evaluation.primary_metric)
    info = {
        "version": version,
        "features": forecaster.features,
        "rows": len(reference),
        "profile_comparison": profile_diff.astype(object).where(profile_diff.notna(), None).to_dict("records"),
        "holdout_metric": holdout_metric,
        "threshold": forecaster.threshold,
        "reference_window": note,
        "feature_keys": feature_keys,
    }
    return reference.reset_index(drop=True), ref_pred, info


@step(enable_cache=False)
def assess_window(
    settings: Settings,
    window_id: str,
    as_of: str,
    reference_inputs: pd.DataFrame,
    reference_predictions: np.ndarray,
    reference_info: dict,
    window_predictions: pd.DataFrame,
    window_inputs: pd.DataFrame,
    actuals: pd.DataFrame,
) -> Annotated[dict, "assessment"]:
    m = settings.evaluation.primary_metric
    a = monitoring_lib.assess_window(
        settings,
        window_id,
        reference_inputs,
        window_inputs,
        window_predictions,
        reference_predictions,
        actuals,
        pd.Timestamp(as_of),
        reference_info["features"],
        reference_metric=reference_info.get("holdout_metric"),
        threshold=reference_info.get("threshold"),
        feature_keys=reference_info.get("feature_keys"),
    )
    out = a.summary() | {
        "drift": a.drift.to_dict(),
        "output_drift_detail": a.output_drift.to_dict(),
        "segments": a.segments.to_dict("records"),
        "kpi_table": a.kpi.to_dict("records") if a.kpi is not None else [],
        "reference_version": reference_info["version"],
        "reference_metric": reference_info.get("holdout_metric"),
        "threshold": reference_info.get("threshold"),
        "reference_window": reference_info.get("reference_window"),
        "profile_comparison": reference_info.get("profile_comparison", []),
        "review_queue": _review_counts(settings, window_predictions),
    }
    if settings.model.task == "binary_classification" and a.labelled is not None:
        sample = a.labelled.sample(min(len(a.labelled), LABELLED_SAMPLE_ROWS), random_state=0)
        out["labelled_scores"] = {"y_true": sample["actual"].tolist(), "score": sample[monitoring_lib.PREDICTION].tolist()}
    log_metadata(
        {
            "input_drift": a.drift.severity,
            "output_drift": a.output_drift.severity,
            "label_completeness": a.label_completeness,
            **({f"live_{m}": a.performance[m]} if a.performance and m in a.performance else {}),
        }
    )
    return out


def _review_counts(settings: Settings, window_predictions: pd.DataFrame) -> dict | None:
    """Rows queued for human review per batch of the window, and rows scored (None: no review band)."""
    batches = sorted(window_predictions["batch"].astype(str).unique()) if "batch" in window_predictions.columns else []
    queued = review_lib.queued_counts(settings, batches)
    if queued is None:
        return None
    scored = window_predictions["batch"].astype(str).value_counts().to_dict() if batches else {}
    return {"queued": queued, "scored": {b: int(scored.get(b, 0)) for b in batches}, "total": int(sum(queued.values()))}


@step(enable_cache=False)
def alerts_and_triggers(settings: Settings, assessment: dict, on_demand: bool = False) -> Annotated[dict, "monitoring_decision"]:
    """Alert policy (N of M, cooldown, de-dup), then one retraining decision."""
    mon, m = settings.monitoring, settings.evaluation.primary_metric
    log = alerts_lib.AlertLog(settings.use_case_path("alerts.jsonl"))
    breaches = [alerts_lib.Breach.from_dict(b) for b in assessment["breaches"]]
    with log.locked():
        alerts = alerts_lib.evaluate_alerts(assessment["window"], breaches, log, mon.alerts)
        log.record_window(assessment["window"], breaches, alerts)
    webhook = alerts_lib.send_webhook(mon.alerts.webhook_url, alerts) if (alerts and mon.alerts.webhook_url) else None

    decisions = registry_lib.decision_log(settings)
    perf = assessment.get("performance") or {}
    trigger = triggers_lib.decide_retraining(
        mon.retraining,
        on_demand=on_demand,
        drift_alerts=sorted({f"{a.kind}:{a.feature}" for a in alerts if a.kind in ("drift", "schema", "output")}),
        performance_alerts=[a.detail or a.feature for a in alerts if a.kind == "performance"],
        live=perf.get(m),
        reference=assessment.get("reference_metric"),
        metric=m,
        metric_direction=metric_direction(m),
        min_label_completeness=settings.schedule.min_label_completeness,
        label_completeness=assessment["label_completeness"],
        last_training=decisions.last_training_time(settings.model.name),
        now=datetime.now(UTC),
        windows_since_retrain=decisions.windows_since_retrain(settings.model.name),
    )
    decisions.append(
        {
            "model": settings.model.name,
            "version": assessment.get("reference_version"),
            "action": "retrain" if trigger.retrain else "no_retrain",
            "reason": "; ".join(trigger.reasons),
            "window": assessment["window"],
            "triggers": trigger.triggers,
            "git_commit": git_commit(),
            "env": settings.environment.name,
        }
    )

    rollback = None
    prod = registry_lib.production(settings.model.name)
    promoted = decisions.latest(settings.model.name, action="promote", version=prod.version) if prod else None
    promoted_value = ((promoted or {}).get("metrics") or {}).get("candidate", {}).get(m) if promoted else None
    reason = triggers_lib.decide_rollback(
        perf.get(m),
        promoted_value,
        assessment["label_completeness"],
        metric_direction(m),
        mon.retraining,
        m,
        min_label_completeness=settings.schedule.min_label_completeness,
    )
    if reason:
        rollback = registry_lib.rollback(settings, settings.model.name, reason=f"automatic: {reason}")
    out = {
        "alerts": [a.to_dict() for a in alerts],
        "webhook": None if webhook is None else {"sent": webhook.sent, "ok": webhook.ok, "status": webhook.status, "error": webhook.error},
        "retrain": trigger.to_dict(),
        "rollback": rollback,
    }
    log_metadata({"alerts": len(alerts), "retrain": trigger.retrain, "triggers": ",".join(trigger.triggers) or "none"})
    return out


def _history(settings: Settings, assessment: dict) -> list[dict]:
    """Past windows' performance and KPIs, for the report's time series."""
    path = settings.use_case_path("monitoring", "history.jsonl")
    past = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
    row = {"window": assessment["window"], **(assessment.get("performance") or {}), **(assessment.get("kpi") or {})}
    past = [p for p in past if p.get("window") != row["window"]] + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, ("\n".join(json.dumps(p, default=str) for p in past) + "\n").encode())
    return past


@step(enable_cache=False)
def render_monitoring_report(
    settings: Settings, assessment: dict, decision: dict, reference_inputs: pd.DataFrame, window_inputs: pd.DataFrame
) -> Annotated[HTMLString, "monitoring_report"]:
    drift = DriftResult.from_dict(assessment["drift"])
    notes = [
        f"reference: {assessment.get('reference_window', '')}",
        f"retraining: {'yes' if decision['retrain']['retrain'] else 'no'} ({'; '.join(decision['retrain']['reasons'])})",
        f"served by: {assessment['served_by']}",
        f"label completeness: {assessment['label_completeness']:.0%}",
    ]
    if assessment.get("performance"):
        perf = assessment["performance"]
        notes.append("live " + ", ".join(f"{k} {v:.3f}" for k, v in perf.items() if k != "rows" and isinstance(v, (int, float))))
    if decision.get("rollback"):
        notes.append(f"automatic rollback: {decision['rollback']['reason']}")
    kpi = pd.DataFrame(assessment["kpi_table"]) if assessment.get("kpi_table") else None
    plugin, scores = load_plugin(settings), assessment.get("labelled_scores") or {}
    html = report_lib.render_report(
        drift,
        reference_inputs,
        window_inputs,
        model_name=settings.model.name,
        model_version=assessment.get("reference_version", ""),
        window=assessment["window"],
        history=_history(settings, assessment),
        alerts=[alerts_lib.Alert.from_dict(a) for a in decision["alerts"]],
        kpi=kpi,
        currency=settings.monitoring.kpi.currency if settings.monitoring.kpi else "",
        notes=notes,
        metrics=settings.evaluation.metrics or metric_names(settings.model.task),
        kpi_columns=plugin.hook("KPI_HEADLINE") if plugin.has("KPI_HEADLINE") else None,
        y_true=scores.get("y_true"),
        score=scores.get("score"),
        threshold=assessment.get("threshold"),
        review_queue=assessment.get("review_queue"),
        title=f"Runway monitoring report: {settings.use_case}",
    )
    path = report_lib.write_report(html, settings.use_case_path("reports", f"monitoring-{assessment['window']}.html"))
    log_metadata({"report_path": str(path)})
    return HTMLString(html)
