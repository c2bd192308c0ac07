"""docs/onboarding.md, followed literally: a dataset with another schema
(station_code / day / rentals, no simulator), YAML only, gets a promoted
model, batch predictions and a monitoring report."""

from __future__ import annotations

from pathlib import Path

import pytest

from runway.serving.predictions import read_predictions
from tests.usecases.conftest import use_case_settings

pytestmark = pytest.mark.integration


def test_a_yaml_only_use_case_runs_the_whole_loop(tmp_path: Path) -> None:
    from pipelines.loop import run_loop

    settings = use_case_settings("bike_rentals", tmp_path)
    before = sorted(p.relative_to(settings.raw_dir) for p in settings.raw_dir.rglob("*.parquet"))
    out = run_loop(settings, progress=lambda _m: None)
    assert out["training"]["decision"]["promote"], out["training"]["decision"]["reason"]
    preds = read_predictions(settings)
    assert set(preds["batch"]) == {b.isoformat() for b in _live(settings)}
    assert {"station_code", "day", "prediction", "served_by", "model_version"} <= set(preds.columns)
    assert (preds["prediction"] >= 0).all()
    report = Path(out["monitoring"][-1]["report"])
    assert report.is_file() and "bike_rentals" in report.read_text()
    # Without a simulator nothing is written into the raw folder.
    assert sorted(p.relative_to(settings.raw_dir) for p in settings.raw_dir.rglob("*.parquet")) == before


def _live(settings):
    from pipelines.loop import scoring_batches

    return scoring_batches(settings)


def test_no_simulator_means_no_sample_data(tmp_path: Path) -> None:
    from pipelines.loop import ensure_data

    settings = use_case_settings("bike_rentals", tmp_path)
    for p in settings.raw_dir.rglob("*"):
        if p.is_file():
            p.unlink()
    assert ensure_data(settings, progress=lambda _m: None) == []
    assert not [p for p in settings.raw_dir.rglob("*") if p.is_file()]
    with pytest.raises(Exception, match="simulator"):
        ensure_data(settings, scenario="price_shift")
