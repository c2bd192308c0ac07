"""Business KPIs of forecast error for retail replenishment.

Stock is ordered to the forecast, so (per row = store x item x day):

* under-forecast -> the shelf runs empty: ``units_short = max(actual - forecast, 0)``
  units are lost sales, costing ``margin_per_unit`` each;
* over-forecast -> the surplus sits in stock: ``units_over = max(forecast - actual, 0)``
  units cost ``holding_cost_per_unit`` each.

This is the usual first-order model (no safety stock, no carry-over between
days, no substitution); it prices the *asymmetry* of errors, which MAE/WAPE
ignore: with margin 2.0 and holding 0.5, one unit short costs as much as four
units over.

Rows without an actual (labels not in yet) or without a forecast are left out
and counted in ``rows_missing``.

The costs are the use case's ``monitoring.kpi.params`` (typed by
``KpiParams``); the currency is ``monitoring.kpi.currency``.
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
    "units_actual",
    "units_forecast",
    "units_short",
    "units_over",
    "lost_sales",
    "overstock_cost",
    "total_cost",
    "mae",
    "wape",
    "bias",
    "currency",
]
# The KPI frame's columns the core shows in summaries and charts, in order (money).
KPI_HEADLINE: tuple[str, ...] = ("total_cost", "lost_sales", "overstock_cost")


class KpiParams(BaseModel):
    """``monitoring.kpi.params`` of retail_demand: costs in currency per unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    margin_per_unit: float = Field(2.0, ge=0)
    holding_cost_per_unit: float = Field(0.5, ge=0)


def kpi_params(kpi: KpiConfig | None) -> tuple[KpiParams, str]:
    """The typed parameters and the currency of a ``monitoring.kpi`` section (None: defaults)."""
    if kpi is None:
        return KpiParams(), "EUR"
    return KpiParams.model_validate(dict(kpi.params)), kpi.currency


def _prepare(df: pd.DataFrame, y_true: str, y_pred: str, segment_cols: Sequence[str]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    for role, col in [("y_true", y_true), ("y_pred", y_pred), *(("segment", c) for c in segment_cols)]:
        if col not in df.columns:
            raise ValueError(f"{role} column '{col}' is not in the frame (columns: {list(df.columns)})")
    out = pd.DataFrame(index=df.index)
    for role, col in (("y_true", y_true), ("y_pred", y_pred)):
        s = df[col]
        if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
            raise ValueError(f"{role} column '{col}' must be numeric, got dtype {s.dtype}")
        out[role] = s.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(out[role]).any():
            raise ValueError(f"{role} column '{col}' holds infinite values")
    for c in segment_cols:
        out[f"seg:{c}"] = df[c].astype(str).where(df[c].notna(), "<missing>")
    return out


def _aggregate(g: pd.DataFrame, params: KpiParams, currency: str) -> dict[str, Any]:
    present = g["y_true"].notna() & g["y_pred"].notna()
    y, p = g.loc[present, "y_true"].to_numpy(), g.loc[present, "y_pred"].to_numpy()
    err = p - y
    short = np.clip(-err, 0, None).sum()
    over = np.clip(err, 0, None).sum()
    actual = y.sum()
    denom = np.abs(y).sum()
    lost = short * params.margin_per_unit
    overstock = over * params.holding_cost_per_unit
    return {
        "rows": int(present.sum()),
        "rows_missing": int((~present).sum()),
        "units_actual": float(actual),
        "units_forecast": float(p.sum()),
        "units_short": float(short),
        "units_over": float(over),
        "lost_sales": float(lost),
        "overstock_cost": float(overstock),
        "total_cost": float(lost + overstock),
        "mae": float(np.abs(err).mean()) if y.size else float("nan"),
        # WAPE is undefined when nothing sold; NaN rather than an error so one
        # closed store does not break the table.
        "wape": float(np.abs(err).sum() / denom) if denom > 0 else float("nan"),
        "bias": float(err.sum() / denom) if denom > 0 else float("nan"),
        "currency": currency,
    }


def kpi_frame(frame: pd.DataFrame, actual: str, prediction: str, segment_cols: Sequence[str] = (), kpi: KpiConfig | None = None) -> pd.DataFrame:
    """KPIs per segment value of each ``segment_cols`` column and in total.

    Returns one row per (level, segment): ``level`` is the segment column
    (e.g. ``store_id``, ``region``) or ``"total"``; money columns
    (``lost_sales``, ``overstock_cost``, ``total_cost``) are in
    ``kpi.currency``. Segment values are strings, sorted.
    Typical call: ``kpi_frame(scored, "actual", "prediction",
    settings.monitoring.segment_by, settings.monitoring.kpi)``.
    """
    params, currency = kpi_params(kpi)
    if isinstance(segment_cols, str):
        segment_cols = [segment_cols]
    data = _prepare(frame, actual, prediction, segment_cols)
    return segment_table(data, segment_cols, lambda g: _aggregate(g, params, currency), KPI_COLUMNS)
