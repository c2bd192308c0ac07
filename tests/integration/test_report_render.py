"""Render the monitoring report in headless Chromium and check that every
embedded plot decodes (naturalWidth > 0).

Needs a Chromium binary: on Debian/Ubuntu ``apt-get install -y chromium``
(Ubuntu's deb is ``chromium-browser``), or point ``RUNWAY_CHROMIUM`` at one.
Skipped, with the reason, when none is found.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway.monitoring import drift
from runway.monitoring.report import render_report, write_report

pytestmark = pytest.mark.integration

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# Appended to a copy of the report (the report itself has no scripts): after
# the load event, record every <img> that did not decode into the DOM.
CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.alt; });
  var d = document.createElement("div");
  d.id = "img-check";
  d.textContent = JSON.stringify({total: imgs.length, bad: bad});
  document.body.appendChild(d);
});
</script>"""


def chromium_binary() -> str | None:
    env = os.environ.get("RUNWAY_CHROMIUM")
    if env:
        return env if shutil.which(env) or Path(env).is_file() else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_binary()
    if not path:
        pytest.skip(f"no Chromium binary found (tried {', '.join(CANDIDATES)} and $RUNWAY_CHROMIUM); install the 'chromium' apt package")
    return path


def image_check(chromium: str, page: Path, profile_dir: Path) -> dict:
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile_dir}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    m = re.search(r'<div id="img-check">(.*?)</div>', proc.stdout, re.DOTALL)
    assert m, f"no check result in the DOM (exit {proc.returncode}); stderr tail:\n{proc.stderr[-2000:]}"
    return json.loads(html_lib.unescape(m.group(1)))


@pytest.fixture(scope="module")
def report_html() -> tuple[str, int]:
    rng = np.random.default_rng(0)
    n = 5_000
    ref = pd.DataFrame(
        {
            "price": rng.lognormal(1, 0.4, n),
            "lag_7": rng.poisson(5, n).astype(float),
            "region": rng.choice(["north", "south", "east"], n),
            "on_promotion": rng.random(n) < 0.1,
        }
    )
    cur = ref.sample(2_000, random_state=2).reset_index(drop=True).assign(price=lambda d: d["price"] * 1.2)
    res = drift.drift_report(ref, cur)
    history = [{"window": f"2024-W{w:02d}", "mae": 1 + w / 10, "wape": 0.25, "lost_sales": 40.0 + w, "overstock_cost": 10.0} for w in range(1, 7)]
    html = render_report(res, ref, cur, model_name="retail_demand_forecaster", model_version="3", window="2024-W06", history=history)
    return html, len(res.features)


def test_all_plots_load_in_headless_chromium(chromium, report_html, tmp_path):
    html, n_features = report_html
    page = write_report(html.replace("</body>", CHECK_SCRIPT + "</body>"), tmp_path / "report.html")
    result = image_check(chromium, page, tmp_path / "chromium-profile")
    # n feature plots + PSI bar chart + MAE, WAPE and cost charts
    assert result["total"] == n_features + 4
    assert result["bad"] == []


def test_the_check_detects_a_broken_image(chromium, report_html, tmp_path):
    # Guard against a check that always passes: a corrupt PNG must be reported.
    html, _ = report_html
    broken = '<img alt="broken" src="data:image/png;base64,iVBORw0KGgoAAAA=">'
    page = write_report(html.replace("</body>", broken + CHECK_SCRIPT + "</body>"), tmp_path / "broken.html")
    assert image_check(chromium, page, tmp_path / "chromium-profile")["bad"] == ["broken"]
