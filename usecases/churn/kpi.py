"""Business KPI of a churn model: the revenue a retention campaign keeps.

Each scored customer whose churn score reaches the decision threshold is
contacted with a retention offer (``contact_cost`` each). Of the contacted
customers who would really have churned, a share ``saved_share`` stays; each
one kept is worth ``customer_value``. So, per row = customer x snapshot:

* ``contact_cost = contacted * contact_cost``,
* ``customers_saved = churners_contacted * saved_share``,
* ``saved_revenue = customers_saved * customer_value``,
* ``net_value = saved_revenue - contact_cost`` (positive: the campaign pays).

Non-churners contacted cost money and save nothing; churners not contacted
are lost (``churners - churners_contacted``). This is a first-order model:
no offer cost beyond contact, no effect on non-churners.

The threshold: ``params.threshold`` if set, else a ``_threshold`` column of
the frame (the threshold the model decided with), else 0.5. A boolean
``prediction`` column counts as the decision itself. Rows without a label
(not in yet) or without a score are left out and counted in
``rows_missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from runway.monitoring.kpi import segment_table

if TYPE_CHECKING:
    from runway.config.schema import KpiConfig

KPI_COLUMNS = [
    "level",
    "segment",
    "rows",
    "rows_missing",
    "churners",
    "contacted",
    "churners_contacted",
    "churners_missed",
    "precision",
    "recall",
    "customers_saved",
    "saved_revenue",
    "contact_cost",
    "net_value",
    "currency",
]
THRESHOLD_COLUMN = "_threshold"  # set by the monitoring window: the threshold the model decided with
# The KPI frame's columns the core shows in summaries and charts, in order (money).
KPI_HEADLINE: tuple[str, ...] = ("net_value", "saved_revenue", "contact_cost")


class KpiParams(BaseModel):
    """``monitoring.kpi.params`` of churn (money in ``monitoring.kpi.currency``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact_cost: float = Field(5.0, ge=0)
    saved_share: float = Field(0.3, ge=0, le=1)
    customer_value: float = Field(240.0, ge=0)
    threshold: float | None = Field(None, gt=0, lt=1)


def kpi_params(kpi: KpiConfig | None) -> tuple[KpiParams, str]:
    if kpi is None:
        return KpiParams(), "EUR"
    return KpiParams.model_validate(dict(kpi.params)), kpi.currency


def _prepare(frame: pd.DataFrame, actual: str, prediction: str, segment_cols: Sequence[str], params: KpiParams) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    for role, col in [("actual", actual), ("prediction", prediction), *(("segment", c) for c in segment_cols)]:
        if col not in frame.columns:
            raise ValueError(f"{role} column '{col}' is not in the frame (columns: {list(frame.columns)})")
    out = pd.DataFrame(index=frame.index)
    for role, col in (("actual", actual), ("prediction", prediction)):
        s = frame[col]
        if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            raise ValueError(f"{role} column '{col}' must be numeric or boolean, got dtype {s.dtype}")
        out[role] = s.to_numpy(dtype=float, na_value=np.nan)
    y = out["actual"].dropna()
    if not y.isin([0.0, 1.0]).all():
        raise ValueError(f"actual column '{actual}' must hold 0/1 labels, found {sorted(set(y.unique()) - {0.0, 1.0})[:5]}")
    p = out["prediction"].dropna()
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"prediction column '{prediction}' must hold scores in [0, 1]")
    if params.threshold is not None:
        out["threshold"] = params.threshold
    elif THRESHOLD_COLUMN in frame.columns:
        out["threshold"] = pd.to_numeric(frame[THRESHOLD_COLUMN], errors="coerce").to_numpy(dtype=float)
    else:
        out["threshold"] = 0.5
    for c in segment_cols:
        out[f"seg:{c}"] = frame[c].astype(str).where(frame[c].notna(), "<missing>")
    return out


def _aggregate(g: pd.DataFrame, params: KpiParams, currency: str) -> dict[str, Any]:
    present = g["actual"].notna() & g["prediction"].notna() & g["threshold"].notna()
    y = g.loc[present, "actual"].to_numpy() == 1.0
    flagged = g.loc[present, "prediction"].to_numpy() >= g.loc[present, "threshold"].to_numpy()
    churners, contacted, hit = int(y.sum()), int(flagged.sum()), int((y & flagged).sum())
    saved = hit * params.saved_share
    revenue = saved * params.customer_value
    cost = contacted * params.contact_cost
    return {
        "rows": int(present.sum()),
        "rows_missing": int((~present).sum()),
        "churners": churners,
        "contacted": contacted,
        "churners_contacted": hit,
        "churners_missed": churners - hit,
        "precision": hit / contacted if contacted else float("nan"),
        "recall": hit / churners if churners else float("nan"),
        "customers_saved": float(saved),
        "saved_revenue": float(revenue),
        "contact_cost": float(cost),
        "net_value": float(revenue - cost),
        "currency": currency,
    }


def kpi_frame(frame: pd.DataFrame, actual: str, prediction: str, segment_cols: Sequence[str] = (), kpi: KpiConfig | None = None) -> pd.DataFrame:
    """Retention KPIs per segment value of each ``segment_cols`` column and in total.

    One row per (level, segment): ``level`` is the segment column (``subscription_plan``,
    ``region``) or ``"total"``; money columns (``saved_revenue``,
    ``contact_cost``, ``net_value``) are in ``kpi.currency``; segment values
    are strings, sorted.
    """
    params, currency = kpi_params(kpi)
    if isinstance(segment_cols, str):
        segment_cols = [segment_cols]
    data = _prepare(frame, actual, prediction, segment_cols, params)
    return segment_table(data, segment_cols, lambda g: _aggregate(g, params, currency), KPI_COLUMNS)
