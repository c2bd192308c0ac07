"""Batch inference: features -> verified model -> fallback chain -> predictions sink."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from whylogs.core import DatasetProfileView
from zenml import log_metadata, step
from zenml.logger import get_logger

import runway.evaluation.baselines as baseline_lib
import runway.features.frames as frames_lib
import runway.features.store as fs_lib
import runway.governance.registry as registry_lib
import runway.monitoring.profiling as profiling_lib
import runway.serving.fallback as serving_lib
import runway.serving.predictions as predictions_lib
import runway.serving.review as review_lib
from runway.config import Settings
from steps.materializers import ProfileViewMaterializer

logger = get_logger(__name__)


def _candidates(settings: Settings, levels: list[str]) -> tuple[list[serving_lib.Candidate], list[str]]:
    model, notes = settings.model.name, []
    try:
        prod = registry_lib.production(model)
    except registry_lib.RegistryError as exc:
        prod, notes = None, [f"production lookup failed: {exc}"]
    history = registry_lib.decision_log(settings).production_history(model)
    prod_version = prod.version if prod else None
    if prod is None and not notes:
        notes.append("no production model")
    versions = {"production": prod_version, "last_known_good": serving_lib.last_known_good(history, prod_version)}

    def loader(v: str):
        return lambda: registry_lib.load_verified(settings, model, v)

    return [
        serving_lib.Candidate(level, versions[level], loader(versions[level]) if versions[level] else lambda: None) for level in levels if level in versions
    ], notes


def _remember_models(candidates: list[serving_lib.Candidate]) -> tuple[list[serving_lib.Candidate], dict]:
    """The same candidates, keeping each model they load (the review queue explains its scores)."""
    loaded: dict = {}

    def keep(c: serving_lib.Candidate) -> serving_lib.Candidate:
        def load():
            loaded[str(c.version)] = model = c.load()
            return model

        return serving_lib.Candidate(c.level, c.version, load)

    return [keep(c) for c in candidates], loaded


# Not cached: what serves depends on the registry's state at run time.
@step(enable_cache=False)
def predict_batch(
    settings: Settings, scoring: pd.DataFrame, history: pd.DataFrame, feature_version: str, batch_label: str
) -> tuple[Annotated[pd.DataFrame, "predictions"], Annotated[pd.DataFrame, "model_inputs"], Annotated[dict, "serving_summary"]]:
    ts, keys, target = settings.timestamp, settings.entity_keys, settings.target
    service = settings.features.service_name
    features, feature_error, unknown = None, None, []
    try:
        store = fs_lib.open_store(settings)
        entities = frames_lib.entity_frame(scoring, settings)
        unknown = fs_lib.unknown_entities(store, entities, service)
        feats = fs_lib.historical_features(store, entities, service, timestamp_column=ts, allow_unknown_entities=True)
        features = frames_lib.attach_request_features(feats, scoring, settings)
    except Exception as exc:  # noqa: BLE001 - an unavailable feature service means "fall back"
        feature_error = f"{type(exc).__name__}: {exc}"
        logger.error("feature retrieval failed, falling back to the rule baseline: %s", feature_error)

    candidates, notes = _candidates(settings, [lvl for lvl in settings.inference.fallback if lvl != serving_lib.RULE_LEVEL])
    candidates, loaded = _remember_models(candidates)
    result = serving_lib.predict_with_fallback(
        len(scoring), features, candidates, lambda: baseline_lib.baseline_predictions(settings, history, scoring.reset_index(drop=True)), feature_error
    )
    preds = scoring[[*keys, ts]].reset_index(drop=True).copy()
    for col in dict.fromkeys([*settings.monitoring.segment_by, *settings.monitoring.categorical]):
        if col in scoring.columns and col not in preds.columns:
            preds[col] = scoring[col].to_numpy()
    preds["prediction"] = result.predictions
    preds["served_by"] = result.served_by
    preds["model_version"] = result.served_version

    # Shadow / canary: the staging candidate scores a share of entities beside production.
    shadow = {"enabled": False}
    staging = registry_lib.list_versions(settings.model.name, stage="staging") if settings.inference.shadow_share > 0 else []
    if staging and features is not None:
        mask = serving_lib.shadow_mask(preds, keys, settings.inference.shadow_share)
        try:
            cand = registry_lib.deserialize_verified(registry_lib.read_model_bytes(settings.model.name, staging[0].version), staging[0].artifact_sha256)
            preds["shadow_prediction"] = np.where(mask, cand.predict(features), np.nan)
            preds["shadow_version"] = np.where(mask, staging[0].version, "")
            shadow = {"enabled": True, "version": staging[0].version, "rows": int(mask.sum())}
        except Exception as exc:  # noqa: BLE001 - a broken shadow never blocks serving
            shadow = {"enabled": False, "error": str(exc)}

    inputs = features if features is not None else scoring.drop(columns=[target], errors="ignore")
    where = predictions_lib.write_predictions(settings, preds, inputs, batch_label)
    review: dict = {"enabled": False}
    if settings.inference.review_band is not None:  # human in the loop: the unsure scores
        queue = review_lib.build_queue(settings, preds, features, loaded)
        review = {"enabled": True, "rows": len(queue), "written_to": str(review_lib.write_queue(settings, queue, batch_label))}
    summary = {
        "batch": batch_label,
        "rows": len(preds),
        "served_by": result.counts(),
        "reasons": notes + result.reasons,
        "unknown_entities": len(unknown),
        "shadow": shadow,
        "written_to": where,
        "review_queue": review,
    }
    log_metadata({k: v for k, v in summary.items() if k != "reasons"} | {"fallback_reasons": "; ".join(summary["reasons"]) or "none"})
    return preds, inputs.reset_index(drop=True), summary


@step(enable_cache=False, output_materializers=ProfileViewMaterializer)
def profile_batch(
    settings: Settings, predictions: pd.DataFrame, model_inputs: pd.DataFrame
) -> tuple[Annotated[DatasetProfileView, "input_profile"], Annotated[DatasetProfileView, "prediction_profile"]]:
    numeric = [c for c in model_inputs.columns if pd.api.types.is_numeric_dtype(model_inputs[c]) or pd.api.types.is_bool_dtype(model_inputs[c])]
    return profiling_lib.profile_frame(model_inputs[numeric]), profiling_lib.profile_frame(predictions[["prediction"]])
