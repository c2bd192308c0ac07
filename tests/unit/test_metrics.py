import numpy as np
import pytest

from runway.evaluation.metrics import bias, bootstrap_relative_gain, compute, slice_metrics, wape

pytestmark = pytest.mark.unit


def test_hand_computed_metrics():
    y, p = np.array([10.0, 20.0, 30.0]), np.array([12.0, 18.0, 33.0])
    m = compute(y, p)
    assert m.mae == pytest.approx(7 / 3)
    assert m.wape == pytest.approx(7 / 60)
    assert m.bias == pytest.approx(3 / 60)


def test_wape_undefined_on_zero_actuals():
    with pytest.raises(ValueError, match="every actual is zero"):
        wape(np.zeros(3), np.ones(3))


def test_nan_predictions_refused():
    with pytest.raises(ValueError, match="NaN"):
        compute(np.ones(2), np.array([1.0, np.nan]))


def test_bias_sign():
    assert bias(np.array([10.0]), np.array([5.0])) < 0


def test_slice_metrics():
    import pandas as pd

    df = pd.DataFrame({"s": ["a", "a", "b"], "y": [10.0, 10.0, 5.0], "p": [11.0, 9.0, 10.0]})
    out = slice_metrics(df, "s", "y", "p").set_index("s")
    assert out.loc["a", "wape"] == pytest.approx(0.1) and out.loc["b", "wape"] == pytest.approx(1.0)


def _days(n_days, per_day):
    return np.repeat(np.arange(n_days), per_day)


def test_bootstrap_clear_gain_excludes_zero():
    rng = np.random.default_rng(0)
    y = rng.poisson(10, 2800).astype(float)
    good = y + rng.normal(0, 1, y.size)
    bad = y + rng.normal(0, 4, y.size)
    g = bootstrap_relative_gain(y, good, bad, _days(28, 100))
    assert g.low > 0.3 and g.point > g.low


def test_bootstrap_identical_models_interval_straddles_zero():
    rng = np.random.default_rng(1)
    y = rng.poisson(10, 2800).astype(float)
    p = y + rng.normal(0, 2, y.size)
    g = bootstrap_relative_gain(y, p, p, _days(28, 100))
    assert g.point == 0 and g.low == 0 and g.high == 0


def test_bootstrap_equal_models_rarely_pass_a_one_percent_margin():
    # Two equally good models: the gate (interval low > 1%) must almost never
    # pass. 40 seeds at 95% confidence: expect about 1 false pass, allow 3.
    passes = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y = rng.poisson(10, 2800).astype(float)
        a = y + rng.normal(0, 3, y.size)
        b = y + rng.normal(0, 3, y.size)
        passes += bootstrap_relative_gain(y, a, b, _days(28, 100), samples=200, seed=seed).low > 0.01
    assert passes <= 3
