"""Evaluation: candidate vs the use case's baseline vs production, same rows."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

import runway.evaluation.importance as importance_lib
import runway.evaluation.report as evaluation_lib
import runway.governance.registry as registry_lib
from runway.config import Settings
from runway.modeling.artifact import ModelArtifact

logger = get_logger(__name__)


# Not cached: the result depends on which version is production right now.
@step(enable_cache=False)
def evaluate_model(settings: Settings, model: ModelArtifact, holdout_frame: pd.DataFrame, history: pd.DataFrame) -> Annotated[dict, "evaluation"]:
    prod_model, prod_version, prod_error = None, None, None
    prod = registry_lib.production(settings.model.name)
    if prod is not None:
        try:
            prod_model = registry_lib.load_verified(settings, settings.model.name, prod.version)
            prod_model.predict(holdout_frame.head(1))  # fails here, not inside the report, if it cannot score
            prod_version = prod.version
        except Exception as exc:  # noqa: BLE001 - recorded; the gate fails closed on it
            prod_model, prod_error = None, f"production v{prod.version} could not be scored: {exc}"
            logger.error(prod_error)
    report = evaluation_lib.evaluate_candidate(settings, model, holdout_frame, history, production=prod_model, production_version=prod_version)
    out = report.to_dict() | {"production_error": prod_error}
    m = settings.evaluation.primary_metric
    # For the lineage and the model card: what the report does not hold.
    ev = settings.evaluation
    out["importance"] = importance_lib.permutation_importance(model, holdout_frame, m, max_rows=ev.importance_rows, repeats=ev.importance_repeats, seed=ev.seed)
    out["training"] = {
        "start": model.train_start,
        "end": model.train_end,
        "rows": model.trained_rows,
        "features": list(model.features),
        "threshold_detail": model.metadata.get("threshold_detail"),
    }
    log_metadata(
        {
            f"candidate_{m}": report.candidate.get(m),
            f"baseline_{m}": report.baseline.get(m),
            **({f"production_{m}": report.production.get(m)} if report.production else {}),
        }
    )
    return out
