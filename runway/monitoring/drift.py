"""Drift between a reference window and a current window, vectorised.

Statistics (each usable on its own):

* ``psi``: population stability index over reference-quantile bins
  (``categorical_psi``: over category frequencies, the same smoothing),
* ``ks``: two-sample Kolmogorov-Smirnov statistic and p-value (equal to
  ``scipy.stats.ks_2samp`` with ``method="auto"``),
* ``js_divergence`` / ``chi_square``: categorical distributions,
* ``missing_rate_change``, ``schema_changes``.

``drift_report`` runs them over every column of two frames and assigns a
severity (``ok`` / ``warn`` / ``alert``) per feature.

Speed: per numeric column the reference and the current values are each
sorted once; PSI bin counts and the KS statistic both come from
``np.searchsorted`` on those sorted arrays. NumPy releases the GIL while
sorting and searching, so columns run on a thread pool (one thread per core).
No subsampling is needed: every statistic uses every row. A reference compared
with many windows can be prepared once (``prepare_reference``: sorted, counted,
stored and loaded under a key naming the exact reference), and
``drift_report(prepared, current)`` then sorts only the current side.

Why severities need an effect size *and* a significance test
---------------------------------------------------------------
At 1M rows a KS p-value is below 1e-6 for a shift nobody cares about (0.5 % of
a standard deviation), so "p < alpha" alone pages someone every window. At 50
rows (one store's week) PSI is noisy: two samples of the same distribution
routinely give PSI > 0.25. So every rule below needs both:

* an **effect size** above its threshold (PSI, KS statistic D, JS divergence,
  absolute change of the missing rate), which is what matters for the model,
* a **significance test** below ``thresholds.ks_pvalue`` (alpha), which says
  the effect is not sampling noise in a small window.

The significance tests are: KS p-value for D; a chi-square test of homogeneity
on PSI's own bins for PSI; a chi-square test on category counts for JS; a
chi-square test on (missing, present) counts for the missing rate. So
``ks_pvalue`` acts as the one significance level of the whole report.

Severity rules (``th`` = ``DriftThresholds``):

=================  =============================================  ==============================
statistic          warn                                           alert
=================  =============================================  ==============================
PSI                ``psi >= th.psi_warn``                          ``psi >= th.psi_alert``
KS statistic D     ``D >= ks_statistic / 2``                      ``D >= ks_statistic`` (0.1)
JS (categorical)   ``js >= th.js_alert / 2``                      ``js >= th.js_alert``
missing rate       ``|change| >= th.missing_rate_change / 2``     ``|change| >= th.missing_rate_change``
new categories     share of unseen values ``>= 1 %``              --
schema             new column, retype within a family             missing column, retype across
                   (int64 -> float64)                             families (float64 -> object)
=================  =============================================  ==============================

each AND the matching p-value ``< th.ks_pvalue``. Statistics with a single
configured threshold warn at half of it. ``ks_statistic`` (default 0.1) is not
a ``DriftThresholds`` field yet; ``drift_report`` reads
``thresholds.ks_statistic`` when the field exists. Why KS: PSI on 10 quantile
bins barely sees a 0.3 sd mean shift (PSI ~ 0.08) while D ~ 0.12 does.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from runway.config import DriftThresholds

Severity = Literal["ok", "warn", "alert"]
SEVERITY_RANK: dict[str, int] = {"ok": 0, "warn": 1, "alert": 2}

DEFAULT_KS_STATISTIC = 0.1
# A value unseen in the reference must cover this share of the current window
# before it warns: one new item among 10k rows is not drift.
NEW_CATEGORY_MIN_SHARE = 0.01
# PSI's empty-bin smoothing: a bin (or category) empty on one side counts as
# this share of that side, without renormalising the others. PSI values differ
# between tools mostly by this choice (on a 0.5 sd shift of a uniform column,
# eps=1e-4 gives 0.84 where a floor smoothing differently gave 1.31), so every
# result names it (``psi_method``).
PSI_EPS = 1e-4
# scipy's ks_2samp(method="auto") is exact up to this many rows per sample.
_KS_EXACT_MAX_N = 10_000
_MAX_LISTED_CATEGORIES = 20


def max_severity(*severities: str) -> Severity:
    """The highest of the given severities (``ok`` when none)."""
    best = "ok"
    for s in severities:
        if s not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {s!r}; expected one of {sorted(SEVERITY_RANK)}")
        if SEVERITY_RANK[s] > SEVERITY_RANK[best]:
            best = s
    return best  # type: ignore[return-value]


# ----------------------------------------------------------------- inputs --


def _float_values(values: Any, what: str) -> np.ndarray:
    """Values as float64 (missing -> NaN); a non-numeric value raises, named."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype):
            raise ValueError(f"{what}: dtype {values.dtype} is not numeric; convert it (e.g. to days) first")
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values.to_numpy(dtype=object)
    arr = np.asarray(values)
    if arr.dtype.kind in "US" and not isinstance(values, np.ndarray):
        # numpy turned a mixed list into text ([1.0, "a"] -> ["1.0", "a"]);
        # look at the original objects so the error names the real culprit.
        arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-d array, got shape {arr.shape}")
    if arr.dtype.kind in "mM":
        raise ValueError(f"{what}: dtype {arr.dtype} is not numeric; convert it (e.g. to days) first")
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    # Strings are refused even when they parse ("1.5"): a numeric column that
    # arrives as text is a data problem to surface, not to paper over.
    out = np.empty(arr.size, dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        if v is None or v is pd.NA:
            out[i] = np.nan
        elif isinstance(v, (int, float, np.number, np.bool_)):
            out[i] = v
        else:
            shown = v.item() if isinstance(v, np.generic) else v
            raise ValueError(f"{what}: non-numeric value {shown!r} ({type(shown).__name__}) at position {i}")
    return out


def _sorted_present(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(sorted non-NaN values, number of NaN). np.sort puts NaN last."""
    n_nan = int(np.count_nonzero(np.isnan(values)))
    s = np.sort(values)
    return s[: s.size - n_nan], n_nan


# ------------------------------------------------------------------- PSI ---


def _quantile_edges(sorted_ref: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's 1/bins .. (bins-1)/bins quantiles
    (numpy's default linear interpolation), deduplicated: discrete data such as
    unit counts repeat quantiles, and a zero-width bin would be empty on both
    sides."""
    n = sorted_ref.size
    pos = np.arange(1, bins) / bins * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    a, b = sorted_ref[lo], sorted_ref[hi]
    with np.errstate(invalid="ignore"):  # inf - inf when a column holds inf
        edges = np.where(a == b, a, a + (b - a) * (pos - lo))
    return np.unique(edges)


def _bin_counts(sorted_x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in (-inf, e1], (e1, e2], ..., (ek, inf): the outer bins are open so
    values beyond the reference's range still land somewhere."""
    cum = np.searchsorted(sorted_x, edges, side="right")
    return np.diff(np.concatenate(([0], cum, [sorted_x.size])))


def _psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float) -> float:
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    # An empty bin would make ln(q/p) infinite; give it a tiny share instead.
    p = np.where(p == 0, eps, p)
    q = np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


def _psi_sorted(sr: np.ndarray, sc: np.ndarray, bins: int, eps: float) -> tuple[float, float]:
    edges = _quantile_edges(sr, bins)
    rc, cc = _bin_counts(sr, edges), _bin_counts(sc, edges)
    return _psi_from_counts(rc, cc, eps), chi_square(rc, cc)[1]


def _check_sample(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.size == 0:
        raise ValueError(f"{what}: no non-missing values")
    return arr


def psi_method(bins: int, eps: float = PSI_EPS) -> str:
    """How PSI was computed, in words (shown beside every PSI value)."""
    return (
        f"PSI: numeric columns over {bins} quantile bins of the reference (open outer bins; repeated quantiles merged), "
        f"categorical columns over the categories seen on either side; a bin or category empty on one side is smoothed to a share of eps={eps:g} "
        "(no renormalisation); missing values excluded"
    )


def psi(reference: Any, current: Any, bins: int = 10, eps: float = PSI_EPS) -> float:
    """Population stability index, ``sum((q - p) * ln(q / p))`` over bins.

    Bins come from the reference's quantiles (so each holds ~1/bins of the
    reference), with open-ended outer bins; empty bins count as ``eps``.
    Missing values are ignored (see ``missing_rate_change``). Rule of thumb:
    < 0.1 stable, 0.1-0.25 moderate, > 0.25 large shift.
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    sr, _ = _sorted_present(_float_values(reference, "psi reference"))
    sc, _ = _sorted_present(_float_values(current, "psi current"))
    _check_sample(sr, "psi reference")
    _check_sample(sc, "psi current")
    return _psi_sorted(sr, sc, bins, eps)[0]


# -------------------------------------------------------------------- KS ---


def _ks_stat_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """max |F_a(x) - F_b(x)| for sorted a, b, with one search of a's
    distinct values into b.

    Both empirical CDFs are step functions that only move at data values. At
    the last occurrence of each distinct a-value a_i, F_a is (index + 1) / n
    and F_b is #(b <= a_i) / m (the search). On [a_i, a_(i+1)) F_a is
    constant and F_b only grows, so the b-points there are extreme at the
    last b below a_(i+1), where F_b is #(b < a_(i+1)) / m: the same search,
    less b's ties with a_(i+1) (searched again only where a tie exists). The
    candidates are the very values the two-sided search would compare.
    """
    n, m = a.size, b.size
    last = np.empty(n, dtype=bool)  # the last occurrence of each distinct value
    np.not_equal(a[1:], a[:-1], out=last[:-1])
    last[-1] = True
    if last.all():  # all distinct (continuous data): a is its own keys
        keys, f_a = a, np.arange(1, n + 1) / n
    else:
        ends = np.flatnonzero(last)
        keys, f_a = a[ends], (ends + 1) / n
    right = np.searchsorted(b, keys, side="right")
    # A tie: the last b at or below the key equals it (right == 0 reads b[0],
    # which is then above the key, so no tie).
    tie = b[np.maximum(right - 1, 0)] == keys
    left = right
    if tie.any():
        left = right.copy()
        left[tie] = np.searchsorted(b, keys[tie], side="left")
    d_at_a = float(np.max(np.abs(f_a - right / m)))
    # Just below a_i, F_a is the previous step's value (0 below a's minimum).
    d_below_a = float(np.max(np.abs(np.concatenate(([0.0], f_a[:-1])) - left / m)))
    return max(d_at_a, d_below_a)


def _ks_sorted(sr: np.ndarray, sc: np.ndarray) -> tuple[float, float]:
    n, m = sr.size, sc.size
    if max(n, m) <= _KS_EXACT_MAX_N:
        res = stats.ks_2samp(sr, sc, method="auto")  # exact p-value, cheap here
        return float(res.statistic), float(res.pvalue)
    d = _ks_stat_sorted(sr, sc)
    # scipy's asymptotic branch, verbatim: kstwo with the effective sample size.
    en = n * m / (n + m)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p


def ks(reference: Any, current: Any) -> tuple[float, float]:
    """Two-sample KS ``(statistic, pvalue)``; same numbers as
    ``scipy.stats.ks_2samp(reference, current)`` but O(n log n) with one sort
    per sample. Missing values are ignored."""
    sr, _ = _sorted_present(_float_values(reference, "ks reference"))
    sc, _ = _sorted_present(_float_values(current, "ks current"))
    _check_sample(sr, "ks reference")
    _check_sample(sc, "ks current")
    return _ks_sorted(sr, sc)


# ----------------------------------------------------------- categorical ---


def _as_count_series(counts: Any) -> pd.Series:
    s = pd.Series(dict(counts)) if isinstance(counts, Mapping) else pd.Series(counts)
    # A plain object index: reindexing a CategoricalIndex on values outside
    # its categories (a new category) would fail.
    return pd.Series(s.to_numpy(dtype=float), index=pd.Index(list(s.index), dtype=object))


def _aligned_counts(ref_counts: Any, cur_counts: Any) -> tuple[np.ndarray, np.ndarray, list[Any] | None]:
    """Mappings/Series are aligned on the union of their keys; plain arrays
    must already be aligned (same length)."""
    if isinstance(ref_counts, (Mapping, pd.Series)) or isinstance(cur_counts, (Mapping, pd.Series)):
        r, c = _as_count_series(ref_counts), _as_count_series(cur_counts)
        keys = list(dict.fromkeys([*r.index, *c.index]))
        return (r.reindex(keys, fill_value=0.0).to_numpy(), c.reindex(keys, fill_value=0.0).to_numpy(), keys)
    r = np.asarray(ref_counts, dtype=float)
    c = np.asarray(cur_counts, dtype=float)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(f"count arrays must be 1-d and aligned, got shapes {r.shape} and {c.shape}")
    return r, c, None


def _check_counts(r: np.ndarray, c: np.ndarray) -> None:
    for name, a in (("reference", r), ("current", c)):
        if np.any(a < 0) or not np.all(np.isfinite(a)):
            raise ValueError(f"{name} counts must be finite and >= 0")
        if a.sum() == 0:
            raise ValueError(f"{name} counts are all zero")


def js_divergence(ref_counts: Any, cur_counts: Any) -> float:
    """Jensen-Shannon divergence (base 2, so in [0, 1]) of two count vectors
    or category->count mappings. 0 means identical shares, 1 disjoint support.
    Equals ``scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2``."""
    r, c, _ = _aligned_counts(ref_counts, cur_counts)
    _check_counts(r, c)
    p, q = r / r.sum(), c / c.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0  # 0 * log(0) = 0; m > 0 wherever a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0)  # clamp rounding


def chi_square(ref_counts: Any, cur_counts: Any) -> tuple[float, float]:
    """Chi-square test of homogeneity on a 2 x k table of counts:
    ``(statistic, pvalue)``. Categories empty on both sides are dropped; with
    fewer than two categories left there is nothing to test: ``(0.0, 1.0)``."""
    r, c, _ = _aligned_counts(ref_counts, cur_counts)
    _check_counts(r, c)
    table = np.vstack([r, c])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    res = stats.chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue)


def categorical_psi(ref_counts: Any, cur_counts: Any, eps: float = PSI_EPS) -> float:
    """PSI over category frequencies: ``sum((q - p) * ln(q / p))`` with one
    bin per category seen on either side (count vectors or category->count
    mappings, aligned like ``js_divergence``). A category absent on one side
    (e.g. a new value) counts as ``eps`` there, the numeric ``psi``'s smoothing."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    r, c, _ = _aligned_counts(ref_counts, cur_counts)
    _check_counts(r, c)
    keep = (r + c) > 0  # unused categories are no bin at all
    return _psi_from_counts(r[keep], c[keep], eps)


def missing_rate(values: Any) -> float:
    """Share of missing values (None/NaN/NaT/pd.NA)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    return float(s.isna().mean()) if len(s) else float("nan")


def missing_rate_change(reference: Any, current: Any) -> float:
    """Signed change of the missing share, current minus reference."""
    return missing_rate(current) - missing_rate(reference)


# ---------------------------------------------------------------- schema ---


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: Literal["new", "missing", "retyped"]
    reference_dtype: str | None
    current_dtype: str | None
    severity: Severity

    def describe(self) -> str:
        if self.change == "missing":
            return f"column '{self.column}' ({self.reference_dtype}) is missing from the current data"
        if self.change == "new":
            return f"new column '{self.column}' ({self.current_dtype}) not in the reference"
        return f"column '{self.column}' changed type {self.reference_dtype} -> {self.current_dtype}"


def dtype_family(dtype: Any) -> str:
    """Coarse type family: numeric, bool, datetime, timedelta, string (object,
    string, category) or the dtype's own name when pandas does not know it."""
    try:
        dt = pd.api.types.pandas_dtype(dtype) if isinstance(dtype, str) else dtype
    except TypeError:
        return str(dtype)
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dt):
        return "timedelta"
    if pd.api.types.is_numeric_dtype(dt):
        return "numeric"
    if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dt) or pd.api.types.is_object_dtype(dt):
        return "string"
    return str(dt)


def schema_changes(reference_schema: Mapping[str, Any], current_schema: Mapping[str, Any]) -> list[SchemaChange]:
    """Columns missing from / new in the current schema, and columns whose
    dtype changed. A retype within a family (int64 -> float64, which pandas does
    as soon as a value is missing) warns; across families (a numeric column now
    holding strings) alerts, as does a missing column."""
    return _schema_changes(_schema_of(reference_schema), current_schema)


def _schema_of(schema: Mapping[Any, Any]) -> dict[Any, tuple[str, str]]:
    """column -> (dtype as text, dtype family): what schema comparison reads."""
    return {col: (str(dt), dtype_family(dt)) for col, dt in schema.items()}


def _schema_changes(reference: Mapping[Any, tuple[str, str]], current_schema: Mapping[Any, Any]) -> list[SchemaChange]:
    out: list[SchemaChange] = []
    for col, (rdt, rfam) in reference.items():
        if col not in current_schema:
            out.append(SchemaChange(str(col), "missing", rdt, None, "alert"))
            continue
        cdt = current_schema[col]
        if rdt != str(cdt):
            same = rfam == dtype_family(cdt)
            out.append(SchemaChange(str(col), "retyped", rdt, str(cdt), "warn" if same else "alert"))
    for col, cdt in current_schema.items():
        if col not in reference:
            out.append(SchemaChange(str(col), "new", None, str(cdt), "warn"))
    return out


# ---------------------------------------------------------------- report ---

_FLOAT_FIELDS = ("psi", "psi_pvalue", "ks_stat", "ks_pvalue", "js", "chi2_pvalue", "missing_ref", "missing_cur", "missing_pvalue", "new_category_share")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column. Statistics that do not apply are NaN (KS for a
    categorical, JS for a numeric, anything when one side has no values).
    PSI is set for both kinds (see ``DriftResult.psi_method``)."""

    feature: str
    kind: Literal["numeric", "categorical"]
    severity: Severity
    reasons: tuple[str, ...] = ()
    psi: float = float("nan")
    psi_pvalue: float = float("nan")
    ks_stat: float = float("nan")
    ks_pvalue: float = float("nan")
    js: float = float("nan")
    chi2_pvalue: float = float("nan")
    missing_ref: float = float("nan")
    missing_cur: float = float("nan")
    missing_pvalue: float = float("nan")
    n_ref: int = 0  # non-missing values
    n_cur: int = 0
    new_categories: tuple[str, ...] = ()
    new_category_share: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["new_categories"] = list(self.new_categories)
        for k in _FLOAT_FIELDS:
            d[k] = _json_float(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureDrift:
        kw = dict(d)
        for k in _FLOAT_FIELDS:
            kw[k] = float("nan") if kw.get(k) is None else float(kw[k])
        kw["reasons"] = tuple(kw.get("reasons", ()))
        kw["new_categories"] = tuple(kw.get("new_categories", ()))
        return cls(**kw)


TABLE_COLUMNS = [
    "feature",
    "kind",
    "psi",
    "ks_stat",
    "ks_pvalue",
    "js",
    "missing_ref",
    "missing_cur",
    "severity",
    "reason",
    "psi_pvalue",
    "chi2_pvalue",
    "missing_pvalue",
    "n_ref",
    "n_cur",
    "new_categories",
]


@dataclass(frozen=True)
class DriftResult:
    features: tuple[FeatureDrift, ...]
    schema_changes: tuple[SchemaChange, ...]
    severity: Severity
    n_reference: int
    n_current: int
    thresholds: dict[str, float] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()  # columns not tested (e.g. datetimes), with reason
    psi_method: str = ""  # binning and smoothing of every PSI here (``psi_method()``)

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(f"no drift result for feature '{name}'; have {[f.feature for f in self.features]}")

    def flagged(self, min_severity: str = "warn") -> list[FeatureDrift]:
        """Features at or above ``min_severity``."""
        rank = SEVERITY_RANK[max_severity(min_severity)]
        return [f for f in self.features if SEVERITY_RANK[f.severity] >= rank]

    def to_frame(self) -> pd.DataFrame:
        """One row per feature (see ``TABLE_COLUMNS``)."""
        rows = []
        for f in self.features:
            d = asdict(f)
            d["reason"] = "; ".join(f.reasons)
            d["new_categories"] = ", ".join(f.new_categories)
            rows.append(d)
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN -> None), round-trips through ``from_dict``."""
        return {
            "severity": self.severity,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "thresholds": {k: _json_float(v) for k, v in self.thresholds.items()},
            "features": [f.to_dict() for f in self.features],
            "schema_changes": [asdict(s) for s in self.schema_changes],
            "skipped": list(self.skipped),
            "psi_method": self.psi_method,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftResult:
        return cls(
            features=tuple(FeatureDrift.from_dict(f) for f in d["features"]),
            schema_changes=tuple(SchemaChange(**s) for s in d.get("schema_changes", ())),
            severity=d["severity"],
            n_reference=int(d["n_reference"]),
            n_current=int(d["n_current"]),
            thresholds={k: float("nan") if v is None else float(v) for k, v in d.get("thresholds", {}).items()},
            skipped=tuple(d.get("skipped", ())),
            psi_method=str(d.get("psi_method", "")),
        )


def _json_float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _is_categorical_dtype(dt: Any) -> bool:
    return dtype_family(dt) in ("string", "bool")


def _grade(value: float, pvalue: float, warn: float, alert: float, alpha: float) -> Severity:
    if not (np.isfinite(value) and np.isfinite(pvalue)) or pvalue >= alpha:
        return "ok"
    if value >= alert:
        return "alert"
    if value >= warn:
        return "warn"
    return "ok"


def _missing_part(n_ref: int, n_cur: int, mr: int, mc: int, th: DriftThresholds) -> tuple[dict[str, Any], Severity, list[str]]:
    """Missing-rate statistics from the rows and missing values per side."""
    rate_r, rate_c = mr / n_ref, mc / n_cur
    p = chi_square([mr, n_ref - mr], [mc, n_cur - mc])[1]
    change = abs(rate_c - rate_r)
    sev = _grade(change, p, th.missing_rate_change / 2, th.missing_rate_change, th.ks_pvalue)
    reasons = [f"missing rate {rate_r:.1%} -> {rate_c:.1%} (p={p:.2g})"] if sev != "ok" else []
    return {"missing_ref": rate_r, "missing_cur": rate_c, "missing_pvalue": p}, sev, reasons


def _numeric_reference(name: str, ref: pd.Series) -> tuple[np.ndarray, int]:
    """(sorted non-missing values, missing count as ``isna()`` counts them)."""
    missing = int(ref.isna().sum())
    return _sorted_present(_float_values(ref, f"column '{name}' (reference)"))[0], missing


def _numeric_feature(name: str, n_ref: int, ref: tuple[np.ndarray, int], cur: pd.Series, th: DriftThresholds, ks_stat_thr: float) -> FeatureDrift:
    sr, mr = ref
    miss, sev_m, reasons = _missing_part(n_ref, len(cur), mr, int(cur.isna().sum()), th)
    sc, _ = _sorted_present(_float_values(cur, f"column '{name}' (current)"))
    out: dict[str, Any] = {**miss, "n_ref": int(sr.size), "n_cur": int(sc.size)}
    sevs = [sev_m]
    if sr.size and sc.size:
        p, p_p = _psi_sorted(sr, sc, th.psi_bins, PSI_EPS)
        d, d_p = _ks_sorted(sr, sc)
        out.update(psi=p, psi_pvalue=p_p, ks_stat=d, ks_pvalue=d_p)
        s_psi = _grade(p, p_p, th.psi_warn, th.psi_alert, th.ks_pvalue)
        s_ks = _grade(d, d_p, ks_stat_thr / 2, ks_stat_thr, th.ks_pvalue)
        if s_psi != "ok":
            reasons.append(f"PSI {p:.3f} >= {th.psi_alert if s_psi == 'alert' else th.psi_warn:g} (p={p_p:.2g})")
        if s_ks != "ok":
            reasons.append(f"KS D {d:.3f} >= {ks_stat_thr if s_ks == 'alert' else ks_stat_thr / 2:g} (p={d_p:.2g})")
        sevs += [s_psi, s_ks]
    elif sr.size != sc.size:
        reasons.append("no non-missing values on one side")
    return FeatureDrift(feature=name, kind="numeric", severity=max_severity(*sevs), reasons=tuple(reasons), **out)


def _counts_and_missing(s: pd.Series) -> tuple[pd.Series, int]:
    """(counts of the present values, unused pandas categories dropped;
    number of missing values, as ``isna().sum()`` counts them)."""
    counts = s.value_counts(dropna=False)
    na = counts.index.isna()
    present = counts[~na]
    return present[present > 0], int(counts[na].sum())


def _categorical_reference(s: pd.Series) -> tuple[pd.Series, int]:
    """``_counts_and_missing`` of a reference column, its categories as plain
    Python values in an object index (the form ``_as_count_series`` aligns
    them in, so results are the same; and a form a file can hold)."""
    counts, missing = _counts_and_missing(s)
    return pd.Series(counts.to_numpy(dtype=np.int64), index=pd.Index(list(counts.index), dtype=object)), missing


def _categorical_feature(name: str, n_ref: int, ref: tuple[pd.Series, int], cur: pd.Series, th: DriftThresholds) -> FeatureDrift:
    # One hashing pass per side gives both the category counts and the
    # missing count (an isna() pass over object values costs as much again).
    (rc, mr), (cc, mc) = ref, _counts_and_missing(cur)
    miss, sev_m, reasons = _missing_part(n_ref, len(cur), mr, mc, th)
    out: dict[str, Any] = {**miss, "n_ref": int(rc.sum()), "n_cur": int(cc.sum())}
    sevs = [sev_m]
    if len(rc) and len(cc):
        js = js_divergence(rc, cc)
        chi_p = chi_square(rc, cc)[1]
        # PSI is reported for categoricals too (same bins as the chi-square
        # test, same smoothing as numeric PSI); JS grades them, as before.
        out.update(js=js, chi2_pvalue=chi_p, psi=categorical_psi(rc, cc, PSI_EPS), psi_pvalue=chi_p)
        s_js = _grade(js, chi_p, th.js_alert / 2, th.js_alert, th.ks_pvalue)
        if s_js != "ok":
            reasons.append(f"JS {js:.3f} >= {th.js_alert if s_js == 'alert' else th.js_alert / 2:g} (p={chi_p:.2g})")
        sevs.append(s_js)
        new = cc[~cc.index.isin(rc.index)].sort_values(ascending=False)
        share = float(new.sum() / cc.sum())
        out.update(new_categories=tuple(str(v) for v in new.index[:_MAX_LISTED_CATEGORIES]), new_category_share=share)
        if len(new) and share >= NEW_CATEGORY_MIN_SHARE:
            shown = ", ".join(repr(str(v)) for v in new.index[:5])
            reasons.append(f"{len(new)} unseen value(s) ({shown}) cover {share:.1%} of rows")
            sevs.append("warn")
    elif len(rc) != len(cc):
        reasons.append("no non-missing values on one side")
    return FeatureDrift(feature=name, kind="categorical", severity=max_severity(*sevs), reasons=tuple(reasons), **out)


def _check_frame(df: Any, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError(f"{what} frame is empty (0 rows); drift needs at least one row on each side")
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise ValueError(f"{what} frame has duplicate column names: {dup}")
    return df


def _workers(n_jobs: int | None, tasks: int) -> int:
    return max(1, min(n_jobs or min(os.cpu_count() or 1, 8), tasks or 1))


def _map(fn: Any, tasks: list[Any], n_jobs: int | None) -> list[Any]:
    """``fn`` over ``tasks`` in order, on a thread pool (NumPy's sorts and
    searches release the GIL)."""
    workers = _workers(n_jobs, len(tasks))
    if workers == 1:
        return [fn(t) for t in tasks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as ex:
        return list(ex.map(fn, tasks))


def _tested_columns(
    schema: Mapping[Any, tuple[str, str]], categorical: Sequence[str] | None, columns: Sequence[str] | None, what: str
) -> tuple[list[Any], set[Any]]:
    """The columns whose statistics are computed, and the declared categoricals
    (both checked against the reference's columns)."""
    cols = list(schema) if columns is None else list(columns)
    unknown = [c for c in cols if c not in schema]
    if unknown:
        raise ValueError(f"columns {unknown} are not in the {what} (has {list(schema)})")
    cat = set(categorical or ())
    unknown = sorted(str(c) for c in cat if c not in schema)
    if unknown:
        raise ValueError(f"categorical columns {unknown} are not in the {what} (has {list(schema)})")
    return cols, cat


def _kind(column: Any, family: str, categorical: set[Any]) -> Literal["numeric", "categorical"]:
    return "categorical" if (column in categorical or family in ("string", "bool")) else "numeric"


# ------------------------------------------------------ prepared reference --

_PREPARED_FORMAT = "runway-prepared-reference/1"


@dataclass(frozen=True, eq=False)
class PreparedReference:
    """The reference side of ``drift_report``, computed once: per numeric
    column its sorted non-missing values and missing count, per categorical
    column its category counts and missing count, plus the frame's schema and
    row count. ``drift_report(prepared, current)`` returns exactly what
    ``drift_report(frame, current)`` returns, without sorting or counting the
    reference again (a monitoring job compares many windows with one
    reference).

    ``key`` names the exact reference it was built from (by default its
    content fingerprint, ``reference_fingerprint``); ``load_prepared_reference``
    refuses a file whose key is not the expected one, so a prepared reference
    cannot silently stand in for another reference. Build it with
    ``prepare_reference``.
    """

    key: str
    n_rows: int
    schema: Mapping[Any, tuple[str, str]]  # every reference column -> (dtype, dtype family)
    numeric: Mapping[Any, tuple[np.ndarray, int]]  # column -> (sorted non-missing values, missing count)
    categorical: Mapping[Any, tuple[pd.Series, int]]  # column -> (counts of present categories, missing count)
    columns: tuple[Any, ...] = ()  # the columns prepared for statistics (``drift_report``'s default ``columns``)


def reference_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and values (row order
    included, index ignored): a key that changes whenever the reference does."""
    import hashlib

    _check_frame(frame, "reference")
    h = hashlib.sha256(repr([(str(c), str(dt)) for c, dt in frame.dtypes.items()]).encode())
    h.update(str(len(frame)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


def prepare_reference(
    reference: pd.DataFrame,
    categorical: Sequence[str] | None = None,
    *,
    columns: Sequence[str] | None = None,
    key: str | None = None,
    n_jobs: int | None = None,
) -> PreparedReference:
    """The reference side of ``drift_report(reference, ...)`` with the same
    ``categorical`` and ``columns``, for reuse over many current windows.

    ``key`` (default ``reference_fingerprint(reference)``) names what it was
    built from; pass a key the caller can recompute without the frame (e.g. the
    model version, the reference window and the sampling) when the prepared
    reference is stored and loaded later. Raises like ``drift_report`` on an
    empty frame, duplicate columns, unknown ``columns``/``categorical`` or a
    non-numeric value in a numeric column."""
    _check_frame(reference, "reference")
    schema = _schema_of({c: reference[c].dtype for c in reference.columns})
    cols, cat = _tested_columns(schema, categorical, columns, "reference frame")
    tasks = [(c, _kind(c, schema[c][1], cat)) for c in cols]
    tasks = [(c, k) for c, k in tasks if k == "categorical" or schema[c][1] == "numeric"]  # others are skipped by drift_report

    def run(task: tuple[Any, str]) -> Any:
        c, kind = task
        return _numeric_reference(str(c), reference[c]) if kind == "numeric" else _categorical_reference(reference[c])

    done = dict(zip((t[0] for t in tasks), _map(run, tasks, n_jobs), strict=True))
    kinds = dict(tasks)
    return PreparedReference(
        key=reference_fingerprint(reference) if key is None else str(key),
        n_rows=len(reference),
        schema=schema,
        numeric={c: v for c, v in done.items() if kinds[c] == "numeric"},
        categorical={c: v for c, v in done.items() if kinds[c] == "categorical"},
        columns=tuple(cols),
    )


def _json_category(v: Any) -> Any:
    if isinstance(v, (bool, str)) or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return v
    raise TypeError(f"category {v!r} ({type(v).__name__}) cannot be stored in a prepared reference file (str, bool, int and finite float can)")


_PREPARED_MAGIC = b"RUNWAY-PREPARED-REFERENCE\n"


def prepared_reference_to_bytes(prepared: PreparedReference) -> bytes:
    """A small binary file: a magic line, the length of a JSON header (key,
    schema, row count, category counts, numeric columns' sizes), the header,
    then every numeric column's sorted values as little-endian float64, one
    after another (``load_prepared_reference`` maps them read-only rather
    than reading them). No pickles. Column
    names must be text; categories may be text, bool, int or finite float."""
    import json

    names = [*prepared.schema, *prepared.columns]
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise TypeError(f"prepared reference columns must be named by text to be stored, got {bad[:5]}")
    meta = {
        "format": _PREPARED_FORMAT,
        "key": prepared.key,
        "n_rows": prepared.n_rows,
        "schema": [[c, dt, fam] for c, (dt, fam) in prepared.schema.items()],
        "columns": list(prepared.columns),
        "numeric": [[c, int(values.size), missing] for c, (values, missing) in prepared.numeric.items()],
        "categorical": [
            [c, [_json_category(v) for v in counts.index], counts.to_numpy(dtype=np.int64).tolist(), missing]
            for c, (counts, missing) in prepared.categorical.items()
        ],
    }
    header = json.dumps(meta).encode()
    header += b" " * (-(len(_PREPARED_MAGIC) + 8 + len(header)) % 64)  # values start 64-byte aligned
    parts = [_PREPARED_MAGIC, len(header).to_bytes(8, "little"), header]
    parts += [np.ascontiguousarray(values, dtype="<f8").tobytes() for values, _ in prepared.numeric.values()]
    return b"".join(parts)


def _read_prepared(fh: Any, key: str, size: int, mapped: bool) -> PreparedReference:
    """Read from ``fh`` (``size`` bytes in all); ``mapped``: map the values
    from ``fh``'s file, else they are in its buffer (``io.BytesIO``)."""
    import json

    if fh.read(len(_PREPARED_MAGIC)) != _PREPARED_MAGIC:
        raise ValueError("not a prepared reference (no Runway prepared-reference header)")
    try:
        meta = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        if meta.get("format") != _PREPARED_FORMAT:
            raise ValueError(f"unknown prepared-reference format {meta.get('format')!r} (this Runway reads {_PREPARED_FORMAT!r})")
        if meta["key"] != key:
            raise ValueError(f"prepared reference was built from {meta['key']!r}, not the expected {key!r}: prepare it again for this reference")
        sizes = [int(n) for _, n, _ in meta["numeric"]]
        offset, nbytes = fh.tell(), 8 * sum(sizes)
        have = size - offset
        if have != nbytes:
            raise ValueError(f"prepared reference has {have} bytes of values where its header says {nbytes}")
        if not nbytes:
            values = np.empty(0, dtype="<f8")
        elif mapped:
            # Mapped, not read: the pages are the page cache's (no copy, no
            # fresh memory to fault in); read-only, as drift only reads them.
            import mmap

            values = np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), dtype="<f8", count=nbytes // 8, offset=offset)
        else:
            values = np.frombuffer(fh.getbuffer(), dtype="<f8", offset=offset)
        bounds = np.cumsum([0, *sizes])
        numeric = {c: (values[bounds[i] : bounds[i + 1]], int(missing)) for i, (c, _, missing) in enumerate(meta["numeric"])}
        categorical = {c: (pd.Series(np.asarray(n, dtype=np.int64), index=pd.Index(v, dtype=object)), int(m)) for c, v, n, m in meta["categorical"]}
        schema = {c: (dt, fam) for c, dt, fam in meta["schema"]}
        return PreparedReference(meta["key"], int(meta["n_rows"]), schema, numeric, categorical, tuple(meta["columns"]))
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a prepared reference: {type(exc).__name__}: {exc}") from exc


def prepared_reference_from_bytes(data: bytes | bytearray | memoryview, key: str) -> PreparedReference:
    """Read ``prepared_reference_to_bytes`` output; raises ValueError unless
    it was prepared under ``key``."""
    import io

    buf = bytes(data)
    return _read_prepared(io.BytesIO(buf), key, len(buf), mapped=False)


def save_prepared_reference(prepared: PreparedReference, path: str | os.PathLike[str]) -> Any:
    """Atomically write the prepared reference to ``path`` (returns the path)."""
    from runway.data.io import atomic_write_bytes

    return atomic_write_bytes(path, prepared_reference_to_bytes(prepared))


def load_prepared_reference(path: str | os.PathLike[str], key: str) -> PreparedReference:
    """The prepared reference stored at ``path``; ValueError (naming the file)
    unless it was prepared under ``key``."""
    try:
        with open(path, "rb") as fh:
            return _read_prepared(fh, key, os.fstat(fh.fileno()).st_size, mapped=True)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


# ---------------------------------------------------------------- drift --


def drift_report(
    reference: pd.DataFrame | PreparedReference,
    current: pd.DataFrame,
    thresholds: DriftThresholds | None = None,
    categorical: Sequence[str] | None = None,
    *,
    columns: Sequence[str] | None = None,
    ks_statistic: float | None = None,
    n_jobs: int | None = None,
) -> DriftResult:
    """Per-feature drift of ``current`` against ``reference``.

    Args:
        reference, current: one row per observation; only ``columns`` (default:
            every reference column) are compared. ``reference`` may be a
            ``PreparedReference`` (``prepare_reference``): the same result,
            without sorting and counting the reference again.
        thresholds: ``DriftThresholds``; severities follow the module docstring.
        categorical: columns compared as categories (JS, chi-square). Columns of
            object/string/category/bool dtype are categorical anyway; use this
            for integer codes such as an entity id.
        columns: compute drift statistics for these reference columns only
            (default all; for a prepared reference, the columns it prepared).
            Schema changes always cover every column of both frames.
        ks_statistic: KS effect size that alerts (warns at half); default
            ``thresholds.ks_statistic`` if that field exists, else 0.1.
        n_jobs: threads (default: CPU count, at most 8).

    A column missing from ``current`` or retyped across families is reported
    (schema change + feature row at ``alert``), not raised: it is exactly what
    monitoring is for. Datetime/timedelta columns are listed in ``skipped``.

    Raises ValueError naming the frame/column on an empty frame, duplicate
    column names, or ``categorical``/``columns`` naming an unknown column (for
    a prepared reference also a column it did not prepare, or prepared as the
    other kind).
    """
    prepared = reference if isinstance(reference, PreparedReference) else None
    if prepared is None:
        frame = _check_frame(reference, "reference")
        schema = _schema_of({c: frame[c].dtype for c in frame.columns})
        n_reference = len(frame)
    else:
        schema, n_reference = dict(prepared.schema), prepared.n_rows
    _check_frame(current, "current")
    th = thresholds if thresholds is not None else DriftThresholds()
    ks_thr = float(ks_statistic if ks_statistic is not None else getattr(th, "ks_statistic", DEFAULT_KS_STATISTIC))
    if not 0 < ks_thr <= 1:
        raise ValueError(f"ks_statistic must be in (0, 1], got {ks_thr}")
    what = "reference frame" if prepared is None else "prepared reference"
    cols, cat = _tested_columns(schema, categorical, prepared.columns if prepared is not None and columns is None else columns, what)

    # Schema is compared on every column of either frame, so a renamed or
    # retyped input shows up even when it is not one of ``columns``.
    changes = _schema_changes(schema, {c: current[c].dtype for c in current.columns})
    by_col = {s.column: s for s in changes}

    tasks: list[tuple[Any, str]] = []  # (column, kind)
    skipped: list[str] = []
    rows: dict[Any, FeatureDrift] = {}
    for c in cols:
        rdt, fam = schema[c]
        kind = _kind(c, fam, cat)
        if kind == "numeric" and fam != "numeric":
            skipped.append(f"{c}: dtype {rdt} is not compared (convert datetimes to numeric features first)")
            continue
        if prepared is not None and c not in (prepared.numeric if kind == "numeric" else prepared.categorical):
            raise ValueError(f"column '{c}' was not prepared as {kind} in the prepared reference (prepare_reference with the same columns and categorical)")
        change = by_col.get(str(c))
        if change is not None and change.change == "missing":
            rows[c] = FeatureDrift(str(c), kind, "alert", (change.describe(),))
            continue
        if change is not None and change.severity == "alert" and not (kind == "categorical" and _is_categorical_dtype(current[c].dtype)):
            # e.g. a number arrived as strings: comparing values would be meaningless.
            rows[c] = FeatureDrift(str(c), kind, "alert", (change.describe(),))
            continue
        tasks.append((c, kind))

    def run(task: tuple[Any, str]) -> FeatureDrift:
        c, kind = task
        if kind == "numeric":
            ref_num = prepared.numeric[c] if prepared is not None else _numeric_reference(str(c), frame[c])
            return _numeric_feature(str(c), n_reference, ref_num, current[c], th, ks_thr)
        ref_cat = prepared.categorical[c] if prepared is not None else _categorical_reference(frame[c])
        return _categorical_feature(str(c), n_reference, ref_cat, current[c], th)

    results = _map(run, tasks, n_jobs)
    rows.update({t[0]: r for t, r in zip(tasks, results, strict=False)})
    features = tuple(rows[c] for c in cols if c in rows)
    overall = max_severity(*(f.severity for f in features), *(s.severity for s in changes))
    th_dict = {k: float(v) for k, v in th.model_dump().items()} | {"ks_statistic": ks_thr}
    return DriftResult(features, tuple(changes), overall, n_reference, len(current), th_dict, tuple(skipped), psi_method(th.psi_bins, PSI_EPS))
