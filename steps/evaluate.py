"""Evaluation: candidate vs seasonal-naive baseline vs production, same rows."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

import runway.evaluation.baselines as baseline_lib
import runway.evaluation.report as evaluation_lib
import runway.governance.registry as registry_lib
from runway.config import Settings
from runway.modeling.artifact import ForecastModel

logger = get_logger(__name__)


# Not cached: the result depends on which version is production right now.
@step(enable_cache=False)
def evaluate_model(settings: Settings, model: ForecastModel, holdout_frame: pd.DataFrame, sales: pd.DataFrame) -> Annotated[dict, "evaluation"]:
    ts, target = settings.contract.timestamp, settings.model.target
    base = baseline_lib.seasonal_naive(sales, holdout_frame, settings.features.entity_keys, ts, target, settings.evaluation.seasonal_period_days, settings.features.horizon_days)
    prod_pred, prod_version, prod_error = None, None, None
    prod = registry_lib.production(settings.model.name)
    if prod is not None:
        try:
            prod_pred = registry_lib.load_verified(settings, settings.model.name, prod.version).predict(holdout_frame)
            prod_version = prod.version
        except Exception as exc:  # noqa: BLE001 - recorded; the gate fails closed on it
            prod_error = f"production v{prod.version} could not be scored: {exc}"
            logger.error(prod_error)
    report = evaluation_lib.evaluate(holdout_frame, target, ts, model.predict(holdout_frame), base, settings.evaluation, prod_pred, prod_version)
    out = report.to_dict() | {"production_error": prod_error}
    m = settings.evaluation.primary_metric
    log_metadata({f"candidate_{m}": report.candidate.get(m), f"baseline_{m}": report.baseline.get(m), **({f"production_{m}": report.production.get(m)} if report.production else {})})
    return out
