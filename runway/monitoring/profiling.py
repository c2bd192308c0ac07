"""whylogs profiles: build them chunk by chunk, store them, summarise and
compare them.

A profile is a mergeable set of sketches per column (counts, nulls, types,
mean/stddev, KLL quantiles, HyperLogLog cardinality, frequent items). It is
what Runway keeps as the audit record of a window. Drift *decisions* do not use
profiles: ``runway.monitoring.drift`` works on raw values (exact PSI/KS); the comparison
here is for the dashboard.

Notes on whylogs 1.6.4 (the pinned version) with numpy 2:

* ``why.log`` crashes on datetime64 and pandas ``string`` columns
  (``np.unicode_`` was removed in numpy 2). ``profile_frame`` converts
  datetimes to float seconds since the epoch (UTC) and ``string`` to
  ``object`` first.
* Its default pandas path runs a Python lambda per value for float, bool and
  object columns (~1 s per million floats). For chunk columns where that work
  is provably redundant -- floats that are all finite, bools, objects that are
  all ``str`` without nulls -- we declare the column homogeneous through
  whylogs' own schema API (``ColumnProperties.homogeneous``), which skips the
  per-value checks. Counts, types, mean, stddev, min/max, cardinality and
  frequent items come out identical (see tests); quantiles are KLL estimates
  either way.
* A float column with missing values (NaN) but no infinities is the common
  case the homogeneous path cannot take (it would feed NaN to the sketches),
  and whylogs' default path then runs ``np.isinf`` per value (~1.7 s per
  million rows on a 2-core machine). ``profile_frame`` profiles such a column
  as two mergeable parts instead: its present values, homogeneous, and its
  NaNs alone through the default path (only the missing rows get the
  per-value work). Counts (n, null, nan, inf), types, min/max, mean and
  stddev are the same as one default-path profile (tested).
* Text columns that repeat their values (categoricals: regions, stores,
  weekdays) are profiled from their value counts: one pandas hashing pass,
  then the column's own whylogs metrics filled per distinct value (n and
  types/string from the total, the HyperLogLog sketch from the distinct
  values, which it cannot tell from repeats, the frequent-items sketch with
  the counts as weights). whylogs' string path slices every value in Python
  and hashes it into both sketches (~0.2 s per million values). A text
  column with nulls (None/NaN among strings) takes the same path for its
  present values, and its nulls alone go through whylogs' default path
  (which counts them as null and, for NaN, nan), instead of six per-value
  type checks over every row. Counts, types, cardinality and frequent items
  come out identical (tested).
* whylogs sends anonymous usage statistics unless ``WHYLOGS_NO_ANALYTICS`` is
  set; importing this module sets it (pipelines should not phone home).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")  # read by whylogs at import

import numpy as np
import pandas as pd
import whylogs  # noqa: F401 - imported after WHYLOGS_NO_ANALYTICS is set
from whylogs.core import DatasetProfile, DatasetProfileView, DatasetSchema
from whylogs.core.preprocessing import ColumnProperties
from whylogs.core.schema import ColumnSchema
from whylogs.core.view.column_profile_view import ColumnProfileView

from runway.data.io import atomic_write_bytes

try:  # whylogs may have been imported before us; switch telemetry off anyway.
    import whylogs.api.usage_stats as _usage

    _usage._TELEMETRY_DISABLED = True  # noqa: SLF001 - whylogs has no public switch
except Exception:  # noqa: BLE001, S110 # pragma: no cover - private module moved; the env var still applies
    pass

DEFAULT_CHUNK_ROWS = 200_000
# A text chunk column with at most this share of distinct values is profiled
# from its value counts (see ``_text_counts``); an id-like column (mostly
# distinct) would cost more per distinct value than whylogs' own list path.
_MAX_DISTINCT_SHARE = 0.125
# The metrics ``_text_column_view`` knows how to fill from counts; a resolver
# asking for any other (e.g. unicode ranges) keeps whylogs' own path.
_COUNTED_METRICS = frozenset({"counts", "types", "cardinality", "frequent_items", "distribution"})
QUANTILES = ("q_01", "q_05", "q_10", "q_25", "median", "q_75", "q_90", "q_95", "q_99")


# ------------------------------------------------------------- building ---


def _homogeneous(s: pd.Series) -> bool:
    """True when whylogs' per-value checks cannot find anything: finite
    floats (no NaN/inf to count), numpy bools, or text without nulls."""
    dt = s.dtype
    if not isinstance(dt, np.dtype):  # category, nullable Int64...: default path
        return False
    if dt.kind == "f":
        return bool(np.isfinite(s.to_numpy()).all())
    if dt.kind == "b":
        return True
    return dt.kind == "O" and len(s) > 0 and pd.api.types.infer_dtype(s, skipna=False) == "string"


def _nan_mask(s: pd.Series) -> np.ndarray | None:
    """The NaN mask of a numpy float column holding NaN but no infinity, else
    None (such a column is profiled in two parts, see the module docstring)."""
    if not isinstance(s.dtype, np.dtype) or s.dtype.kind != "f":
        return None
    v = s.to_numpy()
    nan = np.isnan(v)
    if not nan.any() or np.isinf(v).any():
        return None
    return nan


def _track_chunk(profile: DatasetProfile, schema: DatasetSchema, chunk: pd.DataFrame, text_counts: dict[str, pd.Series]) -> None:
    """Track one chunk into ``profile`` (whose schema is ``schema``).

    The homogeneous declarations are per chunk (``schema.types`` is what
    whylogs reads on every ``track``), so they are swapped in before each
    call. A float column with NaN but no infinity is tracked as its NaNs
    alone (whylogs' default path counts them as null and nan) and then its
    present values (homogeneous), see the module docstring. A text column
    with few distinct values is not tracked here: its value counts are added
    to ``text_counts`` (see ``_text_counts``)."""
    prepared, types = _prepare_chunk(chunk)
    counted: dict[str, tuple[pd.Series, np.ndarray | None]] = {}
    if _countable_text(schema):
        text = [c for c, (dtype, _props) in types.items() if dtype.kind == "O"]
        counted = _text_counts(prepared, [*text, *(c for c in prepared.columns if c not in types and _text_with_nulls(prepared[c]))])
    for col, (vc, _nulls) in counted.items():
        text_counts[col] = vc if col not in text_counts else text_counts[col].add(vc, fill_value=0)
    split = {c: m for c in prepared.columns if c not in counted and (m := _nan_mask(prepared[c])) is not None}
    schema.types.clear()
    schema.types.update(types)
    skip = [*counted, *split]
    rest = prepared.drop(columns=skip) if skip else prepared
    if rest.shape[1]:
        profile.track(pandas=rest)
    for col, (_vc, nulls) in counted.items():
        if nulls is not None:  # the nulls alone, on whylogs' default path (it counts null and nan)
            profile.track(pandas=pd.DataFrame({col: prepared[col].to_numpy()[nulls]}))
    for col, nan in split.items():
        values = prepared[col].to_numpy()
        schema.types.pop(col, None)
        profile.track(pandas=pd.DataFrame({col: values[nan]}))
        present = values[~nan]
        if present.size:
            schema.types[col] = (present.dtype, ColumnProperties.homogeneous)
            profile.track(pandas=pd.DataFrame({col: present}))


def _text_with_nulls(s: pd.Series) -> bool:
    """An object column whose present values are all ``str`` (and which,
    not being homogeneous, holds nulls)."""
    return isinstance(s.dtype, np.dtype) and s.dtype.kind == "O" and len(s) > 0 and pd.api.types.infer_dtype(s, skipna=True) == "string"


def _text_counts(chunk: pd.DataFrame, columns: Iterable[str]) -> dict[str, tuple[pd.Series, np.ndarray | None]]:
    """For the chunk's text ``columns`` (present values all ``str``) that
    repeat their values: the counts of the present values and the mask of
    the nulls (None when there are none), by column.

    whylogs' string path runs a Python slice per value for frequent items and
    hashes every value into the cardinality sketch, ~0.2 s per million
    values (a column with nulls also gets six per-value type checks). From
    the counts, a column needs one hashing pass (pandas; ``dropna=False``
    spares it a separate null check) and one sketch update per distinct
    value: the frequent-items sketch takes a weight, and a HyperLogLog sketch
    ignores repeats. The nulls alone go through whylogs' default path."""
    out: dict[str, tuple[pd.Series, np.ndarray | None]] = {}
    for col in columns:
        vc = chunk[col].value_counts(sort=False, dropna=False)
        na = vc.index.isna()
        has_nulls = bool(na.any())
        present = vc[~na] if has_nulls else vc
        if len(present) <= _MAX_DISTINCT_SHARE * len(chunk):
            out[col] = (present, chunk[col].isna().to_numpy() if has_nulls else None)
    return out


def _text_schema(schema: DatasetSchema) -> ColumnSchema:
    """The column schema whylogs gives an object column of ``schema``."""
    return ColumnSchema(
        dtype=np.dtype(object), cfg=schema.default_configs, resolver=schema.resolvers, validators=schema.validators, type_mapper=schema.type_mapper
    )


def _countable_text(schema: DatasetSchema) -> bool:
    """Whether ``_text_column_view`` fills every metric the schema's resolver
    gives a text column (and no validator wants to see the values)."""
    return not schema.validators and set(_text_schema(schema).get_metrics("text")) <= _COUNTED_METRICS


def _text_column_view(schema: DatasetSchema, name: str, counts: pd.Series) -> ColumnProfileView:
    """The column profile whylogs would build from these text values, built
    from their counts through the column's own (resolver-chosen) metrics:
    n, types/string, the HyperLogLog of the distinct values, the
    frequent-items sketch with weights (values cut to whylogs' item size, as
    its own path does) and an empty distribution: every metric the resolver
    gives a text column (``_countable_text`` checked that before counting)."""
    metrics = _text_schema(schema).get_metrics(name)
    n = int(counts.sum())
    values = [str(v) for v in counts.index]
    weights = counts.to_numpy(dtype=np.int64).tolist()
    successes = 0
    if "counts" in metrics:
        metrics["counts"].n.set(n)
        successes += n
    if "types" in metrics:
        metrics["types"].string.set(n)
        successes += n
    if "cardinality" in metrics:
        metrics["cardinality"].hll.value.update_str_list(values)
        successes += n
    if "frequent_items" in metrics:
        fi = metrics["frequent_items"]
        size = fi.max_frequent_item_size
        sketch = fi.frequent_strings.value
        for v, w in zip(values, weights, strict=True):
            sketch.update(v[:size], w)
        successes += n
    return ColumnProfileView(metrics=metrics, success_count=successes)


def _prepare_chunk(chunk: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Work around whylogs/numpy-2 crashes and declare homogeneous columns."""
    # whylogs' homogeneous path reads series[0] by label: give every chunk a
    # fresh 0-based index (a shallow copy: reset_index would copy the data).
    chunk = chunk.copy(deep=False)
    chunk.index = pd.RangeIndex(len(chunk))
    converted: dict[str, Any] = {}
    types: dict[str, Any] = {}
    for col in chunk.columns:
        s = chunk[col]
        dt = s.dtype
        if pd.api.types.is_datetime64_any_dtype(dt):
            if getattr(dt, "tz", None) is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            ns = s.to_numpy(dtype="datetime64[ns]")
            secs = np.where(np.isnat(ns), np.nan, ns.astype("int64") / 1e9)
            s = converted[col] = pd.Series(secs, index=s.index, name=col)
            dt = s.dtype
        elif pd.api.types.is_timedelta64_dtype(dt):
            s = converted[col] = pd.Series(s.dt.total_seconds(), index=s.index, name=col)
            dt = s.dtype
        elif isinstance(dt, pd.StringDtype):
            s = converted[col] = s.astype(object)
            dt = s.dtype

        if _homogeneous(s):
            types[col] = (s.dtype, ColumnProperties.homogeneous)
    if converted:
        chunk = chunk.assign(**converted)
    return chunk, types


def _chunks(data: pd.DataFrame | Iterable[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    if isinstance(data, pd.DataFrame):
        for start in range(0, len(data), chunk_rows):
            yield data.iloc[start : start + chunk_rows]  # a view, not a copy
    else:
        for i, chunk in enumerate(data):
            if not isinstance(chunk, pd.DataFrame):
                raise TypeError(f"chunk {i} is a {type(chunk).__name__}, expected a pandas DataFrame")
            for start in range(0, len(chunk), chunk_rows):
                yield chunk.iloc[start : start + chunk_rows]


def profile_frame(data: pd.DataFrame | Iterable[pd.DataFrame], chunk_rows: int = DEFAULT_CHUNK_ROWS) -> DatasetProfileView:
    """Profile a frame (or an iterable of frames, e.g. parquet batches) in
    chunks of at most ``chunk_rows`` rows, tracked into one whylogs profile.

    Peak memory is one chunk's preprocessing, not the whole frame's. Counts,
    null counts, min/max, mean and stddev equal those of a single
    ``why.log(df)``; quantiles and cardinality are sketch estimates.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if isinstance(data, pd.DataFrame):
        if data.shape[1] == 0:
            raise ValueError("cannot profile a frame without columns")
        if len(data) == 0:
            raise ValueError(f"cannot profile an empty frame (0 rows; columns {list(data.columns)})")
        dup = data.columns[data.columns.duplicated()].tolist()
        if dup:
            raise ValueError(f"frame has duplicate column names: {dup}")
    # One whylogs profile tracks chunk after chunk: its column profiles (and
    # their metric objects, whose set-up whylogs deep-copies) are built once,
    # not once per chunk and merged. A chunk whose dtypes differ from the
    # profile's (a later parquet batch) starts a new profile, merged at the end.
    views: list[DatasetProfileView] = []
    profile: DatasetProfile | None = None
    schema = DatasetSchema()
    dtypes: pd.Series | None = None
    text_counts: dict[str, pd.Series] = {}
    order: dict[str, None] = {}  # columns in the order first seen
    for chunk in _chunks(data, chunk_rows):
        if len(chunk) == 0:
            continue
        order.update(dict.fromkeys(chunk.columns))
        if profile is None or dtypes is None or not chunk.dtypes.equals(dtypes):
            if profile is not None:
                views.append(profile.view())
            schema = DatasetSchema()
            profile, dtypes = DatasetProfile(schema=schema), chunk.dtypes
        _track_chunk(profile, schema, chunk, text_counts)
    if profile is None:
        raise ValueError("cannot profile: no rows in any chunk")
    views.append(profile.view())
    view = views[0]
    for part in views[1:]:
        view = view.merge(part)
    if len(views) == 1 and not text_counts:
        return view
    # whylogs merges columns in set order: put them back in the data's order,
    # with the columns profiled from their counts merged in.
    columns = {}
    for c in order:
        parts = [v for v in (view.get_column(c), _text_column_view(schema, c, text_counts[c]) if c in text_counts else None) if v is not None]
        columns[c] = parts[0] if len(parts) == 1 else parts[0].merge(parts[1])
    return DatasetProfileView(columns=columns, dataset_timestamp=view.dataset_timestamp, creation_timestamp=view.creation_timestamp, metadata=view.metadata)


def profile_parquet(path: str | os.PathLike[str], chunk_rows: int = DEFAULT_CHUNK_ROWS, columns: list[str] | None = None) -> DatasetProfileView:
    """Profile a parquet file batch by batch, never holding it all in memory."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    return profile_frame((b.to_pandas() for b in pf.iter_batches(batch_size=chunk_rows, columns=columns)), chunk_rows)


# ----------------------------------------------------------- persisting ---


def profile_to_bytes(view: DatasetProfileView) -> bytes:
    """whylogs' own binary format (``DatasetProfileView.serialize``)."""
    if not isinstance(view, DatasetProfileView):
        raise TypeError(f"expected a whylogs DatasetProfileView, got {type(view).__name__}")
    return view.serialize()


def profile_from_bytes(data: bytes) -> DatasetProfileView:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("cannot read a profile from 0 bytes")
    try:
        return DatasetProfileView.deserialize(bytes(data))
    except Exception as exc:  # whylogs raises DeserializationError, struct/protobuf errors...
        raise ValueError(f"not a whylogs profile ({len(data)} bytes): {exc}") from exc


def save_profile(view: DatasetProfileView, path: str | os.PathLike[str]) -> Path:
    """Atomically write the profile's bytes to ``path``."""
    return atomic_write_bytes(path, profile_to_bytes(view))


def load_profile(path: str | os.PathLike[str]) -> DatasetProfileView:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no profile at {p}")
    try:
        return profile_from_bytes(p.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc


# ------------------------------------------------------------- reading ---

SUMMARY_COLUMNS = ["count", "null_count", "null_fraction", "inferred_type", "mean", "stddev", "min", "max", *QUANTILES, "cardinality_est"]


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def profile_summary(view: DatasetProfileView) -> pd.DataFrame:
    """One row per column: count, null count/fraction, inferred type, mean,
    stddev, min, max, quantiles (KLL estimates), estimated cardinality.
    Distribution statistics are NaN for columns without numbers."""
    raw = view.to_pandas()
    out = pd.DataFrame(index=raw.index.copy(), columns=SUMMARY_COLUMNS)
    out.index.name = "column"

    def col(name: str) -> pd.Series:
        return raw[name].map(_num) if name in raw.columns else pd.Series(np.nan, index=raw.index)

    out["count"] = col("counts/n").fillna(0).astype("int64")
    out["null_count"] = col("counts/null").fillna(0).astype("int64")
    out["null_fraction"] = (out["null_count"] / out["count"].where(out["count"] > 0)).astype(float)
    has_numbers = col("distribution/n").fillna(0) > 0  # whylogs reports mean 0.0 for text
    for src, dst in [("mean", "mean"), ("stddev", "stddev"), ("min", "min"), ("max", "max"), *[(q, q) for q in QUANTILES]]:
        out[dst] = col(f"distribution/{src}").where(has_numbers)
    out["cardinality_est"] = col("cardinality/est")
    type_cols = [c for c in raw.columns if c.startswith("types/")]
    if type_cols:
        counts = raw[type_cols].apply(pd.to_numeric, errors="coerce").fillna(0)
        best = counts.idxmax(axis=1).str.removeprefix("types/")
        out["inferred_type"] = best.where(counts.max(axis=1) > 0, "null")
    else:
        out["inferred_type"] = "unknown"
    return out


def _kll(view: DatasetProfileView, column: str) -> Any | None:
    cv = view.get_column(column)
    metric = cv.get_metric("distribution") if cv is not None else None
    if metric is None or metric.kll.value.get_n() == 0:
        return None
    return metric.kll.value


def sketch_ks(reference_view: DatasetProfileView, current_view: DatasetProfileView, column: str, points: int = 200) -> float:
    """Approximate KS statistic from the two KLL sketches: max CDF gap over
    the union of both sketches' quantiles. Error is about the sketch's rank
    error (~1-2 %); NaN when a side has no numbers."""
    a, b = _kll(reference_view, column), _kll(current_view, column)
    if a is None or b is None:
        return float("nan")
    qs = np.linspace(0, 1, points + 1)
    split = np.unique(np.concatenate([a.get_quantiles(qs), b.get_quantiles(qs)]))
    split = split[np.isfinite(split)]
    if split.size == 0:
        return float("nan")
    ca = np.asarray(a.get_cdf(split.tolist()))[:-1]  # the last entry is P(x <= +inf) = 1
    cb = np.asarray(b.get_cdf(split.tolist()))[:-1]
    return float(np.max(np.abs(ca - cb)))


COMPARE_COLUMNS = [
    "column",
    "status",
    "count_ref",
    "count_cur",
    "null_fraction_ref",
    "null_fraction_cur",
    "null_fraction_change",
    "mean_ref",
    "mean_cur",
    "mean_shift_sd",
    "stddev_ref",
    "stddev_cur",
    "stddev_ratio",
    "median_ref",
    "median_cur",
    "sketch_ks",
    "cardinality_ref",
    "cardinality_cur",
    "type_ref",
    "type_cur",
]


def compare_profiles(reference_view: DatasetProfileView, current_view: DatasetProfileView) -> pd.DataFrame:
    """What the two profiles alone can tell, one row per column (union):
    status (``both``/``missing``/``new``), counts, null fraction and its change,
    mean/stddev/median, mean shift in reference standard deviations, stddev
    ratio, an approximate KS from the sketches, cardinality and inferred type.
    For the dashboard; drift severities come from ``runway.monitoring.drift``."""
    ref, cur = profile_summary(reference_view), profile_summary(current_view)
    rows = []
    for column in list(dict.fromkeys([*ref.index, *cur.index])):
        in_r, in_c = column in ref.index, column in cur.index
        r = ref.loc[column] if in_r else pd.Series(dtype=object)
        c = cur.loc[column] if in_c else pd.Series(dtype=object)

        def g(s, k):
            return _num(s.get(k)) if len(s) else float("nan")

        sd_r = g(r, "stddev")
        row = {
            "column": column,
            "status": "both" if in_r and in_c else ("missing" if in_r else "new"),
            "count_ref": g(r, "count"),
            "count_cur": g(c, "count"),
            "null_fraction_ref": g(r, "null_fraction"),
            "null_fraction_cur": g(c, "null_fraction"),
            "mean_ref": g(r, "mean"),
            "mean_cur": g(c, "mean"),
            "stddev_ref": sd_r,
            "stddev_cur": g(c, "stddev"),
            "median_ref": g(r, "median"),
            "median_cur": g(c, "median"),
            "cardinality_ref": g(r, "cardinality_est"),
            "cardinality_cur": g(c, "cardinality_est"),
            "type_ref": r.get("inferred_type") if in_r else None,
            "type_cur": c.get("inferred_type") if in_c else None,
        }
        row["null_fraction_change"] = row["null_fraction_cur"] - row["null_fraction_ref"]
        # A constant reference column has sd 0: a shift there has no scale.
        row["mean_shift_sd"] = (row["mean_cur"] - row["mean_ref"]) / sd_r if sd_r and np.isfinite(sd_r) else float("nan")
        row["stddev_ratio"] = row["stddev_cur"] / sd_r if sd_r and np.isfinite(sd_r) else float("nan")
        row["sketch_ks"] = sketch_ks(reference_view, current_view, column) if in_r and in_c else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)
