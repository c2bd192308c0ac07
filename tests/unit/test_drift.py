"""Drift statistics: hand-computed values, scipy parity, false-alarm rate and
detection of injected shifts."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from runway.config import DriftThresholds
from runway.monitoring import drift

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------ PSI ---


def test_psi_hand_computed():
    # reference 1..10, bins=2: the median edge is 5.5 (linear interpolation
    # between 5 and 6), so reference shares are [0.5, 0.5].
    # current [1,2,3,6,7,8,9,10,11,12]: 3 values <= 5.5 -> shares [0.3, 0.7].
    # PSI = (0.3-0.5)*ln(0.3/0.5) + (0.7-0.5)*ln(0.7/0.5)
    #     = 0.2*0.510826 + 0.2*0.336472 = 0.169460
    got = drift.psi(np.arange(1, 11), [1, 2, 3, 6, 7, 8, 9, 10, 11, 12], bins=2)
    assert got == pytest.approx(0.2 * math.log(0.5 / 0.3) + 0.2 * math.log(0.7 / 0.5), rel=1e-12)
    assert got == pytest.approx(0.169460, abs=1e-6)


def test_psi_empty_bin_is_smoothed_not_infinite():
    # Every current value <= 5.5: current shares [1, 0] -> the empty bin counts
    # as eps = 1e-4: (1-0.5)ln(1/0.5) + (1e-4-0.5)ln(1e-4/0.5) = 0.346574 + 4.257883
    got = drift.psi(np.arange(1, 11), [1, 2, 3, 4, 5], bins=2, eps=1e-4)
    expected = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert got == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(got)


def test_psi_open_outer_bins_catch_values_beyond_reference_range():
    # All current values lie above the reference maximum: they must land in
    # the top bin (not be dropped), which makes PSI large.
    assert drift.psi(np.arange(100.0), np.arange(1000.0, 1100.0)) > 5


def test_psi_discrete_data_deduplicates_edges():
    # Mostly zeros: most quantiles are 0, so edges collapse; PSI of a sample
    # against itself must be exactly 0 and not fail on zero-width bins.
    x = np.array([0] * 90 + [1] * 5 + [2] * 5, dtype=float)
    assert drift.psi(x, x) == 0.0
    edges = drift._quantile_edges(np.sort(x), 10)
    assert list(edges) == sorted(set(edges))


def test_psi_identical_is_zero_and_quantile_edges_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1001)
    assert drift.psi(x, x) == 0.0
    expected = np.unique(np.quantile(x, np.arange(1, 10) / 10))
    np.testing.assert_allclose(drift._quantile_edges(np.sort(x), 10), expected, rtol=0, atol=1e-12)


def test_psi_ignores_missing_values():
    a = np.array([1.0, 2, 3, 4, np.nan])
    assert drift.psi(a, [1.0, 2, 3, 4]) == drift.psi([1.0, 2, 3, 4], [1.0, 2, 3, 4])


# ------------------------------------------------------------------- KS ---


def test_ks_hand_computed():
    # F_ref and F_cur at x=2: 0.5 vs 0.0; at x=4: 1.0 vs 0.5 -> D = 0.5.
    d, p = drift.ks([1, 2, 3, 4], [3, 4, 5, 6])
    assert d == 0.5
    assert p == pytest.approx(stats.ks_2samp([1, 2, 3, 4], [3, 4, 5, 6]).pvalue)


@pytest.mark.parametrize(
    "n,m,kind",
    [(50, 80, "normal"), (3000, 9000, "poisson"), (20_000, 15_000, "normal"), (20_000, 15_000, "poisson"), (120_000, 40_000, "normal")],
)
def test_ks_matches_scipy(n, m, kind):
    rng = np.random.default_rng(n + m)
    if kind == "normal":
        a, b = rng.normal(size=n), rng.normal(0.02, 1.0, size=m)
    else:  # many ties: the statistic must be taken at the end of each tie run
        a, b = rng.poisson(3, n).astype(float), rng.poisson(3.05, m).astype(float)
    d, p = drift.ks(a, b)
    ref = stats.ks_2samp(a, b)
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


# ---------------------------------------------------------- categorical ---


def test_js_hand_computed_bounds_and_scipy():
    # P=[.5,.5], Q=[1,0], M=[.75,.25]:
    # KL(P||M) = .5*log2(.5/.75) + .5*log2(.5/.25) = 0.207519
    # KL(Q||M) = log2(1/.75) = 0.415037 ; JS = mean = 0.311278
    assert drift.js_divergence([1, 1], [1, 0]) == pytest.approx(0.311278, abs=1e-6)
    assert drift.js_divergence({"a": 5, "b": 3}, {"a": 5, "b": 3}) == 0.0
    assert drift.js_divergence({"a": 1}, {"b": 7}) == pytest.approx(1.0)  # disjoint support
    rng = np.random.default_rng(1)
    for _ in range(50):
        p, q = rng.integers(0, 20, 6) + 1, rng.integers(0, 20, 6)
        js = drift.js_divergence(p, q)
        assert 0.0 <= js <= 1.0
        assert js == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_aligns_mappings_on_the_union_of_categories():
    # 'c' only in current: aligned as reference count 0.
    assert drift.js_divergence({"a": 1, "b": 1}, {"b": 1, "a": 1, "c": 0}) == 0.0
    assert drift.js_divergence({"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 2}) > 0.1


def test_categorical_psi_hand_computed():
    # p = [.5, .3, .2], q = [.4, .35, .25]
    got = drift.categorical_psi({"a": 50, "b": 30, "c": 20}, {"a": 40, "b": 35, "c": 25})
    want = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.35 - 0.3) * math.log(0.35 / 0.3) + (0.25 - 0.2) * math.log(0.25 / 0.2)
    assert got == pytest.approx(want, rel=1e-12)
    assert drift.categorical_psi({"a": 3, "b": 1}, {"b": 2, "a": 6}) == 0.0  # same shares, any order


def test_categorical_psi_smooths_a_new_or_vanished_category_like_numeric_psi():
    # 'new' is absent from the reference: its reference share is eps, not 0 (finite PSI).
    eps = 1e-4
    got = drift.categorical_psi({"a": 10, "b": 10}, {"a": 8, "b": 8, "new": 4}, eps=eps)
    p, q = np.array([0.5, 0.5, eps]), np.array([0.4, 0.4, 0.2])
    assert math.isfinite(got) and got == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)
    # Smaller eps -> larger PSI: the smoothing is what the value depends on.
    assert drift.categorical_psi({"a": 10, "b": 10}, {"a": 8, "b": 8, "new": 4}, eps=1e-6) > got
    # A category unused on both sides (count 0) is no bin at all.
    assert drift.categorical_psi({"a": 5, "b": 5, "z": 0}, {"a": 5, "b": 5, "z": 0}) == 0.0
    with pytest.raises(ValueError, match="eps must be > 0"):
        drift.categorical_psi({"a": 1}, {"a": 1}, eps=0)
    with pytest.raises(ValueError, match="current counts are all zero"):
        drift.categorical_psi([1, 2], [0, 0])


def test_report_has_categorical_psi_and_names_binning_and_smoothing():
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"x": rng.normal(size=5_000), "region": rng.choice(["n", "s", "e"], 5_000)})
    cur = pd.DataFrame({"x": rng.normal(size=5_000), "region": np.where(rng.random(5_000) < 0.2, "w", rng.choice(["n", "s", "e"], 5_000))})
    res = drift.drift_report(ref, cur, DriftThresholds(psi_bins=8))
    f = res.feature("region")
    rc, cc = ref["region"].value_counts(), cur["region"].value_counts()
    assert f.psi == pytest.approx(drift.categorical_psi(rc, cc), rel=1e-12) and f.psi > 1.0
    assert f.psi_pvalue == f.chi2_pvalue
    # JS still grades categoricals: the breach reason names JS / the new value, not PSI
    assert not any(r.startswith("PSI") for r in f.reasons)
    assert "8 quantile bins of the reference" in res.psi_method and "eps=0.0001" in res.psi_method
    assert drift.DriftResult.from_dict(json.loads(json.dumps(res.to_dict(), allow_nan=False))).psi_method == res.psi_method


def test_chi_square_matches_scipy_and_handles_degenerate_tables():
    ref, cur = {"a": 30, "b": 50, "c": 20}, {"a": 40, "b": 35, "c": 25, "d": 0}
    stat, p = drift.chi_square(ref, cur)
    expected = stats.chi2_contingency([[30, 50, 20], [40, 35, 25]], correction=False)
    assert stat == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)
    assert drift.chi_square({"a": 5}, {"a": 9}) == (0.0, 1.0)
    with pytest.raises(ValueError, match="current counts are all zero"):
        drift.chi_square([1, 2], [0, 0])


def test_missing_rate_change():
    assert drift.missing_rate_change([1.0, 2.0, 3.0, 4.0], [1.0, None, np.nan, 4.0]) == pytest.approx(0.5)
    assert drift.missing_rate_change(pd.Series(["a", None]), pd.Series(["a", "b"])) == pytest.approx(-0.5)


# --------------------------------------------------------------- schema ---


def test_schema_changes_new_missing_retyped_with_severity():
    ref = {"price": "float64", "units": "int64", "store": "object", "gone": "float64"}
    cur = {"price": "object", "units": "float64", "store": "category", "extra": "int64"}
    got = {(c.column, c.change): c for c in drift.schema_changes(ref, cur)}
    assert set(got) == {("price", "retyped"), ("units", "retyped"), ("store", "retyped"), ("gone", "missing"), ("extra", "new")}
    assert got[("price", "retyped")].severity == "alert"  # numbers now text
    assert got[("units", "retyped")].severity == "warn"  # int64 -> float64 once a NaN appears
    assert got[("store", "retyped")].severity == "warn"  # object -> category: same values
    assert got[("gone", "missing")].severity == "alert"
    assert got[("extra", "new")].severity == "warn"
    assert drift.schema_changes(ref, ref) == []


# ---------------------------------------------------------- bad inputs ---


def test_non_numeric_values_are_named():
    with pytest.raises(ValueError, match=r"non-numeric value 'abc' \(str\) at position 1"):
        drift.psi([1.0, "abc"], [1.0, 2.0])
    with pytest.raises(ValueError, match="'1.5'"):  # numeric-looking text is refused too
        drift.ks(pd.Series(["1.5", "2"]), [1.0])
    with pytest.raises(ValueError, match="datetime64"):
        drift.psi(pd.Series(pd.date_range("2024-01-01", periods=3)), [1.0])
    with pytest.raises(ValueError, match="psi current: no non-missing values"):
        drift.psi([1.0, 2.0], [np.nan])


def test_drift_report_rejects_bad_frames_with_clear_errors():
    ref = pd.DataFrame({"price": [1.0, 2.0], "region": ["a", "b"]})
    with pytest.raises(ValueError, match="current frame is empty"):
        drift.drift_report(ref, ref.iloc[:0])
    with pytest.raises(ValueError, match="reference frame is empty"):
        drift.drift_report(ref.iloc[:0], ref)
    with pytest.raises(ValueError, match=r"categorical columns \['store_id'\] are not in the reference"):
        drift.drift_report(ref, ref, categorical=["store_id"])
    with pytest.raises(ValueError, match=r"columns \['nope'\] are not in the reference"):
        drift.drift_report(ref, ref, columns=["nope"])
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        drift.drift_report(ref, ref.to_dict())


def test_column_missing_from_current_or_retyped_is_reported_not_raised():
    # Monitoring must survive exactly the event it exists to report.
    ref = pd.DataFrame({"price": [1.0, 2.0, 3.0], "lag_7": [1.0, 2.0, 3.0], "region": ["a", "b", "a"]})
    cur = pd.DataFrame({"price": ["1.0", "x", "3"], "region": ["a", "b", "b"]})
    res = drift.drift_report(ref, cur)
    assert res.severity == "alert"
    assert res.feature("lag_7").severity == "alert" and "missing" in res.feature("lag_7").reasons[0]
    assert res.feature("price").severity == "alert" and "float64 -> object" in res.feature("price").reasons[0]
    assert {(s.column, s.change) for s in res.schema_changes} == {("lag_7", "missing"), ("price", "retyped")}


def test_columns_restrict_statistics_but_not_schema():
    ref = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"], "gone": [1, 2, 3]})
    cur = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"], "new": [1, 2, 3]})
    res = drift.drift_report(ref, cur, columns=["a"])
    assert [f.feature for f in res.features] == ["a"]
    assert {(s.column, s.change) for s in res.schema_changes} == {("gone", "missing"), ("new", "new")}
    assert res.severity == "alert"


# ------------------------------------------------------------- reports ---


def _retail_frame(n: int, rng: np.random.Generator, shift: float = 0.0, price_mult: float = 1.0, new_region: float = 0.0, small: bool = False) -> pd.DataFrame:
    region = np.array(["north", "south", "east"], dtype=object)[rng.integers(0, 3, n)]
    if new_region:
        region[rng.random(n) < new_region] = "west"
    out = {"x": rng.normal(shift, 1.0, n), "price": np.exp(rng.normal(1.0, 0.4, n)) * price_mult}
    if not small:
        units = rng.poisson(4, n).astype(float)
        units[rng.random(n) < 0.01] = np.nan  # some labels missing, same rate both sides
        out |= {"units_lag_7": units, "on_promotion": rng.random(n) < 0.1}
    return pd.DataFrame({**out, "region": region})


@pytest.mark.parametrize("n", [50, 1_000, 10_000, 100_000, 500_000])
def test_no_false_alarms_on_same_distribution(n):
    # 20 independent seeds, reference twice the current window. Allowed: at
    # most one window flagged (warn or alert) per size. n=50 is one store's
    # week: PSI alone would flag it almost every time (PSI ~ 0.4 by noise).
    flagged = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        small = n >= 500_000  # fewer columns keep the 500k case quick
        ref, cur = _retail_frame(2 * n, rng, small=small), _retail_frame(n, rng, small=small)
        res = drift.drift_report(ref, cur, DriftThresholds())
        if res.severity != "ok":
            flagged.append((seed, [(f.feature, f.reasons) for f in res.flagged()]))
    assert len(flagged) <= 1, flagged


def test_injected_shifts_are_caught():
    rng = np.random.default_rng(3)
    ref = _retail_frame(20_000, rng)

    res = drift.drift_report(ref, _retail_frame(5_000, rng, shift=0.3))
    # A 0.3 sd mean shift: PSI on 10 bins stays below the warn level (~0.08),
    # KS D ~ 0.12 catches it.
    assert res.feature("x").severity == "alert", res.feature("x")
    assert res.feature("x").psi < 0.1
    assert res.feature("price").severity == "ok"

    res = drift.drift_report(ref, _retail_frame(5_000, rng, price_mult=1.2))
    assert res.feature("price").severity == "alert"
    assert res.feature("x").severity == "ok"

    res = drift.drift_report(ref, _retail_frame(5_000, rng, new_region=0.05))
    region = res.feature("region")
    assert region.severity == "warn" and region.new_categories == ("west",)
    assert 0.03 < region.new_category_share < 0.07
    res = drift.drift_report(ref, _retail_frame(5_000, rng, new_region=0.25))
    assert res.feature("region").severity == "alert"  # JS >= 0.1 once the new region is large


def test_missing_rate_jump_alerts():
    rng = np.random.default_rng(5)
    ref = _retail_frame(5_000, rng)
    cur = _retail_frame(5_000, rng)
    cur.loc[cur.sample(frac=0.2, random_state=0).index, "price"] = np.nan
    f = drift.drift_report(ref, cur).feature("price")
    assert f.severity == "alert"
    assert f.missing_cur == pytest.approx(0.2, abs=0.01)
    assert any("missing rate" in r for r in f.reasons)


def test_integer_codes_can_be_declared_categorical():
    ref = pd.DataFrame({"store_id": np.repeat([1, 2, 3], 400)})
    cur = pd.DataFrame({"store_id": np.repeat([1, 2, 3, 4], 300)})
    res = drift.drift_report(ref, cur, categorical=["store_id"])
    f = res.feature("store_id")
    assert f.kind == "categorical" and f.new_categories == ("4",) and f.severity == "alert"
    assert math.isnan(f.ks_stat)
    # categorical PSI over the 4 categories, '4' smoothed to eps on the reference side
    p, q = np.array([1 / 3, 1 / 3, 1 / 3, drift.PSI_EPS]), np.array([0.25, 0.25, 0.25, 0.25])
    assert f.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)


def test_ks_statistic_threshold_is_configurable():
    rng = np.random.default_rng(2)
    ref, cur = pd.DataFrame({"x": rng.normal(size=20_000)}), pd.DataFrame({"x": rng.normal(0.3, 1, 20_000)})
    assert drift.drift_report(ref, cur).feature("x").severity == "alert"
    assert drift.drift_report(ref, cur, ks_statistic=0.5).feature("x").severity == "ok"


def test_result_frame_and_json_round_trip():
    rng = np.random.default_rng(4)
    ref = _retail_frame(2_000, rng).assign(when=pd.date_range("2024-01-01", periods=2_000, freq="h"))
    cur = _retail_frame(1_000, rng, price_mult=1.2).drop(columns=["units_lag_7"])
    res = drift.drift_report(ref, cur)
    frame = res.to_frame()
    for col in ["feature", "kind", "psi", "ks_stat", "ks_pvalue", "js", "missing_ref", "missing_cur", "severity"]:
        assert col in frame.columns
    assert list(frame["feature"]) == ["x", "price", "units_lag_7", "on_promotion", "region"]
    assert set(frame["severity"]) <= {"ok", "warn", "alert"}
    assert res.skipped and res.skipped[0].startswith("when:")
    text = json.dumps(res.to_dict(), allow_nan=False)  # NaN would make invalid JSON
    back = drift.DriftResult.from_dict(json.loads(text))
    assert back.severity == res.severity == "alert"
    assert back.to_frame().equals(frame)


def test_one_million_rows_by_25_columns_no_false_alarm():
    # Same distribution at full size: nothing breaches (speed is measured by
    # benchmarks/run.py drift, never asserted here).
    rng = np.random.default_rng(0)
    n, k = 1_000_000, 25
    ref = pd.DataFrame(rng.normal(size=(n, k)), columns=[f"f{i}" for i in range(k)])
    cur = pd.DataFrame(rng.normal(size=(n, k)), columns=ref.columns)
    res = drift.drift_report(ref, cur)
    assert res.severity == "ok"


def test_categorical_missing_and_counts_from_one_pass_equal_isna_and_value_counts():
    # None, NaN, pd.NA and NaT all count as missing (as isna() counts them);
    # unused categories are not categories seen.
    ref = pd.DataFrame({"c": pd.Series(["a", None, "b", np.nan, "a", pd.NA, pd.NaT, "b"] * 50, dtype=object)})
    cur = pd.DataFrame({"c": pd.Categorical(["a", "b", None, "a"] * 100, categories=["a", "b", "unused"])})
    f = drift.drift_report(ref, cur, categorical=["c"]).feature("c")
    assert f.missing_ref == ref["c"].isna().mean() == 0.5 and f.missing_cur == 0.25
    assert (f.n_ref, f.n_cur) == (200, 300)
    rc, cc = ref["c"].value_counts(), cur["c"].value_counts()
    assert f.js == pytest.approx(drift.js_divergence(rc, cc[cc > 0]), rel=1e-12) and f.new_categories == ()


def test_ks_statistic_equals_scipy_with_ties_and_disjoint_ranges():
    # One search of a's distinct values into b (ties with b re-searched):
    # exact against scipy on continuous, tied, shifted and disjoint samples.
    rng = np.random.default_rng(11)
    for i in range(400):
        n, m = rng.integers(1, 40, 2)
        if i % 3 == 0:
            a, b = rng.normal(size=n), rng.normal(rng.normal(), 1, size=m)
        elif i % 3 == 1:
            a, b = rng.integers(0, 4, n).astype(float), rng.integers(-2, 7, m).astype(float)
        else:
            a, b = rng.integers(0, 3, n).astype(float), rng.integers(5, 9, m).astype(float) * (1 if i % 2 else -1)
        a, b = np.sort(a), np.sort(b)
        assert drift._ks_stat_sorted(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


# ---------------------------------------------------- prepared reference ---


def _mixed_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric (with NaN, all-NaN, nullable ints), text with nulls, category,
    bool, integer codes, a datetime (skipped); the current side has a shift,
    a new category, a missing, a retyped and a new column."""
    rng = np.random.default_rng(21)

    def side(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.05] = np.nan
        text = np.array(["north", "south", "east"] + (["west"] if shift else []), dtype=object)[rng.integers(0, 4 if shift else 3, n)]
        text[rng.random(n) < 0.1] = None
        return pd.DataFrame(
            {
                "x": x,
                "all_nan": np.full(n, np.nan),
                "units": pd.array(rng.poisson(3, n), dtype="Int64"),
                "region": text,
                "tier": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                "promo": rng.random(n) < 0.2,
                "store": rng.integers(0, 5, n),
                "when": pd.date_range("2024-01-01", periods=n, freq="min"),
                "gone": rng.normal(size=n),
                "kept_type": rng.integers(0, 9, n),
            }
        )

    ref, cur = side(3_000, 0.0), side(2_000, 0.4)
    return ref, cur.drop(columns=["gone"]).assign(kept_type=cur["kept_type"].astype(str), extra=1.0)


def test_prepared_reference_gives_exactly_the_frames_report(tmp_path):
    ref, cur = _mixed_frames()
    th = DriftThresholds()
    for kw in ({"categorical": ["store"]}, {"categorical": ["store"], "columns": ["x", "region", "store", "all_nan"]}):
        want = drift.drift_report(ref, cur, th, **kw).to_dict()
        prepared = drift.prepare_reference(ref, **kw)
        assert drift.drift_report(prepared, cur, th, **kw).to_dict() == want
        assert drift.drift_report(prepared, cur, th, categorical=["store"]).to_dict() == want  # its columns by default
        # stored and loaded under its key: still the same result
        path = drift.save_prepared_reference(prepared, tmp_path / "ref.bin")
        loaded = drift.load_prepared_reference(path, key=prepared.key)
        assert drift.drift_report(loaded, cur, th, **kw).to_dict() == want
    res = drift.drift_report(prepared, cur, th, categorical=["store"])
    assert res.feature("region").new_categories == ("west",) and res.feature("x").severity != "ok"
    assert {(c.column, c.change) for c in res.schema_changes} >= {("gone", "missing"), ("kept_type", "retyped"), ("extra", "new")}


def test_prepared_reference_of_another_frame_is_refused(tmp_path):
    ref, _ = _mixed_frames()
    other = ref.assign(x=ref["x"] + 1e-9)  # one column barely differs
    assert drift.reference_fingerprint(other) != drift.reference_fingerprint(ref) == drift.reference_fingerprint(ref.copy())
    path = drift.save_prepared_reference(drift.prepare_reference(other, categorical=["store"]), tmp_path / "ref.bin")
    with pytest.raises(ValueError, match="not the expected"):
        drift.load_prepared_reference(path, key=drift.reference_fingerprint(ref))
    named = drift.save_prepared_reference(drift.prepare_reference(ref, key="model 3 / season 2024-W10"), tmp_path / "named.bin")
    assert drift.load_prepared_reference(named, key="model 3 / season 2024-W10").key == "model 3 / season 2024-W10"
    with pytest.raises(ValueError, match="not the expected"):
        drift.load_prepared_reference(named, key="model 4 / season 2024-W10")
    (tmp_path / "junk.bin").write_bytes(b"not a prepared reference")
    with pytest.raises(ValueError, match="junk.bin"):
        drift.load_prepared_reference(tmp_path / "junk.bin", key="k")
    data = named.read_bytes()
    assert drift.prepared_reference_from_bytes(data, key="model 3 / season 2024-W10").n_rows == len(ref)
    (tmp_path / "cut.bin").write_bytes(data[:-8])  # a truncated file
    with pytest.raises(ValueError, match="bytes of values"):
        drift.load_prepared_reference(tmp_path / "cut.bin", key="model 3 / season 2024-W10")


def test_prepared_reference_refuses_columns_or_kinds_it_did_not_prepare():
    ref, cur = _mixed_frames()
    prepared = drift.prepare_reference(ref, columns=["x", "store"])
    with pytest.raises(ValueError, match="'region' was not prepared"):
        drift.drift_report(prepared, cur, columns=["region"])
    with pytest.raises(ValueError, match="'store' was not prepared as categorical"):
        drift.drift_report(prepared, cur, categorical=["store"])
    with pytest.raises(ValueError, match="not in the prepared reference"):
        drift.drift_report(prepared, cur, columns=["nope"])
