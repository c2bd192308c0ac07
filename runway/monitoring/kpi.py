"""The shape every use case's KPI frame has: one row per segment value of
each segment column, plus one ``total`` row (what monitoring reads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

TOTAL = "total"


def segment_table(data: pd.DataFrame, segment_cols: Sequence[str], aggregate: Callable[[pd.DataFrame], dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """``aggregate`` applied to each ``seg:<column>`` group (values sorted) and to all rows.

    ``data`` carries one ``seg:<column>`` string column per segment column
    (the plug-in's own preparation); the result has ``level`` (the segment
    column or ``total``), ``segment`` and ``columns`` in order.
    """
    rows = []
    for c in segment_cols:
        for value, g in data.groupby(f"seg:{c}", sort=True):
            rows.append({"level": c, "segment": str(value), **aggregate(g)})
    rows.append({"level": TOTAL, "segment": TOTAL, **aggregate(data)})
    return pd.DataFrame(rows, columns=list(columns))
