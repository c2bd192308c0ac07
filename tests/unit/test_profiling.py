"""whylogs profiling: chunked == unchunked, fast path == whylogs' default
path, persistence round trips, summaries and comparisons."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import whylogs as why

from runway.monitoring import profiling as P

pytestmark = [
    pytest.mark.unit,
    # whylogs' own mean/variance of a column holding +inf and -inf is NaN, and
    # numpy says so; the fixture has such a column on purpose.
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]

# Exact (not sketch-estimated) whylogs metrics.
EXACT = [
    "counts/n",
    "counts/null",
    "counts/nan",
    "counts/inf",
    "types/integral",
    "types/fractional",
    "types/boolean",
    "types/string",
    "types/object",
    "distribution/n",
    "distribution/min",
    "distribution/max",
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 30_011  # not a multiple of the chunk size: the last chunk is short
    fn = rng.normal(size=n)
    fn[rng.random(n) < 0.1] = np.nan
    fi = rng.normal(size=n)
    fi[:3] = [np.inf, -np.inf, np.inf]  # infinities take whylogs' default path
    return pd.DataFrame(
        {
            "price": rng.lognormal(1, 0.4, n),
            "price_nan": fn,
            "with_inf": fi,
            "units": rng.poisson(4, n),
            "promo": rng.random(n) < 0.1,
            "region": rng.choice(["north", "south", "east"], n).astype(object),
            "store_nan": pd.Series(rng.choice(["s1", "s2", None], n), dtype=object),
            "cat": pd.Categorical(rng.choice(["a", "b"], n)),
        }
    )


def _exact(view) -> pd.DataFrame:
    df = view.to_pandas()
    return df[[c for c in EXACT if c in df.columns]].sort_index()


def test_chunked_profile_equals_plain_whylogs(frame):
    plain = why.log(frame).view()  # whylogs' default path, one call
    chunked = P.profile_frame(frame, chunk_rows=7_000)
    pd.testing.assert_frame_equal(_exact(chunked), _exact(plain), check_dtype=False)
    a, b = chunked.to_pandas(), plain.to_pandas()
    # Mean/stddev merge in floating point: equal up to rounding.
    np.testing.assert_allclose(a["distribution/mean"].astype(float), b["distribution/mean"].astype(float), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a["distribution/stddev"].astype(float), b["distribution/stddev"].astype(float), rtol=1e-9, atol=1e-12)
    assert a.loc["region", "cardinality/est"] == pytest.approx(3, abs=0.01)
    top = {fi.value: fi.est for fi in a.loc["region", "frequent_items/frequent_strings"]}
    assert top == {fi.value: fi.est for fi in b.loc["region", "frequent_items/frequent_strings"]}
    assert a.loc["with_inf", "counts/inf"] == 3


def test_profile_from_chunk_iterable_matches_frame(frame):
    parts = (frame.iloc[i : i + 5_000] for i in range(0, len(frame), 5_000))
    pd.testing.assert_frame_equal(_exact(P.profile_frame(parts)), _exact(P.profile_frame(frame)), check_dtype=False)


def test_profile_parquet_batches(frame, tmp_path):
    path = tmp_path / "f.parquet"
    frame.drop(columns=["cat"]).to_parquet(path)
    got = _exact(P.profile_parquet(path, chunk_rows=4_000))
    assert got.loc["price_nan", "counts/null"] == frame["price_nan"].isna().sum()
    assert got["counts/n"].eq(len(frame)).all()


def test_types_whylogs_cannot_handle_are_converted():
    # whylogs 1.6.4 on numpy 2 crashes on datetime64 and pandas "string".
    df = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC"),
            "name": pd.Series(["a", "b", None, "a"], dtype="string"),
            "span": pd.to_timedelta([1, 2, 3, 4], unit="h"),
        }
    )
    s = P.profile_summary(P.profile_frame(df))
    assert s.loc["when", "min"] == pytest.approx(pd.Timestamp("2024-01-01", tz="UTC").timestamp())
    assert s.loc["span", "max"] == 4 * 3600
    assert s.loc["name", "null_count"] == 1 and s.loc["name", "inferred_type"] == "string"


def test_bad_input_errors(frame):
    with pytest.raises(ValueError, match="empty frame"):
        P.profile_frame(frame.iloc[:0])
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        P.profile_frame(frame, chunk_rows=0)
    with pytest.raises(TypeError, match="chunk 1 is a dict"):
        P.profile_frame(iter([frame.iloc[:10], {"a": 1}]))


def test_bytes_and_file_round_trip(frame, tmp_path):
    view = P.profile_frame(frame)
    blob = P.profile_to_bytes(view)
    assert blob[:4] == b"WHY1"
    back = P.profile_from_bytes(blob)
    pd.testing.assert_frame_equal(P.profile_summary(back), P.profile_summary(view))

    target = tmp_path / "nested" / "reference.bin"
    P.save_profile(view, target)
    assert os.listdir(target.parent) == ["reference.bin"]  # no temp file left behind
    pd.testing.assert_frame_equal(P.profile_summary(P.load_profile(target)), P.profile_summary(view))

    with pytest.raises(ValueError, match=r"not a whylogs profile \(7 bytes\)"):
        P.profile_from_bytes(b"garbage")
    with pytest.raises(FileNotFoundError, match="no profile at"):
        P.load_profile(tmp_path / "absent.bin")


def test_profile_summary_columns(frame):
    s = P.profile_summary(P.profile_frame(frame))
    assert list(s.columns) == P.SUMMARY_COLUMNS
    assert s.loc["price_nan", "null_count"] == frame["price_nan"].isna().sum()
    assert s.loc["price_nan", "null_fraction"] == pytest.approx(frame["price_nan"].isna().mean())
    assert s.loc["price", "mean"] == pytest.approx(frame["price"].mean())
    assert s.loc["price", "min"] == frame["price"].min()
    assert s.loc["price", "q_01"] <= s.loc["price", "median"] <= s.loc["price", "q_99"]
    assert np.isnan(s.loc["region", "mean"])  # whylogs says 0.0 for text; we say "not applicable"
    assert s.loc["region", "inferred_type"] == "string" and s.loc["units", "inferred_type"] == "integral"


def test_compare_profiles_reports_shift_nulls_and_schema(frame):
    cur = frame.drop(columns=["units"]).assign(extra=1.0)
    cur["price"] = cur["price"] + frame["price"].std() * 0.5
    cur.loc[cur.index[:3000], "price_nan"] = np.nan
    cmp = P.compare_profiles(P.profile_frame(frame), P.profile_frame(cur)).set_index("column")
    assert list(P.compare_profiles(P.profile_frame(frame), P.profile_frame(frame)).columns) == P.COMPARE_COLUMNS
    assert cmp.loc["price", "mean_shift_sd"] == pytest.approx(0.5, abs=1e-6)
    assert cmp.loc["price", "sketch_ks"] > 0.1
    assert cmp.loc["promo", "sketch_ks"] < 0.03  # unchanged column: only sketch error
    assert cmp.loc["price_nan", "null_fraction_change"] > 0.05
    assert cmp.loc["units", "status"] == "missing" and cmp.loc["extra", "status"] == "new"
    assert cmp.loc["region", "status"] == "both" and np.isnan(cmp.loc["region", "mean_shift_sd"])


def test_whylogs_telemetry_is_off():
    import whylogs.api.usage_stats as usage

    assert os.environ.get("WHYLOGS_NO_ANALYTICS") and usage._TELEMETRY_DISABLED


def test_float_column_with_missing_values_is_split_and_equals_whylogs():
    # NaN but no inf: profiled as present values (fast path) + NaNs (default
    # path); also all-NaN and a frame holding only such columns.
    rng = np.random.default_rng(3)
    a = rng.normal(size=9_000)
    a[rng.random(9_000) < 0.3] = np.nan
    df = pd.DataFrame({"a": a, "all_nan": np.full(9_000, np.nan)})
    assert P._nan_mask(df["a"]) is not None and P._nan_mask(pd.Series([1.0, np.inf, np.nan])) is None
    got, plain = P.profile_frame(df, chunk_rows=4_000), why.log(df).view()
    pd.testing.assert_frame_equal(_exact(got), _exact(plain), check_dtype=False)
    np.testing.assert_allclose(got.to_pandas()["distribution/mean"].astype(float)["a"], np.nanmean(a), rtol=1e-9)


def test_chunks_differing_in_dtype_or_homogeneity_equal_one_whylogs_profile():
    # One whylogs profile tracks the chunks; per-chunk homogeneous flags must
    # not leak (chunk 1 of "x" is finite, chunk 2 has an inf) and a batch with
    # other dtypes (ints, then floats) starts a profile of its own, merged.
    x = np.arange(8_000, dtype=float)
    x[6_000] = np.inf
    df = pd.DataFrame({"x": x, "s": np.array(["a", "b"] * 4_000, dtype=object)})
    got = P.profile_frame(df, chunk_rows=4_000)
    pd.testing.assert_frame_equal(_exact(got), _exact(why.log(df).view()), check_dtype=False)
    parts = [pd.DataFrame({"n": np.arange(3, dtype="int64")}), pd.DataFrame({"n": [1.5, np.nan]})]
    merged = _exact(P.profile_frame(iter(parts)))
    assert merged.loc["n", "counts/n"] == 5 and merged.loc["n", "counts/null"] == 1
    assert merged.loc["n", "types/integral"] == 3 and merged.loc["n", "types/fractional"] == 1


def test_text_columns_profiled_from_counts_equal_whylogs():
    # Repeating text (counted: value counts -> weighted frequent items, HLL of
    # the distinct values) and an id-like column (mostly distinct: whylogs'
    # own path), values longer than whylogs' 128-character item size, across
    # chunks: the same counts, types, cardinality and frequent items.
    rng = np.random.default_rng(5)
    n = 12_000
    long = ["x" * 130 + "a", "x" * 130 + "b", "short"]  # the two long ones cut to the same item
    df = pd.DataFrame(
        {
            "item": np.char.add("i", rng.integers(0, 300, n).astype(str)).astype(object),
            "long": np.array(long, dtype=object)[rng.integers(0, 3, n)],
            "uid": np.array([f"u{i}" for i in range(n)], dtype=object),
            "x": rng.normal(size=n),
        }
    )
    prepared, types = P._prepare_chunk(df.iloc[:5_000])
    assert set(P._text_counts(prepared, [c for c in types if c != "x"])) == {"item", "long"}  # uid is mostly distinct
    got, plain = P.profile_frame(df, chunk_rows=5_000), why.log(df).view()
    assert list(got.to_pandas().index) == list(df.columns)  # the data's column order
    pd.testing.assert_frame_equal(_exact(got), _exact(plain), check_dtype=False)
    a, b = got.to_pandas(), plain.to_pandas()
    for col in ("item", "long", "uid"):
        for stat in ("cardinality/est", "cardinality/lower_1", "cardinality/upper_1"):
            assert a.loc[col, stat] == b.loc[col, stat], (col, stat)
        fa = sorted((f.value, f.est, f.lower, f.upper) for f in a.loc[col, "frequent_items/frequent_strings"])
        fb = sorted((f.value, f.est, f.lower, f.upper) for f in b.loc[col, "frequent_items/frequent_strings"])
        assert fa == fb, col
    back = P.profile_from_bytes(P.profile_to_bytes(got)).to_pandas()
    assert back.loc["long", "counts/n"] == n and back.loc["item", "types/string"] == n


def test_text_columns_with_nulls_profiled_from_counts_equal_whylogs():
    # Text with None and NaN (and a chunk without nulls, one all null):
    # present values counted, the nulls alone through whylogs' default path;
    # counts (n, null, nan), types, cardinality and frequent items as whylogs'.
    rng = np.random.default_rng(8)
    n = 12_000
    t = np.array(["north", "south", "east", "west"], dtype=object)[rng.integers(0, 4, n)]
    t[rng.random(n) < 0.1] = None
    t[rng.random(n) < 0.05] = np.nan
    t[4_000:5_000] = np.array(["north", "south"], dtype=object)[rng.integers(0, 2, 1_000)]  # a chunk-sized run without nulls
    t[11_000:] = None  # the last chunk all null: whylogs' own path
    df = pd.DataFrame({"t": t, "x": rng.normal(size=n)})
    prepared, _ = P._prepare_chunk(df.iloc[:3_000])
    counts, nulls = P._text_counts(prepared, ["t"])["t"]
    assert P._text_with_nulls(prepared["t"]) and nulls is not None and nulls.sum() == prepared["t"].isna().sum()
    assert int(counts.sum()) == prepared["t"].notna().sum()
    got, plain = P.profile_frame(df, chunk_rows=1_000), why.log(df).view()
    pd.testing.assert_frame_equal(_exact(got), _exact(plain), check_dtype=False)
    a, b = got.to_pandas(), plain.to_pandas()
    assert a.loc["t", "counts/null"] == pd.isna(t).sum() and a.loc["t", "counts/nan"] == b.loc["t", "counts/nan"] > 0
    for stat in ("cardinality/est", "cardinality/lower_1", "cardinality/upper_1"):
        assert a.loc["t", stat] == b.loc["t", stat], stat
    fa = sorted((f.value, f.est, f.lower, f.upper) for f in a.loc["t", "frequent_items/frequent_strings"])
    assert fa == sorted((f.value, f.est, f.lower, f.upper) for f in b.loc["t", "frequent_items/frequent_strings"])
