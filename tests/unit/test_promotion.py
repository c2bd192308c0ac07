"""The gate fails closed: better promotes; worse, tie, within-noise, missing
evaluation, duplicate artifact and slice regressions do not."""

import pytest

from runway.config import PromotionConfig
from runway.evaluation.report import EvaluationReport
from runway.evaluation.metrics import GainInterval, Metrics
from runway.evaluation.gate import decide

pytestmark = pytest.mark.unit
POLICY = PromotionConfig(min_improvement_vs_production=0.01, slice_regression_tolerance=0.10, min_slice_rows=20)


def m(wape):
    return Metrics(mae=wape * 10, wape=wape, bias=0.0, rows=1000)


def report(cand=0.20, base=0.30, prod=None, gain_base=(0.33, 0.25, 0.40), gain_prod=None, slices=None):
    r = EvaluationReport(primary_metric="wape", rows=1000, candidate=m(cand), baseline=m(base), gain_vs_baseline=GainInterval(*gain_base, 100))
    if prod is not None:
        r.production, r.production_version, r.gain_vs_production = m(prod), "3", GainInterval(*gain_prod, 100)
    r.slices = slices or [{"slice": "S001", "rows": 500, "candidate_wape": cand, "baseline_wape": base, **({"production_wape": prod} if prod else {})}]
    return r


def test_first_model_beating_baseline_promotes():
    d = decide(report(), POLICY, candidate_sha256="a" * 64)
    assert d.promote and "no production model yet" in d.reason


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
