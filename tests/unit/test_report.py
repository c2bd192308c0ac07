"""The HTML report: self-contained, one decodable PNG per feature, every
section present, text escaped, atomic write."""

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
from runway.monitoring.kpi import kpi_frame
from runway.monitoring.report import render_report, write_report

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
    ref = pd.DataFrame({
        "price": rng.lognormal(1, 0.4, n),
        "lag_7": rng.poisson(5, n).astype(float),
        "region": rng.choice(["north", "south", "east"], n),
        "on_promotion": rng.random(n) < 0.1,
        "<b>odd name</b>": rng.normal(size=n),
    })
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
    args = {"model_name": "retail_demand_forecaster", "model_version": 7, "window": "2024-W05", "history": history, "alerts": alerts, "kpi": kpi,
            "generated_at": datetime(2024, 2, 5, 6, 0, tzinfo=UTC)}
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
    for text in ["retail_demand_forecaster", "version <b>7</b>", "2024-W05", "2024-02-05T06:00:00+00:00",
                 "breached in 2 of the last 3 windows", "Schema changes", "extra", "KPI by segment", "lost_sales (EUR)"]:
        assert text in html, text
    wide = [m["alt"] for m in IMG.finditer(html) if m["cls"] == "wide"]
    assert wide == ["PSI per feature", "MAE over time", "WAPE over time", "KPI cost over time"]
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
