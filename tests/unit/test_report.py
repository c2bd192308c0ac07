"""The HTML report: self-contained, one decodable PNG per feature, every
section present, charts named by what it is given (no metric of its own),
classification charts from labelled scores, text escaped, atomic write."""

from __future__ import annotations

import base64
import os
import re
import struct
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from runway.monitoring import alerts as A
from runway.monitoring import drift
from runway.monitoring.report import reliability_bins, render_report, resolve_series, roc_points, write_report
from usecases.retail_demand import KPI_HEADLINE, kpi_frame

pytestmark = pytest.mark.unit

IMG = re.compile(r'<img class="(?P<cls>[a-z]+)" alt="(?P<alt>[^"]*)" src="data:image/png;base64,(?P<b64>[A-Za-z0-9+/=]+)">')


def png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64, validate=True)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", raw[16:24])  # IHDR
    return width, height


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    n = 4_000
    ref = pd.DataFrame(
        {
            "price": rng.lognormal(1, 0.4, n),
            "lag_7": rng.poisson(5, n).astype(float),
            "region": rng.choice(["north", "south", "east"], n),
            "on_promotion": rng.random(n) < 0.1,
            "<b>odd name</b>": rng.normal(size=n),
        }
    )
    cur = ref.sample(1_000, random_state=1).reset_index(drop=True)
    cur["price"] *= 1.25
    cur = cur.drop(columns=["lag_7"]).assign(extra=1)
    res = drift.drift_report(ref, cur)
    scored = pd.DataFrame({"store_id": ["s1", "s2"] * 5, "region": ["north"] * 10, "y": np.arange(10.0), "p": np.arange(10.0) + 1})
    history = [{"window": f"2024-W{w:02d}", "mae": 1 + w / 10, "wape": 0.2 + w / 100, "lost_sales": 50.0 + w, "overstock_cost": 20.0} for w in range(1, 6)]
    alerts = [A.Alert("2024-W05", "price", "drift", "alert", 2, 3, 0.4, 0.25, "PSI 0.40")]
    return ref, cur, res, kpi_frame(scored, "y", "p", ["store_id", "region"]), history, alerts


def render(inputs, **kw) -> str:
    ref, cur, res, kpi, history, alerts = inputs
    args = {
        "model_name": "retail_demand_forecaster",
        "model_version": 7,
        "window": "2024-W05",
        "history": history,
        "alerts": alerts,
        "kpi": kpi,
        "generated_at": datetime(2024, 2, 5, 6, 0, tzinfo=UTC),
    }
    return render_report(res, ref, cur, **(args | kw))


def test_every_feature_has_its_name_and_a_png(inputs):
    html = render(inputs)
    res = inputs[2]
    plots = {m["alt"]: m["b64"] for m in IMG.finditer(html) if m["cls"] == "plot"}
    for f in res.features:
        name = f.feature.replace("<", "&lt;").replace(">", "&gt;")
        assert name in html
        b64 = plots[f"distribution of {name}"]
        w, h = png_size(b64)
        assert w > 50 and h > 50
    assert len(plots) == len(res.features) == 5  # lag_7 (missing from current) still gets a chart


def test_sections_and_header(inputs):
    html = render(inputs)
    for text in [
        "retail_demand_forecaster",
        "version <b>7</b>",
        "2024-W05",
        "2024-02-05T06:00:00+00:00",
        "breached in 2 of the last 3 windows",
        "Schema changes",
        "extra",
        "KPI by segment",
        "lost_sales (EUR)",
    ]:
        assert text in html, text
    wide = [m["alt"] for m in IMG.finditer(html) if m["cls"] == "wide"]
    # One chart per metric the history has, one for the KPI's money columns.
    assert wide == ["PSI per feature", "mae over time", "wape over time", "KPI over time"]
    assert "Classification" not in html  # no labelled scores given
    # Severity colours: the price row is tinted as an alert.
    assert re.search(r'<tr style="background:#fde7e7"><td><a href="#feat-price">price</a>', html)


def test_self_contained_and_escaped(inputs):
    html = render(inputs)
    assert "<b>odd name</b>" not in html and "&lt;b&gt;odd name&lt;/b&gt;" in html
    for external in ("<script", "<link", 'src="http', "src='http", "url(http", "@import"):
        assert external not in html


def test_without_history_alerts_or_frames(inputs):
    res = inputs[2]
    html = render_report(res, None, None)
    assert "No history of past windows yet" in html and "No alerts raised" in html
    plots = [m for m in IMG.finditer(html) if m["cls"] == "plot"]
    assert len(plots) == len(res.features)  # placeholders are still images
    with pytest.raises(TypeError, match="drift must be a DriftResult"):
        render_report(res.to_dict(), None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="history needs a 'window' label"):
        render_report(res, None, None, history=[{"mae": 1.0}])


def test_write_report_is_atomic(inputs, tmp_path):
    html = render(inputs)
    target = tmp_path / "reports" / "w05.html"
    write_report(html, target)
    write_report(html, target)  # overwrite in place
    assert target.read_text(encoding="utf-8") == html
    assert os.listdir(target.parent) == ["w05.html"]


def test_charts_follow_the_given_metrics_and_kpi(inputs):
    ref, cur, res, _, _, _ = inputs
    history = [
        {
            "window": f"W{w}",
            "roc_auc": 0.8 - w / 100,
            "brier": 0.04,
            "rows": 1000,
            "net_value": 100.0 * w,
            "contact_cost": 50.0,
            "saved_revenue": 50.0 + 100 * w,
        }
        for w in range(4)
    ]
    html = render_report(res, ref, cur, history=history, metrics=["brier", "roc_auc", "f1"], kpi_columns=["net_value", "saved_revenue"], currency="USD")
    wide = [m["alt"] for m in IMG.finditer(html) if m["cls"] == "wide"]
    assert wide == ["PSI per feature", "brier over time", "roc_auc over time", "KPI over time"]  # f1 is not in the history
    for retail in ("mae", "wape", "lost sales", "lost_sales"):
        assert retail not in html
    # Defaults: metric names of any task chart alone; other numbers (not row counts) are the KPI.
    h = pd.DataFrame(history)
    assert resolve_series(h, None, None) == (["roc_auc", "brier"], ["net_value", "contact_cost", "saved_revenue"])
    assert resolve_series(h, ["roc_auc"], ["net_value", "missing"]) == (["roc_auc"], ["net_value"])


def test_kpi_table_shows_the_use_cases_columns(inputs):
    _ref, _cur, _res, _kpi, _history, _ = inputs
    html = render(inputs, kpi_columns=KPI_HEADLINE)
    table = html[html.index("KPI by segment") : html.index("Schema changes")]
    for col in ("units_short", "mae", "rows_missing"):
        assert f"<th>{col}</th>" in table
    for col in KPI_HEADLINE:
        assert f"<th>{col} (EUR)</th>" in table
    assert "<th>currency</th>" not in table


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(3)
    y = (rng.random(3_000) < 0.1).astype(int)
    p = np.clip(rng.normal(0.25 + 0.35 * y, 0.15), 0, 1)
    return y, p


def test_classification_charts_from_labelled_scores(inputs, scores):
    y, p = scores
    y_with_gap = y.astype(float)
    y_with_gap[:10] = np.nan  # labels not in yet are left out
    html = render(inputs, y_true=y_with_gap, score=p, threshold=0.4)
    assert "Classification: labelled scores of this window" in html
    assert f"{len(y) - 10:,} labelled rows" in html and "at threshold 0.4" in html
    imgs = {m["alt"]: m["b64"] for m in IMG.finditer(html) if m["cls"] == "wide"}
    for alt in ("ROC curve", "Calibration (reliability) plot", "Score distribution"):
        w, h = png_size(imgs[alt])
        assert w > 100 and h > 100
    # One class only: the ROC chart says why instead of drawing a curve.
    html = render(inputs, y_true=np.zeros(50), score=np.linspace(0, 1, 50))
    assert "ROC curve" in {m["alt"] for m in IMG.finditer(html)}
    with pytest.raises(ValueError, match="0/1 labels"):
        render(inputs, y_true=np.full(5, 2.0), score=np.zeros(5))
    with pytest.raises(ValueError, match="differ in length"):
        render(inputs, y_true=np.zeros(5), score=np.zeros(4))


def test_roc_and_reliability_by_hand():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.9])
    fpr, tpr, auc = roc_points(y, p)
    # Pairs (pos, neg) ranked right: 0.35>0.1; 0.8>0.1,0.4, tie with 0.8 (half); 0.9 > all -> 1+2.5+3 = 6.5 of 9
    assert auc == pytest.approx(6.5 / 9)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    from sklearn.metrics import roc_auc_score

    assert auc == pytest.approx(roc_auc_score(y, p))
    rb = reliability_bins(y, p, bins=2).set_index("bin")
    assert rb.loc[0, "rows"] == 3 and rb.loc[0, "observed"] == pytest.approx(1 / 3)  # 0.1, 0.4, 0.35
    assert rb.loc[1, "score"] == pytest.approx((0.8 + 0.8 + 0.9) / 3) and rb.loc[1, "observed"] == pytest.approx(2 / 3)
