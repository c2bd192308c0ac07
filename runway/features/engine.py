"""Feature computation from the use case's declarations: pure pandas/numpy, no Feast.

``compute_feature_tables`` turns raw rows (one row per ``contract.keys``,
e.g. store x item x day) into one source table per declared feature view
(``features.views``); ``write_feature_tables`` writes them atomically where
the FileSources of ``runway.features.definitions`` read. No column of any use
case is named here: keys, columns and features all come from the settings,
feature names from ``runway.features.naming``.

A table holds the view's join keys (none for a view without entities: keyed
by date only), ``event_timestamp``, ``created_timestamp`` and the view's
features in ``naming.feature_names(view)`` order, ``serve: false`` ones
included (stored, not served). Dtypes follow ``naming.feature_dtypes``.

Leak-free stamping (the one rule that matters)
----------------------------------------------
Every row carries an ``event_timestamp``: the first *target date* it may
serve. Feast's point-in-time join picks, for an entity row at target date
``T``, the latest feature row with ``event_timestamp <= T``.

* ``known: lagged`` views (derived from labels, e.g. past sales) stamped
  ``t`` only use values of dates ``<= t - horizon_days``
  (``features.horizon_days``: for retail_demand 14, a 7-day batch plus the
  label delay rounded up to whole weeks). A lag of ``k`` days therefore
  needs ``k >= horizon_days`` (checked), a window of ``w`` days covers
  ``[t - horizon - w + 1, t - horizon]``, a ``value`` is the value of
  ``t - horizon``. Predicting any day up to ``horizon_days`` ahead of the
  last known label thus never reads a label inside the horizon, and a
  training row for day ``T`` sees exactly what a prediction made
  ``horizon_days`` before ``T`` would have seen. Rows are emitted on a
  complete daily grid per entity from its first day + horizon up to (last
  date with any label) + horizon, so the target dates of the next
  ``horizon_days`` always have a row.
* ``known: ahead`` views (plans, prices, snapshots, the calendar) are stamped
  at the day they apply: a row stamped ``t`` holds the value of ``t``; lags
  read ``t - k``; rolling statistics and a ratio's mean use the ``w`` days
  strictly before ``t``. A keyed view emits rows at the source dates only
  (dates where one of its columns has a value); a view without entities
  emits every date from the first to the last date of the rows (the
  calendar is known for each of them; a bool value of a date without rows
  is False).

``created_timestamp`` (the computation time) breaks ties between two rows of
the same entity and ``event_timestamp``: a recomputation supersedes.

Transforms
----------
``value``, ``lag`` (``days``), ``rolling`` (``stats`` mean/std/sum/count/
min/max over ``days``), ``ratio_to_mean`` (value / mean of the ``w`` days
strictly before; NaN when that mean is 0 or unknown), ``calendar``
(``day_of_week`` 0 = Monday, ISO ``week_of_year``, ``month``,
``day_of_year_sin``/``_cos`` of the stamped date), ``days_to_next``
(days until the next date where the column is true, 0 on it, NaN when none
is known; ``known: ahead`` only) and ``one_hot`` (1.0/0.0 per declared
category, NaN where the value is null).

Rolling statistics skip missing values and need ``min_periods`` observed
days (default ``max(2, ceil(w / 2))`` for lagged views, 1 for ahead ones),
else NaN. ``std`` is the sample standard deviation (ddof = 1). Missing days
in the input are missing days on the grid (NaN), not zeros.

Coarser views
-------------
When a view's join keys are fewer than the rows' keys (a store view over
store x item rows, a view without entities), the rows of one (view keys,
date) are combined: ``value``, ``lag``, a ratio's numerator, ``days_to_next``
and ``one_hot`` flags use the spec's ``aggregate`` (first non-null, max,
min, mean, sum); rolling statistics and a ratio's mean pool all observed
rows of the window (mean = sum / count of observed rows, e.g. mean units
per observed item-day of a store), ``min_periods`` counting days with at
least one observation.

Speed: one flat numpy grid per view (every series padded with NaN days
longer than any look-back), so plain ``shift``/``rolling`` never cross from
one series into the next; no groupby-apply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.config.schema import FeatureViewConfig
from runway.data.io import write_parquet_atomic
from runway.features.naming import expand, feature_dtypes, feature_names, is_coarse, row_grain, view_join_keys

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"

_DAY = "__runway_day__"
_NS_PER_DAY = 86_400 * 10**9
_NUMERIC_TRANSFORMS = ("lag", "rolling", "ratio_to_mean", "days_to_next")


class FeatureInputError(ValueError):
    """The rows cannot be turned into feature tables."""


# ----------------------------------------------------------------- naming --


def min_periods(window: int, known: str = "lagged") -> int:
    """Default observed days a rolling statistic needs."""
    return max(2, -(-window // 2)) if known == "lagged" else 1


def feature_columns(settings: Settings) -> dict[str, list[str]]:
    """Feature columns of each table (no keys, no timestamps), in order."""
    return {v.name: feature_names(v) for v in settings.features.views}


def table_columns(settings: Settings) -> dict[str, list[str]]:
    """All columns of each table, in order: keys, timestamps, features."""
    return {v.name: [*view_join_keys(settings, v), EVENT_TIMESTAMP, CREATED_TIMESTAMP, *feature_names(v)] for v in settings.features.views}


def required_columns(settings: Settings) -> list[str]:
    """Columns the rows must have: the contract's keys, every column a
    feature reads, and the target when a view is ``known: lagged``."""
    cols = list(settings.contract.keys)
    for v in settings.features.views:
        cols += [spec.column for spec in v.features if spec.column]
    if any(v.known == "lagged" for v in settings.features.views):
        cols.append(settings.target)
    return list(dict.fromkeys(cols))


# ---------------------------------------------------------------- helpers --


def _to_days(ts: pd.Series) -> np.ndarray:
    """UTC midnight timestamps -> integer days since the epoch."""
    return ts.to_numpy(dtype="datetime64[ns]").astype("int64") // _NS_PER_DAY


def _from_days(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex((np.asarray(days, dtype="int64") * _NS_PER_DAY).astype("datetime64[ns]")).tz_localize("UTC")


def _as_float(s: pd.Series, name: str, dtype: str) -> pd.Series:
    try:
        if dtype == "bool":
            if pd.api.types.is_bool_dtype(s) and not isinstance(s.dtype, pd.BooleanDtype):
                return s.astype("float64")
            # nullable booleans stay NaN where unknown, 1.0/0.0 otherwise
            return pd.Series(s.astype("boolean").astype("Float64").to_numpy(dtype="float64", na_value=np.nan), index=s.index)
        return pd.to_numeric(s, errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise FeatureInputError(f"column '{name}' is declared {dtype} but holds values that are not: {exc}") from None


def _as_string(s: pd.Series) -> pd.Series:
    out = s.astype(object)
    return out.where(out.notna(), None).map(lambda v: v if v is None else str(v))


class _Rows:
    """The rows, validated and converted, sorted by the contract's keys then
    day: ``cols`` holds one numpy array per column (floats for numbers and
    bools, NaN where unknown; objects for strings), ``day`` integer days."""

    def __init__(self, rows: pd.DataFrame, settings: Settings):
        contract = settings.contract
        needed = required_columns(settings)
        missing = [c for c in needed if c not in rows.columns]
        if missing:
            raise FeatureInputError(f"rows lack column(s) {missing} (needed by the feature views of '{settings.use_case}'); has {list(rows.columns)}")
        if rows.empty:
            raise FeatureInputError("rows frame is empty")
        for col in contract.keys:
            n_null = int(rows[col].isna().sum())
            if n_null:
                raise FeatureInputError(f"key column '{col}' has {n_null} null value(s)")
        ts = contract.timestamp
        try:
            dates = pd.to_datetime(rows[ts])
        except (TypeError, ValueError) as exc:
            raise FeatureInputError(f"timestamp column '{ts}' is not a date: {exc}") from None
        dates = dates.dt.tz_localize("UTC") if dates.dt.tz is None else dates.dt.tz_convert("UTC")
        day = _to_days(dates.dt.floor("D"))

        self.grain = row_grain(settings)
        codes: dict[str, np.ndarray] = {}
        self.uniques: dict[str, np.ndarray] = {}
        for col in self.grain:
            dtype = contract.columns[col].dtype
            try:
                values = rows[col].astype("int64") if dtype == "int" else rows[col].astype(str) if dtype == "string" else rows[col]
            except (TypeError, ValueError) as exc:
                raise FeatureInputError(f"key column '{col}' is declared {dtype}: {exc}") from None
            c, uniques = pd.factorize(values, sort=True)
            codes[col], self.uniques[col] = c.astype("int64"), np.asarray(uniques)
        order = np.lexsort((day, *(codes[c] for c in reversed(self.grain))))
        self.day = day[order]
        self.codes = {c: v[order] for c, v in codes.items()}
        self.n = len(order)
        same = self.day[1:] == self.day[:-1]
        for c in self.grain:
            same &= self.codes[c][1:] == self.codes[c][:-1]
        if same.any():
            i = int(np.flatnonzero(same)[0]) + 1
            first = [*(self.uniques[c][self.codes[c][i]] for c in self.grain), _from_days(self.day[i : i + 1])[0]]
            raise FeatureInputError(f"{int(same.sum())} duplicate ({', '.join(contract.keys)}) row(s), e.g. {first}")

        self.kinds: dict[str, str] = {}
        self.cols: dict[str, np.ndarray] = {}
        for col in needed:
            if col in contract.keys:
                continue
            dtype = contract.columns[col].dtype
            if dtype in ("float", "int", "bool"):
                self.cols[col] = _as_float(rows[col], col, dtype).to_numpy()[order]
                self.kinds[col] = "bool" if dtype == "bool" else "number"
            elif dtype == "string":
                self.cols[col] = _as_string(rows[col]).to_numpy()[order]
                self.kinds[col] = "string"
            else:
                self.kinds[col] = dtype

    def series(self, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Dense series ids (in sorted key order) and each series' key values."""
        if not keys:
            return np.zeros(self.n, dtype="int64"), {}
        if len(keys) == 1:  # factorize codes are dense and sorted already
            sid = self.codes[keys[0]]
            return sid, {keys[0]: self.uniques[keys[0]]}
        combined = self.codes[keys[0]]
        for k in keys[1:]:
            combined = combined * len(self.uniques[k]) + self.codes[k]
            _, combined = np.unique(combined, return_inverse=True)
            combined = combined.astype("int64")
        _, sid = np.unique(combined, return_inverse=True)
        sid = sid.astype("int64").reshape(-1)
        first_row = np.empty(int(sid.max()) + 1, dtype="int64")
        first_row[sid[::-1]] = np.arange(self.n)[::-1]
        return sid, {k: self.uniques[k][self.codes[k][first_row]] for k in keys}


class _Grid:
    """A complete daily grid per series, flattened and sorted by series then day.

    Each series starts ``pad`` days before its first row, and ``pad`` is at
    least the longest look-back of any statistic, so plain (ungrouped)
    ``shift``/``rolling`` on the flat arrays never reach into the previous
    series: the padding days are NaN, like any day without data.
    """

    def __init__(self, sid: np.ndarray, day: np.ndarray, n_series: int, pad: int, end: np.ndarray | int):
        first = np.full(n_series, np.iinfo(np.int64).max, dtype="int64")
        np.minimum.at(first, sid, day)
        has_rows = first != np.iinfo(np.int64).max
        first = np.where(has_rows, first, 0)  # series without rows get no grid
        self.first = first
        start = first - pad
        end_arr = np.where(has_rows, np.broadcast_to(np.asarray(end, dtype="int64"), (n_series,)), start - 1)
        n = np.clip(end_arr - start + 1, 0, None)
        base = np.cumsum(n) - n
        self.size = int(n.sum())
        self.sid = np.repeat(np.arange(n_series), n)
        self.day = np.repeat(start, n) + (np.arange(self.size) - np.repeat(base, n))
        self.inside = day <= end_arr[sid]
        self.pos = (base[sid] + day - start[sid])[self.inside]

    def scatter(self, values: np.ndarray) -> np.ndarray:
        if values.dtype == object:
            out = np.full(self.size, None, dtype=object)
        else:
            out = np.full(self.size, np.nan)
            values = np.asarray(values, dtype="float64")
        out[self.pos] = values[self.inside]
        return out


def _rolling(x: np.ndarray, w: int, minp: int) -> pd.core.window.Rolling:
    return pd.Series(x).rolling(w, min_periods=minp)


def _count(x: np.ndarray, w: int, minp: int) -> np.ndarray:
    cnt = _rolling(np.isfinite(x).astype("float64"), w, 1).sum().to_numpy()
    return np.where(cnt >= minp, cnt, np.nan)


# ------------------------------------------------------------- one view --


class _View:
    """Computes one feature view's table."""

    def __init__(self, view: FeatureViewConfig, settings: Settings, rows: _Rows, horizon: int, last_label: int | None):
        self.view, self.settings, self.rows = view, settings, rows
        self.keys = view_join_keys(settings, view)
        self.coarse = is_coarse(settings, view)
        self.lagged = view.known == "lagged"
        self.horizon = horizon if self.lagged else 0
        self.last_label = last_label
        self._check()
        self._cache: dict[tuple, np.ndarray] = {}

    # -- declarations -----------------------------------------------------
    def _check(self) -> None:
        v, rows = self.view, self.rows
        for i, spec in enumerate(v.features):
            where = f"features.views.{v.name}.features[{i}] ({spec.transform} of '{spec.column}')"
            kind = rows.kinds.get(spec.column) if spec.column else None
            if spec.transform in _NUMERIC_TRANSFORMS and kind not in ("number", "bool"):
                raise FeatureInputError(f"{where}: column '{spec.column}' is {kind}; {spec.transform} needs numbers or bools")
            if spec.transform in ("value", "one_hot") and kind == "datetime":
                raise FeatureInputError(f"{where}: column '{spec.column}' is a datetime; {spec.transform} is not defined for it")
            if spec.transform == "value" and kind == "string" and self.coarse and spec.aggregate in ("mean", "sum"):
                raise FeatureInputError(f"{where}: column '{spec.column}' is a string; aggregate '{spec.aggregate}' needs numbers")
            if spec.transform == "days_to_next" and self.lagged:
                raise FeatureInputError(f"{where}: days_to_next looks ahead; it needs a 'known: ahead' view")
            if self.lagged and spec.transform == "lag":
                short = [d for d in spec.days if d < self.horizon]
                if short:
                    raise FeatureInputError(
                        f"features.views.{v.name}: lag(s) {short} of '{spec.column}' are shorter than the forecast horizon "
                        f"({self.horizon} days): those values are not known when the prediction is made"
                    )

    def _minp(self, spec, w: int) -> int:
        return spec.min_periods if spec.min_periods is not None else min_periods(w, self.view.known)

    def _pad(self) -> int:
        pad = [self.horizon, 1]
        for spec in self.view.features:
            if spec.transform == "lag":
                pad += spec.days
            elif spec.transform in ("rolling", "ratio_to_mean"):
                pad += [self.horizon + d + (0 if self.lagged else 1) for d in spec.days]
        return max(pad)

    def _agg(self, spec) -> str:
        return spec.aggregate if self.coarse else "first"

    # -- daily rows per (series, day) -------------------------------------
    def _needs(self) -> dict[tuple, tuple[str, str]]:
        """(array key) -> (column, aggregation) of every daily array the features read."""
        needs: dict[tuple, tuple[str, str]] = {}
        for spec in self.view.features:
            c, t = spec.column, spec.transform
            if c is None:  # calendar parts read only the date
                continue
            if t in ("value", "lag", "days_to_next", "ratio_to_mean"):
                needs[("v", c, self._agg(spec))] = (c, self._agg(spec))
            if t in ("rolling", "ratio_to_mean"):
                if not self.coarse:
                    needs[("v", c, "first")] = (c, "first")
                else:
                    stats = spec.stats if t == "rolling" else ["mean"]
                    parts = {"mean": ("s", "n"), "sum": ("s",), "count": ("n",), "std": ("s", "n", "q"), "min": ("mn",), "max": ("mx",)}
                    for st in stats:
                        for p in parts[st]:
                            needs[(p, c)] = (c, {"s": "sum", "n": "count", "q": "sumsq", "mn": "min", "mx": "max"}[p])
            if t == "one_hot":
                for cat in spec.categories:
                    needs[("oh", c, cat, self._agg(spec))] = (c, self._agg(spec))
        return needs

    def _daily(self):
        rows = self.rows
        sid, key_values = rows.series(self.keys)
        # rows are sorted by the grain's keys, then day: a view on them needs no sort
        order = np.arange(rows.n) if self.keys == rows.grain else np.lexsort((rows.day, sid))
        sid, day = sid[order], rows.day[order]
        columns = list(dict.fromkeys(spec.column for spec in self.view.features if spec.column))
        present = np.zeros(rows.n, dtype=bool)
        for c in columns:
            present |= pd.notna(rows.cols[c])
        raw: dict[tuple, np.ndarray] = {}
        needs = self._needs()
        for key, (c, _how) in needs.items():
            values = rows.cols[c][order]
            if key[0] == "oh":
                cat = key[2]
                notnull = pd.notna(values)
                values = np.where(notnull, np.array([str(v) == cat for v in values]) if rows.kinds[c] != "string" else values == cat, False).astype("float64")
                values[~notnull] = np.nan
            elif key[0] == "q":
                values = values * values
            raw[key] = values
        present = present[order]
        if not self.coarse:
            return sid, day, raw, present, key_values
        change = np.ones(rows.n, dtype=bool)
        change[1:] = (sid[1:] != sid[:-1]) | (day[1:] != day[:-1])
        gid = np.cumsum(change) - 1
        daily: dict[tuple, np.ndarray] = {}
        for key, values in raw.items():
            how = needs[key][1]
            how = "sum" if how == "sumsq" else how
            g = pd.Series(values).groupby(gid, sort=True)
            if how == "sum":
                out = g.sum(min_count=1)
            elif how == "count":
                out = g.count().astype("float64").where(lambda s: s > 0)
            else:
                out = getattr(g, how)()
            daily[key] = out.to_numpy()
        present = pd.Series(present).groupby(gid, sort=True).max().to_numpy()
        return sid[change], day[change], daily, present, key_values

    # -- the table ----------------------------------------------------------
    def table(self) -> pd.DataFrame:
        sid, day, daily, present, key_values = self._daily()
        n_series = (int(sid.max()) + 1) if len(sid) else 0
        if self.lagged:
            if self.last_label is None:
                raise FeatureInputError(f"view '{self.view.name}' is 'known: lagged' but no label is known")
            end: Any = self.last_label + self.horizon
        elif self.keys:
            keep = present
            sid, day = sid[keep], day[keep]
            daily = {k: v[keep] for k, v in daily.items()}
            end = np.full(n_series, np.iinfo(np.int64).min // 2, dtype="int64")
            np.maximum.at(end, sid, day)
        else:
            end = int(day.max())
        grid = _Grid(sid, day, n_series, self._pad(), end)
        emit = grid.pos if self.keys and not self.lagged else np.flatnonzero(grid.day >= grid.first[grid.sid] + self.horizon)
        self._grid, self._daily_arrays = grid, daily

        out = pd.DataFrame({k: key_values[k][grid.sid[emit]] for k in self.keys})
        out[EVENT_TIMESTAMP] = _from_days(grid.day[emit])
        dtypes = feature_dtypes(self.settings, self.view)
        s = self.horizon
        r = self.horizon if self.lagged else 1  # last day of a rolling window, counted back from t
        stamp_days = grid.day[emit]
        for spec in self.view.features:
            for name, params in expand(spec):
                t = spec.transform
                if t == "value":
                    vals = self._g(("v", spec.column, self._agg(spec)))[emit - s]
                elif t == "lag":
                    vals = self._g(("v", spec.column, self._agg(spec)))[emit - params["days"]]
                elif t == "rolling":
                    vals = self._stat(spec, params["days"], params["stat"])[emit - r]
                elif t == "ratio_to_mean":
                    x = self._g(("v", spec.column, self._agg(spec)))[emit - s]
                    mean = self._stat(spec, params["days"], "mean")[emit - s - 1]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        vals = np.where(mean != 0, x / mean, np.nan)
                elif t == "calendar":
                    vals = _calendar_part(stamp_days, params["part"])
                elif t == "days_to_next":
                    vals = self._days_to_next(self._g(("v", spec.column, self._agg(spec))), emit)
                elif t == "one_hot":
                    vals = self._g(("oh", spec.column, params["category"], self._agg(spec)))[emit - s]
                else:  # pragma: no cover - the schema allows no other transform
                    raise FeatureInputError(f"unknown transform '{t}'")
                out[name] = _cast(vals, dtypes[name])
        return out

    def _g(self, key: tuple) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = self._grid.scatter(self._daily_arrays[key])
        return self._cache[key]

    def _stat(self, spec, w: int, stat: str) -> np.ndarray:
        minp = self._minp(spec, w)
        key = ("stat", spec.column, w, stat, minp)
        if key in self._cache:
            return self._cache[key]
        c = spec.column
        if not self.coarse:
            x = self._g(("v", c, "first"))
            res = _count(x, w, minp) if stat == "count" else getattr(_rolling(x, w, minp), stat)().to_numpy()
        else:

            def total(p: str) -> np.ndarray:
                return _rolling(self._g((p, c)), w, minp).sum().to_numpy()

            if stat == "mean":
                # over all observed rows of the window (e.g. per observed item-day)
                res = total("s") / total("n")
            elif stat == "sum":
                res = total("s")
            elif stat == "count":
                res = total("n")
            elif stat == "min":
                res = _rolling(self._g(("mn", c)), w, minp).min().to_numpy()
            elif stat == "max":
                res = _rolling(self._g(("mx", c)), w, minp).max().to_numpy()
            else:  # std, pooled over the rows of the window (ddof = 1)
                s1, n, q = total("s"), total("n"), total("q")
                with np.errstate(invalid="ignore", divide="ignore"):
                    var = (q - s1 * s1 / n) / (n - 1)
                res = np.where(n >= 2, np.sqrt(np.clip(var, 0, None)), np.nan)
        self._cache[key] = res
        return res

    def _days_to_next(self, x: np.ndarray, emit: np.ndarray) -> np.ndarray:
        grid = self._grid
        true_pos = np.flatnonzero(np.nan_to_num(x, nan=0.0) != 0)
        out = np.full(len(emit), np.nan)
        if len(true_pos):
            p = np.searchsorted(true_pos, emit, side="left")
            ok = p < len(true_pos)
            nxt = true_pos[np.minimum(p, len(true_pos) - 1)]
            ok &= grid.sid[nxt] == grid.sid[emit]
            out = np.where(ok, grid.day[nxt] - grid.day[emit], np.nan)
        return out.astype("float64")


def _calendar_part(day: np.ndarray, part: str) -> np.ndarray:
    days = _from_days(day)
    if part == "day_of_week":
        return days.dayofweek.to_numpy().astype("int64")
    if part == "week_of_year":
        return days.isocalendar().week.to_numpy().astype("int64")
    if part == "month":
        return days.month.to_numpy().astype("int64")
    year_len = np.where(days.is_leap_year, 366.0, 365.0)
    angle = 2 * np.pi * (days.dayofyear.to_numpy() - 1) / year_len
    return np.sin(angle) if part == "day_of_year_sin" else np.cos(angle)


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bool":
        v = np.asarray(values, dtype="float64")
        return np.where(np.isnan(v), 0.0, v).astype(bool)
    if dtype == "string":
        return np.asarray(values, dtype=object)
    return np.asarray(values).astype(dtype)


# ----------------------------------------------------------------- tables --


def compute_feature_tables(
    rows: pd.DataFrame,
    settings: Settings,
    horizon_days: int | None = None,
    created_at: datetime | None = None,
) -> dict[str, pd.DataFrame]:
    """Source tables of the declared feature views, keyed by view name.

    Each table has the view's join keys, ``event_timestamp``,
    ``created_timestamp`` and the columns of ``feature_columns(settings)``
    (see the module doc). ``horizon_days`` defaults to
    ``settings.features.horizon_days``; ``created_at`` (default: now, UTC)
    fills ``created_timestamp``. A use case whose ``features.builder`` names a
    plug-in hook gets that hook's tables instead.

    Raises FeatureInputError naming the column: missing columns, null or
    duplicate keys, values of the wrong type, lags inside the horizon.
    """
    if settings.features.builder:
        from runway.plugins import load_plugin

        return dict(load_plugin(settings).hook(settings.features.builder)(rows, settings))
    if horizon_days is None:
        horizon_days = settings.features.horizon_days
    lagged = any(v.known == "lagged" for v in settings.features.views)
    if lagged and horizon_days < 1:
        raise FeatureInputError(f"horizon_days must be >= 1 when a view is 'known: lagged', got {horizon_days}")
    prepared = _Rows(rows, settings)
    last_label = None
    if lagged:
        observed = pd.notna(prepared.cols[settings.target])
        if not observed.any():
            raise FeatureInputError(f"rows have no observed {settings.target} (the label): nothing to compute the 'known: lagged' views from")
        last_label = int(prepared.day[observed].max())
    created = pd.Timestamp(created_at or datetime.now(UTC))
    created = created.tz_localize("UTC") if created.tzinfo is None else created.tz_convert("UTC")

    tables: dict[str, pd.DataFrame] = {}
    columns = table_columns(settings)
    for view in settings.features.views:
        table = _View(view, settings, prepared, horizon_days, last_label).table()
        table[CREATED_TIMESTAMP] = created
        table[CREATED_TIMESTAMP] = table[CREATED_TIMESTAMP].astype("datetime64[ns, UTC]")
        tables[view.name] = table[columns[view.name]]
    return tables


def write_feature_tables(tables: Mapping[str, pd.DataFrame], data_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write each table to ``<data_dir>/<name>.parquet`` atomically
    (``runway.data.io.write_parquet_atomic``: temporary file, fsync, rename),
    so a reader sees the old or the new file, never half of one. Returns
    name -> path."""
    out_dir = Path(data_dir)
    for name in tables:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"invalid table name {name!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, table in tables.items():
        written[name] = write_parquet_atomic(table, out_dir / f"{name}.parquet")
    return written
