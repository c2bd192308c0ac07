"""Human in the loop, wired end to end: churn's batch inference writes the
review queue of the scores in its band, and monitoring counts it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from runway.serving import review
from runway.serving.predictions import read_predictions
from tests.usecases.conftest import use_case_settings

pytestmark = pytest.mark.integration


def test_batch_inference_queues_the_band_and_monitoring_counts_it(tmp_path: Path) -> None:
    from pipelines.loop import run_loop

    settings = use_case_settings("churn", tmp_path)
    band = settings.inference.review_band
    assert band is not None, "configs/use_cases/churn.yaml enables the review band"
    out = run_loop(settings, progress=lambda _m: None)
    preds = read_predictions(settings)
    assert out["inference"]
    for inf in out["inference"]:
        batch = inf["batch"]
        queue = review.read_queue(settings, batch)
        scored = preds[preds["batch"] == batch]
        inside = scored[scored["prediction"].between(band.low, band.high)]
        assert inf["summary"]["review_queue"]["rows"] == len(queue) == len(inside) > 0, batch
        assert sorted(queue["customer_id"]) == sorted(inside["customer_id"])
        merged = queue.merge(scored[["customer_id", "prediction", "model_version"]], on="customer_id", suffixes=("", "_pred"))
        assert (merged["score"] == merged["prediction"]).all() and (merged["model_version"] == merged["model_version_pred"]).all()
        assert queue["driver_1"].notna().all() and queue["driver_1_effect"].abs().gt(0).all()
        assert set(queue["reference"]) == {"training median"}
    assert out["monitoring"]
    for m in out["monitoring"]:
        counts = m["assessment"]["review_queue"]
        batch = m["window"]
        assert counts["queued"] == {batch: len(review.read_queue(settings, batch))}
        assert counts["scored"][batch] == int((preds["batch"] == batch).sum())
        html = Path(m["report"]).read_text()
        assert f"Human review queue ({counts['total']:,} rows)" in html
    assert isinstance(pd.read_parquet(review.queue_path(settings, out["inference"][0]["batch"])), pd.DataFrame)
