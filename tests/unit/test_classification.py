"""Binary classification through the core: metrics and their directions, the
bootstrap and the gate on roc_auc and log_loss, the prior-rate baseline, and
a threshold chosen on the training window only."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from runway.config import EvaluationConfig, ModelConfig, PromotionConfig, SplitConfig
from runway.evaluation.baselines import baseline_label, baseline_predictions, prior_rate
from runway.evaluation.gate import decide
from runway.evaluation.metrics import (
    bootstrap_relative_gain,
    brier,
    compute_all,
    ece,
    f1,
    log_loss,
    metric_direction,
    metric_names,
    pr_auc,
    relative_gain,
    roc_auc,
)
from runway.evaluation.report import evaluate, report_from_dict
from runway.modeling.artifact import ModelArtifact, best_f1_threshold, deserialize_verified, serialize, sha256_bytes, time_split, train
from runway.modeling.estimators import make_estimator

pytestmark = pytest.mark.unit
CLF = "binary_classification"
FEATS = ["x1", "x2"]
POLICY = PromotionConfig(min_improvement_vs_production=0.01, slice_regression_tolerance=0.10, min_slice_rows=20)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _days(n_days, per_day):
    return np.repeat(np.arange(n_days), per_day)


# ------------------------------------------------------------------ metrics --


def test_classification_metric_directions():
    assert metric_names(CLF) == ["roc_auc", "pr_auc", "log_loss", "brier", "f1", "ece"]
    assert {n: metric_direction(n) for n in metric_names(CLF)} == {
        "roc_auc": "higher",
        "pr_auc": "higher",
        "f1": "higher",
        "log_loss": "lower",
        "brier": "lower",
        "ece": "lower",
    }
    assert relative_gain("higher", 0.8, 0.5) == pytest.approx(0.6), "higher AUC is a positive gain"
    assert relative_gain("lower", 0.5, 0.4) == pytest.approx(-0.25), "higher log loss is a negative gain"


def test_ece_hand_computed():
    y = np.array([0, 1, 1, 0, 1], float)
    p = np.array([0.05, 0.15, 0.72, 0.78, 0.95])
    # bins [0, .1): |0 - .05|; [.1, .2): |1 - .15|; [.7, .8): 2 rows, |0.5 - 0.75|; [.9, 1]: |1 - .95|
    assert ece(y, p) == pytest.approx((0.05 + 0.85 + 2 * 0.25 + 0.05) / 5)
    assert ece(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0, "1.0 falls in the last bin"


def test_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(float)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(500), 0, 1), 2)  # with ties
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)))
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert f1(y, p, 0.45) == pytest.approx(skm.f1_score(y, p >= 0.45))
    assert compute_all(CLF, y, p, threshold=0.45)["f1"] == pytest.approx(f1(y, p, 0.45))


def test_undefined_and_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="single class"):
        roc_auc(np.ones(4), np.array([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="0/1"):
        compute_all(CLF, np.array([0.0, 2.0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="probabilities"):
        compute_all(CLF, np.array([0.0, 1.0]), np.array([-0.1, 0.2]))


# ---------------------------------------------------------------- bootstrap --


def _scored(seed, n_days=28, per_day=100):
    """Actuals and two classifiers' scores: a sharp one and a blurred one."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n_days * per_day)
    y = (rng.random(z.size) < _sigmoid(2 * z)).astype(float)
    good = _sigmoid(2 * z + rng.normal(0, 0.3, z.size))
    bad = _sigmoid(0.7 * z + rng.normal(0, 1.0, z.size))
    return y, good, bad, rng


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_bootstrap_clear_classifier_gain_excludes_zero(metric):
    y, good, bad, _ = _scored(0)
    g = bootstrap_relative_gain(y, good, bad, _days(28, 100), metric=metric, samples=200)
    assert g.low > 0.05 and g.low < g.point < g.high
    assert bootstrap_relative_gain(y, bad, good, _days(28, 100), metric=metric, samples=200).high < 0


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_bootstrap_equal_classifiers_rarely_pass_a_one_percent_margin(metric):
    # As for WAPE: 40 seeds at 95% confidence, expect about 1 false pass, allow 3.
    passes = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=2800)
        y = (rng.random(z.size) < _sigmoid(2 * z)).astype(float)
        a = _sigmoid(z + rng.normal(0, 0.8, z.size))
        b = _sigmoid(z + rng.normal(0, 0.8, z.size))
        passes += bootstrap_relative_gain(y, a, b, _days(28, 100), metric=metric, samples=200, seed=seed).low > 0.01
    assert passes <= 3


def test_bootstrap_roc_auc_same_seed_same_interval():
    y, good, bad, _ = _scored(1)
    one = bootstrap_relative_gain(y, good, bad, _days(28, 100), metric="roc_auc", samples=100, seed=3)
    assert one == bootstrap_relative_gain(y, good, bad, _days(28, 100), metric="roc_auc", samples=100, seed=3)
    assert bootstrap_relative_gain(y, good, good, _days(28, 100), metric="roc_auc", samples=100).high == 0


def test_bootstrap_roc_auc_recomputes_the_metric_on_each_resample():
    # Not a sum: the interval must come from AUCs of resampled days.
    y, good, bad, _ = _scored(2, n_days=10, per_day=50)
    days = _days(10, 50)
    g = bootstrap_relative_gain(y, good, bad, days, metric="roc_auc", samples=40, seed=7)
    draws = np.random.default_rng(7).integers(0, 10, size=(40, 10))
    gains = []
    for d in draws:
        rows = np.concatenate([np.flatnonzero(days == k) for k in d])
        a, b = roc_auc(y[rows], good[rows]), roc_auc(y[rows], bad[rows])
        gains.append((a - b) / b)
    assert (g.low, g.high) == pytest.approx(tuple(np.quantile(gains, [0.025, 0.975])))


# ------------------------------------------------------------ report + gate --


def _holdout(seed=0):
    y, good, bad, rng = _scored(seed)
    frame = pd.DataFrame(
        {"date": pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(_days(28, 100), unit="D"), "churned": y, "segment": rng.choice(["a", "b", "c"], y.size)}
    )
    return frame, good, bad


def _report(metric, candidate, production, frame, prior):
    cfg = EvaluationConfig(primary_metric=metric, slice_by="segment", bootstrap_samples=200)
    return evaluate(
        frame,
        "churned",
        "date",
        candidate,
        np.full(len(frame), prior),
        cfg,
        production_pred=production,
        production_version="3",
        threshold=0.4,
        threshold_source="auto",
        production_threshold=0.5,
        baseline_label="prior rate",
    )


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_clearly_better_classifier_promotes(metric):
    frame, good, bad = _holdout()
    r = _report(metric, good, bad, frame, frame["churned"].mean())
    d = decide(r, POLICY, "a" * 64, "b" * 64)
    assert d.promote, d.reason
    assert metric in d.reason and "production v3" in d.reason
    assert r.direction == metric_direction(metric) and r.task == CLF


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_equal_classifier_is_not_promoted(metric):
    frame, good, _ = _holdout()
    rng = np.random.default_rng(11)
    z = np.log(good / (1 - good))
    twin = _sigmoid(z + rng.normal(0, 0.05, z.size))  # the same model, retrained
    d = decide(_report(metric, twin, good, frame, frame["churned"].mean()), POLICY, "a" * 64, "b" * 64)
    assert not d.promote and "beats_production failed" in d.reason


def test_first_classifier_against_the_prior_rate_names_metric_and_baseline():
    frame, good, _ = _holdout()
    cfg = EvaluationConfig(primary_metric="roc_auc", bootstrap_samples=100)
    r = evaluate(frame, "churned", "date", good, np.full(len(frame), 0.3), cfg, threshold=0.4, baseline_label="prior rate")
    d = decide(r, POLICY, "a" * 64)
    assert d.promote and "roc_auc" in d.reason and "prior rate baseline (no production model yet)" in d.reason
    text = json.dumps(d.to_dict()).lower()
    assert "wape" not in text and "seasonal" not in text
    assert r.baseline.get("roc_auc") == 0.5 and r.slices == []


def test_classification_report_has_threshold_calibration_and_round_trips():
    frame, good, bad = _holdout()
    r = _report("roc_auc", good, bad, frame, 0.3)
    assert r.threshold == 0.4 and r.threshold_source == "auto" and r.production_threshold == 0.5
    assert r.calibration["ece"] == pytest.approx(ece(frame["churned"].to_numpy(), good))
    assert sum(b["rows"] for b in r.calibration["bins"]) == len(frame)
    assert set(r.candidate.values) == set(metric_names(CLF))
    # f1 at each model's own threshold
    assert r.candidate.get("f1") == pytest.approx(f1(frame["churned"].to_numpy(), good, 0.4))
    assert r.production.get("f1") == pytest.approx(f1(frame["churned"].to_numpy(), bad, 0.5))
    assert {s["slice"] for s in r.slices} == {"a", "b", "c"} and "production_roc_auc" in r.slices[0]
    d = json.loads(json.dumps(r.to_dict()))
    assert report_from_dict(d).to_dict() == r.to_dict()


def test_classification_slices_are_direction_aware():
    frame, good, bad = _holdout()
    r = _report("roc_auc", good, bad, frame, 0.3)
    # a slice whose AUC drops by more than the tolerance vetoes, one that rises does not
    r.slices = [
        {"slice": "a", "rows": 500, "candidate_roc_auc": 0.95, "production_roc_auc": 0.80},
        {"slice": "b", "rows": 500, "candidate_roc_auc": None, "production_roc_auc": 0.80},
    ]
    assert decide(r, POLICY, "a" * 64, "b" * 64).promote
    r.slices.append({"slice": "c", "rows": 500, "candidate_roc_auc": 0.70, "production_roc_auc": 0.80})
    d = decide(r, POLICY, "a" * 64, "b" * 64)
    assert not d.promote and "c (0.700 vs 0.800)" in d.reason and "roc_auc" in d.reason


# ---------------------------------------------------------------- baselines --


def test_prior_rate_uses_only_labels_known_by_then():
    hist = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=10, tz="UTC"), "churned": [1.0, 0.0] * 5})
    targets = pd.DataFrame({"date": pd.to_datetime(["2025-01-04", "2025-01-05", "2025-01-11", "2024-12-01"], utc=True)})
    # horizon 2: 2025-01-04 sees Jan 1-2 (1, 0); 2025-01-05 sees Jan 1-3 (1, 0, 1);
    # 2025-01-11 sees Jan 1-9 (five 1s); a date before any label gets the whole history's rate
    assert prior_rate(hist, targets, "date", "churned", 2).tolist() == pytest.approx([0.5, 2 / 3, 5 / 9, 0.5])
    # horizon 0 still never sees the target day's own label
    same_day = prior_rate(hist, hist, "date", "churned", 0)
    assert same_day[1] == 1.0 and same_day[2] == 0.5


def test_baseline_predictions_prior_rate_and_label():
    s = SimpleNamespace(
        evaluation=SimpleNamespace(baseline=SimpleNamespace(kind="prior_rate", period_days=7)),
        entity_keys=["customer_id"],
        contract=SimpleNamespace(timestamp="date"),
        model=SimpleNamespace(target="churned"),
        features=SimpleNamespace(horizon_days=0),
        schedule=SimpleNamespace(label_delay_days=30),
    )
    hist = pd.DataFrame(
        {"customer_id": ["c1", "c2", "c3", "c4"], "date": pd.date_range("2025-01-01", periods=4, tz="UTC"), "churned": [True, False, False, False]}
    )
    targets = pd.DataFrame({"customer_id": ["c9", "c9"], "date": pd.to_datetime(["2025-02-01", "2025-02-02"], utc=True)})
    # label delay 30 days: on Feb 1 only the Jan 1-2 labels are recorded, on Feb 2 Jan 1-3
    assert baseline_predictions(s, hist, targets).tolist() == pytest.approx([0.5, 1 / 3])
    assert baseline_label(s) == "prior rate"


# --------------------------------------------------------- model + threshold --


def churn_frame(days=120, per_day=40, seed=0):
    rng = np.random.default_rng(seed)
    n = days * per_day
    df = pd.DataFrame(
        {
            "date": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.repeat(np.arange(days), per_day), unit="D"),
            "customer_id": np.tile([f"C{i:03d}" for i in range(per_day)], days),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
        }
    )
    df["churned"] = (rng.random(n) < _sigmoid(-1.5 + 1.5 * df["x1"] - df["x2"])).astype(int)
    return df


def _cfg(**kw):
    return ModelConfig(name="churn-model", task=CLF, target="churned", estimator="logistic_regression", **kw)


SPLIT = SplitConfig(holdout_days=28, min_train_days=56)


def test_classifier_predicts_probabilities_and_labels_at_its_threshold():
    df = churn_frame()
    m = train(df, FEATS, _cfg(threshold=0.3), "date")
    p = m.predict(df)
    assert isinstance(m, ModelArtifact) and m.task == CLF and m.threshold == 0.3
    assert ((p >= 0) & (p <= 1)).all() and roc_auc(df["churned"].to_numpy(float), p) > 0.75
    assert np.array_equal(m.predict_label(df), (p >= 0.3).astype(int))
    assert m.metadata["threshold_source"] == "configured"
    blob = serialize(m)
    back = deserialize_verified(blob, sha256_bytes(blob))
    assert np.array_equal(back.predict(df), p) and back.threshold == 0.3


def test_boolean_target_and_random_forest():
    df = churn_frame(days=60, per_day=20).assign(churned=lambda d: d["churned"].astype(bool))
    m = train(df, FEATS, ModelConfig(name="churn-model", task=CLF, target="churned", estimator="random_forest", params={"n_estimators": 20}), "date")
    assert m.predict(df).shape == (len(df),)


def test_single_class_training_is_a_clear_error():
    df = churn_frame(days=30, per_day=10).assign(churned=0)
    with pytest.raises(ValueError, match="needs both classes"):
        train(df, FEATS, _cfg(), "date")
    with pytest.raises(ValueError, match="0/1"):
        train(df.assign(churned=2), FEATS, _cfg(), "date")


def test_auto_threshold_never_looks_at_holdout_rows():
    df = churn_frame()
    tr, ho = time_split(df, "date", SPLIT)
    m = train(tr, FEATS, _cfg(threshold="auto"), "date")

    # Any holdout labels: the same threshold (the split hands train only training rows).
    flipped = df.copy()
    in_holdout = flipped["date"] >= ho["date"].min()
    flipped.loc[in_holdout, "churned"] = 1 - flipped.loc[in_holdout, "churned"]
    tr2, ho2 = time_split(flipped, "date", SPLIT)
    assert (ho2["churned"] != ho["churned"]).all()
    assert train(tr2, FEATS, _cfg(threshold="auto"), "date").threshold == m.threshold

    # It was chosen on the last 20% of training days by a model fit on the first 80% ...
    detail = m.metadata["threshold_detail"]
    assert m.metadata["threshold_source"] == "auto" and m.metadata["threshold"] == m.threshold
    assert pd.Timestamp(detail["fit_end"]) < pd.Timestamp(detail["tune_start"]) <= pd.Timestamp(detail["tune_end"]) < ho["date"].min()
    assert detail["fit_rows"] + detail["tune_rows"] == len(tr)
    days = np.sort(tr["date"].unique())
    cut = days[int(len(days) * 0.8)]
    early, late = tr[tr["date"] < cut], tr[tr["date"] >= cut]
    est = make_estimator(_cfg()).fit(early[FEATS], early["churned"])
    assert m.threshold == pytest.approx(best_f1_threshold(late["churned"].to_numpy(), est.predict_proba(late[FEATS])[:, 1])[0])
    # ... and then the model was refit on the whole training window.
    assert m.trained_rows == len(tr)
    full = make_estimator(_cfg()).fit(tr[FEATS], tr["churned"])
    assert np.allclose(m.predict(ho), full.predict_proba(ho[FEATS])[:, 1])

    # The tuning rows do matter (the test above would notice if they were ignored).
    late_flipped = tr.copy()
    late_flipped.loc[late_flipped["date"] >= cut, "churned"] = 1 - late_flipped.loc[late_flipped["date"] >= cut, "churned"]
    assert train(late_flipped, FEATS, _cfg(threshold="auto"), "date").threshold != m.threshold


def test_auto_threshold_with_one_class_in_the_tuning_days_is_refused():
    df = churn_frame(days=50, per_day=20)
    df.loc[df["date"] >= df["date"].min() + pd.Timedelta(days=40), "churned"] = 0
    with pytest.raises(ValueError, match="one class only"):
        train(df, FEATS, _cfg(threshold="auto"), "date")


def test_best_f1_threshold_by_hand():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.3, 0.35, 0.6, 0.7, 0.9])
    t, best = best_f1_threshold(y, p)
    # p >= 0.35 predicts 4 positives, 3 right: F1 = 6/7, the best cut
    assert t == pytest.approx(0.35) and best == pytest.approx(6 / 7)


def test_evaluate_candidate_uses_the_models_threshold_and_the_configured_baseline():
    from runway.evaluation.report import evaluate_candidate

    df = churn_frame()
    tr, ho = time_split(df, "date", SPLIT)
    cand = train(tr, FEATS, _cfg(threshold="auto"), "date")
    prod = train(tr, ["x2"], _cfg(threshold=0.4), "date")
    s = SimpleNamespace(
        evaluation=EvaluationConfig(primary_metric="roc_auc", bootstrap_samples=100),
        entity_keys=["customer_id"],
        contract=SimpleNamespace(timestamp="date"),
        model=SimpleNamespace(target="churned"),
        features=SimpleNamespace(horizon_days=0),
        schedule=SimpleNamespace(label_delay_days=7),
    )
    s.evaluation = s.evaluation.model_copy(update={"baseline": s.evaluation.baseline.model_copy(update={"kind": "prior_rate"})})
    r = evaluate_candidate(s, cand, ho, df, production=prod, production_version="1")
    assert r.threshold == cand.threshold and r.threshold_source == "auto" and r.production_threshold == 0.4
    assert r.baseline_label == "prior rate" and r.production_version == "1"
    assert r.candidate.get("roc_auc") > r.production.get("roc_auc") > 0.5
    assert decide(r, POLICY, "a" * 64, "b" * 64).promote
