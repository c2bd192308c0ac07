"""Business KPIs of the use-case plug-ins, on frames small enough to check by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from runway.config import KpiConfig, load_settings
from runway.plugins import load_plugin

pytestmark = pytest.mark.unit

RETAIL = KpiConfig(currency="EUR", params={"margin_per_unit": 2.0, "holding_cost_per_unit": 0.5})
CHURN = KpiConfig(currency="EUR", params={"contact_cost": 5.0, "saved_share": 0.5, "customer_value": 100.0})


def plugin(use_case: str):
    return load_plugin(load_settings(use_case))


@pytest.fixture(scope="module")
def retail_kpi():
    p = plugin("retail_demand")
    return p.hook("kpi_frame"), p.hook("KPI_HEADLINE")


@pytest.fixture(scope="module")
def churn_kpi():
    p = plugin("churn")
    return p.hook("kpi_frame"), p.hook("KPI_HEADLINE")


def total_row(frame: pd.DataFrame) -> dict:
    """The ``total`` row as the monitoring history stores it (JSON-safe)."""
    row = frame[frame["level"] == "total"].drop(columns=["level", "segment"]).iloc[0]
    return {k: (None if isinstance(v, float) and np.isnan(v) else (v.item() if isinstance(v, np.generic) else v)) for k, v in row.items()}


# ------------------------------------------------------------------ retail --


@pytest.fixture
def frame() -> pd.DataFrame:
    # row  store region actual forecast  short over
    #  0    s1   north    10     8         2     0
    #  1    s1   north     5     7         0     2
    #  2    s2   south     0     1         0     1
    #  3    s2   south     4     4         0     0
    #  4    s3   north     6    NaN  (no forecast: left out)
    #  5    s3   north    NaN    3   (label not in yet: left out)
    return pd.DataFrame(
        {
            "store_id": ["s1", "s1", "s2", "s2", "s3", "s3"],
            "region": ["north", "north", "south", "south", "north", "north"],
            "units_sold": [10.0, 5.0, 0.0, 4.0, 6.0, np.nan],
            "prediction": [8.0, 7.0, 1.0, 4.0, np.nan, 3.0],
        }
    )


def test_retail_kpi_by_store_region_and_total(retail_kpi, frame):
    kpi_frame, headline = retail_kpi
    out = kpi_frame(frame, "units_sold", "prediction", ["store_id", "region"], RETAIL)
    assert list(out.columns[:2]) == ["level", "segment"] and set(headline) <= set(out.columns)
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


def test_retail_asymmetric_costs_follow_config(retail_kpi, frame):
    kpi_frame, _ = retail_kpi
    cheap_stock = kpi_frame(frame, "units_sold", "prediction", [], KpiConfig(params={"margin_per_unit": 10.0, "holding_cost_per_unit": 0.0}))
    assert list(cheap_stock["level"]) == ["total"]
    assert cheap_stock.loc[0, "lost_sales"] == 20.0 and cheap_stock.loc[0, "overstock_cost"] == 0.0
    # The YAML's own parameters are the defaults' values; unknown ones are refused.
    s = load_settings("retail_demand")
    assert kpi_frame(frame, "units_sold", "prediction", [], s.monitoring.kpi).loc[0, "total_cost"] == 5.5
    with pytest.raises(ValidationError, match="margin_per_units"):
        kpi_frame(frame, "units_sold", "prediction", [], KpiConfig(params={"margin_per_units": 1.0}))


def test_retail_total_is_json_safe(retail_kpi, frame):
    kpi_frame, _ = retail_kpi
    tot = total_row(kpi_frame(frame, "units_sold", "prediction", ["store_id"], RETAIL))
    assert tot["total_cost"] == 5.5 and tot["currency"] == "EUR"
    json.dumps(tot, allow_nan=False)


def test_retail_bad_input_names_the_column(retail_kpi, frame):
    kpi_frame, _ = retail_kpi
    with pytest.raises(ValueError, match="y_pred column 'pred' is not in the frame"):
        kpi_frame(frame, "units_sold", "pred", [], RETAIL)
    with pytest.raises(ValueError, match="segment column 'city' is not in the frame"):
        kpi_frame(frame, "units_sold", "prediction", ["city"], RETAIL)
    with pytest.raises(ValueError, match="y_true column 'store_id' must be numeric"):
        kpi_frame(frame, "store_id", "prediction", [], RETAIL)
    with pytest.raises(ValueError, match="y_pred column 'prediction' holds infinite values"):
        kpi_frame(frame.assign(prediction=np.inf), "units_sold", "prediction", [], RETAIL)


# ------------------------------------------------------------------- churn --


@pytest.fixture
def scored() -> pd.DataFrame:
    # row plan   region churned score  contacted (>= 0.5)
    #  0  basic  north    1     0.9    yes  -> churner reached
    #  1  basic  north    0     0.7    yes  -> wasted contact
    #  2  basic  south    1     0.2    no   -> churner missed
    #  3  premium south   0     0.1    no
    #  4  premium south   1     0.6    yes  -> churner reached
    #  5  premium north  NaN    0.8    (label not in yet: left out)
    return pd.DataFrame(
        {
            "subscription_plan": ["basic", "basic", "basic", "premium", "premium", "premium"],
            "region": ["north", "north", "south", "south", "south", "north"],
            "churned_30d": [1.0, 0.0, 1.0, 0.0, 1.0, np.nan],
            "prediction": [0.9, 0.7, 0.2, 0.1, 0.6, 0.8],
        }
    )


def test_churn_retained_revenue_by_hand(churn_kpi, scored):
    kpi_frame, headline = churn_kpi
    assert headline == ("net_value", "saved_revenue", "contact_cost")
    out = kpi_frame(scored, "churned_30d", "prediction", ["subscription_plan", "region"], CHURN)
    idx = out.set_index(["level", "segment"])

    total = idx.loc[("total", "total")]
    # contacted rows 0, 1, 4: 3 x 5.0 = 15.0; churners reached 2 x 0.5 saved x 100 = 100.0
    assert (total["rows"], total["rows_missing"]) == (5, 1)
    assert (total["churners"], total["contacted"], total["churners_contacted"], total["churners_missed"]) == (3, 3, 2, 1)
    assert total["contact_cost"] == 15.0 and total["customers_saved"] == 1.0
    assert total["saved_revenue"] == 100.0 and total["net_value"] == 85.0
    assert total["precision"] == pytest.approx(2 / 3) and total["recall"] == pytest.approx(2 / 3)

    basic = idx.loc[("subscription_plan", "basic")]
    # contacted 0, 1 (10.0); reached 1 churner -> 0.5 x 100 = 50.0
    assert (basic["contact_cost"], basic["saved_revenue"], basic["net_value"]) == (10.0, 50.0, 40.0)
    south = idx.loc[("region", "south")]
    # contacted row 4 only (5.0); reached 1 -> 50.0; row 2 missed
    assert (south["contacted"], south["churners_missed"], south["net_value"]) == (1, 1, 45.0)
    north = idx.loc[("region", "north")]
    assert (north["rows"], north["rows_missing"]) == (2, 1)
    assert set(out["currency"]) == {"EUR"}
    json.dumps(total_row(out), allow_nan=False)


def test_churn_threshold_and_decisions(churn_kpi, scored):
    kpi_frame, _ = churn_kpi
    # The model's threshold travels in a `_threshold` column (the monitoring window sets it) ...
    at_08 = kpi_frame(scored.assign(_threshold=0.8), "churned_30d", "prediction", [], CHURN).iloc[0]
    assert (at_08["contacted"], at_08["churners_contacted"], at_08["net_value"]) == (1, 1, 45.0)
    # ... params.threshold overrides it ...
    fixed = KpiConfig(params={**CHURN.params, "threshold": 0.15})
    low = kpi_frame(scored.assign(_threshold=0.8), "churned_30d", "prediction", [], fixed).iloc[0]
    assert (low["contacted"], low["churners_contacted"]) == (4, 3)
    # ... and boolean decisions are the contacts themselves.
    decided = kpi_frame(scored.assign(prediction=[True, False, False, False, True, True]), "churned_30d", "prediction", [], CHURN).iloc[0]
    assert (decided["contacted"], decided["churners_contacted"], decided["net_value"]) == (2, 2, 90.0)
    # No one contacted: nothing spent, nothing saved, precision undefined.
    none = kpi_frame(scored.assign(_threshold=0.95), "churned_30d", "prediction", [], CHURN).iloc[0]
    assert none["net_value"] == 0.0 and np.isnan(none["precision"])


def test_churn_yaml_parameters_and_bad_input(churn_kpi, scored):
    kpi_frame, _ = churn_kpi
    s = load_settings("churn")
    out = kpi_frame(scored, "churned_30d", "prediction", s.monitoring.segment_by, s.monitoring.kpi)
    p = s.monitoring.kpi.params
    total = out[out["level"] == "total"].iloc[0]
    assert total["net_value"] == pytest.approx(2 * p["saved_share"] * p["customer_value"] - 3 * p["contact_cost"])
    with pytest.raises(ValueError, match="0/1 labels"):
        kpi_frame(scored.assign(churned_30d=2.0), "churned_30d", "prediction", [], CHURN)
    with pytest.raises(ValueError, match=r"scores in \[0, 1\]"):
        kpi_frame(scored.assign(prediction=1.5), "churned_30d", "prediction", [], CHURN)
    with pytest.raises(ValueError, match="segment column 'city' is not in the frame"):
        kpi_frame(scored, "churned_30d", "prediction", ["city"], CHURN)
    with pytest.raises(ValidationError, match="saved_share"):
        kpi_frame(scored, "churned_30d", "prediction", [], KpiConfig(params={"saved_share": 2.0}))
