"""Business KPIs on a frame small enough to check by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from runway.config import KpiConfig
from runway.monitoring.kpi import KPI_COLUMNS, kpi_frame, kpi_totals

pytestmark = pytest.mark.unit

CFG = KpiConfig(currency="EUR", margin_per_unit=2.0, holding_cost_per_unit=0.5)


@pytest.fixture
def frame() -> pd.DataFrame:
    # row  store region actual forecast  short over
    #  0    s1   north    10     8         2     0
    #  1    s1   north     5     7         0     2
    #  2    s2   south     0     1         0     1
    #  3    s2   south     4     4         0     0
    #  4    s3   north     6    NaN  (no forecast: left out)
    #  5    s3   north    NaN    3   (label not in yet: left out)
    return pd.DataFrame({
        "store_id": ["s1", "s1", "s2", "s2", "s3", "s3"],
        "region": ["north", "north", "south", "south", "north", "north"],
        "units_sold": [10.0, 5.0, 0.0, 4.0, 6.0, np.nan],
        "prediction": [8.0, 7.0, 1.0, 4.0, np.nan, 3.0],
    })


def test_kpi_by_store_region_and_total(frame):
    out = kpi_frame(frame, "units_sold", "prediction", ["store_id", "region"], CFG)
    assert list(out.columns) == KPI_COLUMNS
    idx = out.set_index(["level", "segment"])

    s1 = idx.loc[("store_id", "s1")]
    # short 2 units x margin 2.0 = 4.0 ; over 2 units x holding 0.5 = 1.0
    assert (s1["units_short"], s1["units_over"]) == (2.0, 2.0)
    assert (s1["lost_sales"], s1["overstock_cost"], s1["total_cost"]) == (4.0, 1.0, 5.0)
    assert s1["mae"] == 2.0 and s1["wape"] == pytest.approx(4 / 15)

    s2 = idx.loc[("store_id", "s2")]
    assert (s2["lost_sales"], s2["overstock_cost"]) == (0.0, 0.5)

    s3 = idx.loc[("store_id", "s3")]
    assert (s3["rows"], s3["rows_missing"]) == (0, 2)
    assert np.isnan(s3["wape"]) and s3["total_cost"] == 0.0

    north = idx.loc[("region", "north")]
    assert (north["rows"], north["rows_missing"], north["lost_sales"]) == (2, 2, 4.0)

    total = idx.loc[("total", "total")]
    assert (total["rows"], total["rows_missing"]) == (4, 2)
    assert total["lost_sales"] == 4.0 and total["overstock_cost"] == 1.5 and total["total_cost"] == 5.5
    assert total["units_actual"] == 19.0 and total["units_forecast"] == 20.0
    assert total["wape"] == pytest.approx(5 / 19)  # |errors| 2+2+1+0 over actuals 19
    assert total["bias"] == pytest.approx(1 / 19)  # over-forecast overall
    assert set(out["currency"]) == {"EUR"}


def test_asymmetric_costs_follow_config(frame):
    cheap_stock = kpi_frame(frame, "units_sold", "prediction", [], KpiConfig(margin_per_unit=10.0, holding_cost_per_unit=0.0))
    assert list(cheap_stock["level"]) == ["total"]
    assert cheap_stock.loc[0, "lost_sales"] == 20.0 and cheap_stock.loc[0, "overstock_cost"] == 0.0


def test_kpi_totals_is_json_safe(frame):
    tot = kpi_totals(kpi_frame(frame, "units_sold", "prediction", ["store_id"], CFG))
    assert tot["total_cost"] == 5.5 and tot["currency"] == "EUR"
    json.dumps(tot, allow_nan=False)


def test_bad_input_names_the_column(frame):
    with pytest.raises(ValueError, match="y_pred column 'pred' is not in the frame"):
        kpi_frame(frame, "units_sold", "pred", [], CFG)
    with pytest.raises(ValueError, match="segment column 'city' is not in the frame"):
        kpi_frame(frame, "units_sold", "prediction", ["city"], CFG)
    with pytest.raises(ValueError, match="y_true column 'store_id' must be numeric"):
        kpi_frame(frame, "store_id", "prediction", [], CFG)
    with pytest.raises(ValueError, match="y_pred column 'prediction' holds infinite values"):
        kpi_frame(frame.assign(prediction=np.inf), "units_sold", "prediction", [], CFG)
