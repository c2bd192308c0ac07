"""The gate fails closed: better promotes; worse, tie, within-noise, missing
evaluation, duplicate artifact and slice regressions do not."""

import pytest

from runway.config import PromotionConfig
from runway.evaluation.gate import decide
from runway.evaluation.metrics import GainInterval, Metrics
from runway.evaluation.report import EvaluationReport

pytestmark = pytest.mark.unit
POLICY = PromotionConfig(min_improvement_vs_production=0.01, slice_regression_tolerance=0.10, min_slice_rows=20)


def m(wape):
    return Metrics({"mae": wape * 10, "wape": wape, "bias": 0.0}, rows=1000)


def report(cand=0.20, base=0.30, prod=None, gain_base=(0.33, 0.25, 0.40), gain_prod=None, slices=None):
    r = EvaluationReport(
        primary_metric="wape",
        rows=1000,
        candidate=m(cand),
        baseline=m(base),
        gain_vs_baseline=GainInterval(*gain_base, 100),
        baseline_label="seasonal naive (7 days)",
        slice_by="store_id",
    )
    if prod is not None:
        r.production, r.production_version, r.gain_vs_production = m(prod), "3", GainInterval(*gain_prod, 100)
    r.slices = slices or [{"slice": "S001", "rows": 500, "candidate_wape": cand, "baseline_wape": base, **({"production_wape": prod} if prod else {})}]
    return r


def test_first_model_beating_baseline_promotes():
    d = decide(report(), POLICY, candidate_sha256="a" * 64)
    assert d.promote and "no production model yet" in d.reason
    assert "seasonal naive (7 days) baseline" in d.reason and "wape" in d.reason


def test_better_than_production_promotes():
    d = decide(report(cand=0.20, prod=0.25, gain_prod=(0.2, 0.1, 0.3)), POLICY, "a" * 64, "b" * 64)
    assert d.promote


def test_worse_than_production_refused():
    d = decide(report(cand=0.26, prod=0.25, gain_prod=(-0.04, -0.08, 0.0)), POLICY, "a" * 64, "b" * 64)
    assert not d.promote and "beats_production failed" in d.reason


def test_tie_refused():
    d = decide(report(cand=0.25, prod=0.25, gain_prod=(0.0, 0.0, 0.0)), POLICY, "a" * 64, "b" * 64)
    assert not d.promote


def test_within_noise_gain_refused():
    # point estimate +3% but the interval dips below the 1% margin
    d = decide(report(cand=0.2425, prod=0.25, gain_prod=(0.03, 0.005, 0.06)), POLICY, "a" * 64, "b" * 64)
    assert not d.promote and "must be > 1.00%" in d.reason


def test_not_beating_baseline_refused():
    d = decide(report(cand=0.31, base=0.30, gain_base=(-0.03, -0.06, 0.01)), POLICY, "a" * 64)
    assert not d.promote and "beats_baseline failed" in d.reason
    assert "wape 0.3100 vs seasonal naive (7 days) baseline 0.3000" in d.reason


def test_missing_evaluation_refused():
    d = decide(None, POLICY, "a" * 64)
    assert not d.promote and "no evaluation" in d.reason


def test_failed_evaluation_refused():
    d = decide(report(), POLICY, "a" * 64, evaluation_error="production v3 could not be scored")
    assert not d.promote and d.reason.startswith("evaluation failed")


def test_duplicate_artifact_refused():
    d = decide(report(cand=0.2, prod=0.2, gain_prod=(0, 0, 0)), POLICY, "c" * 64, "c" * 64)
    assert not d.promote and d.reason.startswith("duplicate")


def test_slice_regression_refused_even_when_overall_better():
    slices = [
        {"slice": "S001", "rows": 500, "candidate_wape": 0.10, "production_wape": 0.20},
        {"slice": "S002", "rows": 500, "candidate_wape": 0.30, "production_wape": 0.25},
    ]
    d = decide(report(cand=0.2, prod=0.225, gain_prod=(0.11, 0.05, 0.15), slices=slices), POLICY, "a" * 64, "b" * 64)
    assert not d.promote and "S002" in d.reason


def test_small_slices_do_not_veto():
    slices = [{"slice": "S009", "rows": 5, "candidate_wape": 0.9, "production_wape": 0.1}]
    d = decide(report(cand=0.2, prod=0.25, gain_prod=(0.2, 0.1, 0.3), slices=slices), POLICY, "a" * 64, "b" * 64)
    assert d.promote


def test_evaluation_without_the_primary_metric_is_refused():
    r = report()
    r.candidate = Metrics({"mae": 2.0}, rows=1000)
    d = decide(r, POLICY, "a" * 64)
    assert not d.promote and "incomplete" in d.reason


def test_non_finite_gain_is_refused():
    d = decide(report(gain_base=(float("nan"), float("nan"), float("nan"))), POLICY, "a" * 64)
    assert not d.promote and "beats_baseline failed" in d.reason


def test_slice_without_a_value_does_not_veto():
    slices = [{"slice": "S001", "rows": 500, "candidate_wape": None, "production_wape": 0.2}]
    d = decide(report(cand=0.2, prod=0.25, gain_prod=(0.2, 0.1, 0.3), slices=slices), POLICY, "a" * 64, "b" * 64)
    assert d.promote


def test_report_round_trips_through_json():
    import json

    from runway.evaluation.report import report_from_dict

    r = report(cand=0.2, prod=0.25, gain_prod=(0.2, 0.1, 0.3))
    d = json.loads(json.dumps(r.to_dict()))
    assert report_from_dict(d).to_dict() == r.to_dict()
    assert d["task"] == "regression" and d["direction"] == "lower"


def test_evaluate_then_decide_on_wape_with_slices():
    import numpy as np
    import pandas as pd

    from runway.config import EvaluationConfig
    from runway.evaluation.report import evaluate

    rng = np.random.default_rng(0)
    n = 28 * 60
    holdout = pd.DataFrame(
        {
            "date": pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(np.repeat(np.arange(28), 60), unit="D"),
            "store_id": np.tile(["S1", "S2", "S3"], n // 3),
        }
    )
    holdout["units_sold"] = rng.poisson(10, n).astype(float)
    y = holdout["units_sold"].to_numpy()
    good, prod, base = y + rng.normal(0, 1, n), y + rng.normal(0, 2, n), y + rng.normal(0, 4, n)
    cfg = EvaluationConfig(primary_metric="wape", slice_by="store_id", bootstrap_samples=100)
    r = evaluate(holdout, "units_sold", "date", good, base, cfg, production_pred=prod, production_version="3", baseline_label="seasonal naive (7 days)")
    assert set(r.candidate.values) == {"mae", "rmse", "wape", "bias"} and r.threshold is None and r.calibration is None
    assert {"slice", "rows", "candidate_wape", "baseline_wape", "production_wape"} <= set(r.slices[0])
    assert decide(r, POLICY, "a" * 64, "b" * 64).promote
    # the same candidate, much worse on one store: the slice check vetoes
    bad_store = np.where(holdout["store_id"] == "S2", y + rng.normal(0, 6, n), good)
    r2 = evaluate(holdout, "units_sold", "date", bad_store, base, cfg, production_pred=prod, production_version="3")
    d = decide(r2, POLICY, "a" * 64, "b" * 64)
    assert not d.promote and "S2" in d.reason
