"""A Feast offline store whose point-in-time join is one DuckDB ``ASOF JOIN``
per feature view, run directly over the views' parquet ``FileSource``s.

Select it with the repo config's ``offline_store`` (see
``offline_store_config``)::

    offline_store:
      type: runway.features.offline_store.RunwayAsofOfflineStore

Everything except ``get_historical_features`` is Feast's own DuckDB offline
store (this class subclasses it), so ``feast apply``, materialization,
``pull_all_from_table_or_query``, ``offline_write_batch``, saved datasets
and monitoring behave exactly as with ``type: duckdb``.

Semantics of ``get_historical_features`` (the same as Feast's DuckDB store,
checked cell by cell in tests/integration/test_offline_store.py):

* for each entity row and feature view, the source row with equal join keys
  (after the projection's join-key map) and the latest
  ``event_timestamp <= `` the entity row's timestamp; among rows with the same
  event timestamp the latest ``created_timestamp`` wins (rows without a
  created timestamp lose);
* if that row is older than the view's TTL (``event_timestamp < ts - ttl``;
  a TTL of zero or none means no expiry) the features are null; entities with
  no row at all get nulls too; rows are never dropped;
* a view without entities is joined on the timestamp only;
* every entity row is kept, duplicates included, **in the entity frame's
  order** (Feast's DuckDB store returns them in no particular order);
* columns: the entity frame's columns (its timestamp column converted to UTC)
  then the requested features, view by view, named ``feature`` or
  ``view__feature`` with ``full_feature_names``; field mappings of the source
  are applied.

Timestamps are compared at microsecond precision in UTC (DuckDB's
``TIMESTAMPTZ``), as Feast's DuckDB store does; naive source timestamps are
UTC.

Requests this store does not handle itself go to Feast's DuckDB store
unchanged: an SQL-string or missing entity frame (time-range retrieval),
``filter_by_created_timestamp``, substrait on-demand views, and sources that
are not local parquet ``FileSource``s (Delta, remote URLs, other source
types). Ordinary (pandas/python) on-demand feature views work: Feast's
``RetrievalJob`` applies them on top of this store's result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from pydantic import StrictStr

if TYPE_CHECKING:  # pragma: no cover
    from feast.feature_view import FeatureView
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.repo_config import RepoConfig
    from feast.saved_dataset import SavedDatasetStorage

logger = logging.getLogger(__name__)

STORE_CLASS_PATH = "runway.features.offline_store.RunwayAsofOfflineStore"
_KINDS = {"runway_asof": STORE_CLASS_PATH, "duckdb": "duckdb"}
_ROW = "__runway_asof_row__"
_DUMMY_ID = "__dummy_id"


def offline_store_config(kind: str) -> dict[str, Any]:
    """The ``offline_store`` dict of a Feast ``RepoConfig`` for ``kind``
    (``FeastConfig.offline_store``): ``"runway_asof"`` (this module's store)
    or ``"duckdb"`` (Feast's own DuckDB store)."""
    try:
        return {"type": _KINDS[kind]}
    except KeyError:
        raise ValueError(f"unknown offline store kind {kind!r}; expected one of {sorted(_KINDS)}") from None


class RunwayAsofOfflineStoreConfig(DuckDBOfflineStoreConfig):
    """Config of ``RunwayAsofOfflineStore``: Feast's DuckDB store config (the
    delegated methods read it) plus DuckDB resources for the ASOF joins."""

    type: StrictStr = STORE_CLASS_PATH
    # DuckDB worker threads for the joins (default: DuckDB's, i.e. all cores).
    threads: int | None = None
    # DuckDB memory limit for the joins, e.g. "4GB" (default: DuckDB's).
    memory_limit: str | None = None


# ------------------------------------------------------------------ plan ---


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class _ViewPlan:
    name: str
    source_sql: str  # a DuckDB table expression over the parquet file(s)
    rename: dict[str, str]  # post-mapping column name -> source column name
    keys: list[tuple[str, str]]  # (source column, entity column)
    timestamp_field: str
    created_field: str | None
    ttl_us: int | None
    features: list[tuple[str, str]] = field(default_factory=list)  # (feature, output column)


class _Unsupported(Exception):
    """This request goes to Feast's DuckDB store."""


def _source_expression(feature_view: FeatureView, repo_path: str | None) -> str:
    from feast.data_format import ParquetFormat
    from feast.infra.offline_stores.file_source import FileSource

    src = feature_view.batch_source
    if src is None:
        raise ValueError(f"Feature view '{feature_view.name}' has no batch_source and cannot be queried.")
    if type(src) is not FileSource:
        raise _Unsupported(f"source of '{feature_view.name}' is a {type(src).__name__}")
    path = src.path
    fmt = src.file_format
    if not (isinstance(fmt, ParquetFormat) or (fmt is None and path.endswith(".parquet"))):
        raise _Unsupported(f"source of '{feature_view.name}' is not parquet")
    if "://" in path:
        raise _Unsupported(f"source of '{feature_view.name}' is remote ({path.split('://')[0]})")
    p = Path(path)
    if not p.is_absolute() and repo_path and (Path(repo_path) / p).exists():
        p = Path(repo_path) / p  # Feast's DuckDB store would read it relative to the cwd
    target = str(p)
    if p.is_dir():
        target = str(p / "**" / "*.parquet")
    return f"read_parquet({_lit(target)})"


def _plan_view(
    feature_view: FeatureView,
    feature_refs: list[str],
    full_feature_names: bool,
    repo_path: str | None,
    source_columns: Any,
) -> _ViewPlan:
    source_sql = _source_expression(feature_view, repo_path)
    src = feature_view.batch_source
    if src is None:  # pragma: no cover - _source_expression raised already
        raise ValueError(f"Feature view '{feature_view.name}' has no batch_source")
    rename: dict[str, str] = {}
    if src.field_mapping:
        # As Feast's ibis code: a mapped source column is renamed if it exists.
        columns = set(source_columns(source_sql))
        rename = {new: old for old, new in src.field_mapping.items() if old in columns}

    prefix = feature_view.projection.name_to_use()
    base = feature_view.projection.name_alias or feature_view.name
    features = []
    for ref in feature_refs:
        if ref.startswith(f"{prefix}:"):
            feature = ref.split(":")[1]
            features.append((feature, f"{base}__{feature}" if full_feature_names else feature))

    join_key_map = feature_view.projection.join_key_map or {e.name: e.name for e in feature_view.entity_columns}
    keys = [(k, v) for k, v in join_key_map.items() if k != _DUMMY_ID]
    ttl = feature_view.ttl
    ttl_us = None
    if ttl:
        ttl_us = ttl.days * 86_400_000_000 + ttl.seconds * 1_000_000 + ttl.microseconds
        if ttl_us <= 0:
            ttl_us = None
    return _ViewPlan(
        name=feature_view.name,
        source_sql=source_sql,
        rename=rename,
        keys=keys,
        timestamp_field=src.timestamp_field,
        created_field=src.created_timestamp_column or None,
        ttl_us=ttl_us,
        features=features,
    )


def _source_relation(plan: _ViewPlan, code_join: str | None = None, span_us: tuple[int, int] | None = None) -> str:
    """The view's source rows as ``__ts`` (, ``__created``), the join keys
    (``__k0``...; with ``code_join``, an ``INNER JOIN`` onto a key table
    ``c``, its ``__code`` instead) and the features ``__f0``...

    ``span_us``: the entity timestamps' (min, max) in epoch microseconds;
    source rows after the max, or (with a TTL) older than the min minus the
    TTL, are left out: no entity row can get them (too new), or whatever
    entity row would get them gets nulls anyway (expired), as with no row."""

    def col(name: str) -> str:
        return "s." + _q(plan.rename.get(name, name))

    src_cols = [f"CAST({col(plan.timestamp_field)} AS TIMESTAMPTZ) AS __ts"]
    if plan.created_field:
        src_cols.append(f"COALESCE(CAST({col(plan.created_field)} AS TIMESTAMPTZ), '-infinity'::TIMESTAMPTZ) AS __created")
    if code_join is None:
        src_cols += [f"{col(k)} AS __k{i}" for i, (k, _) in enumerate(plan.keys)]
    else:
        src_cols.append("c.__code")
    src_cols += [f"{col(f)} AS __f{i}" for i, (f, _) in enumerate(plan.features)]
    join = ""
    if code_join is not None:
        join = f" JOIN {code_join} c ON " + " AND ".join(f"{col(k)} = c.{_q(ent)}" for k, ent in plan.keys)
    where = [f"{col(plan.timestamp_field)} IS NOT NULL"]
    if span_us is not None:
        ts = f"CAST({col(plan.timestamp_field)} AS TIMESTAMPTZ)"
        lo, hi = span_us
        where.append(f"{ts} <= CAST(make_timestamp({int(hi)}) AS TIMESTAMPTZ)")
        if plan.ttl_us is not None:
            where.append(f"{ts} >= CAST(make_timestamp({int(lo) - plan.ttl_us}) AS TIMESTAMPTZ)")
    return f"(SELECT {', '.join(src_cols)} FROM {plan.source_sql} s{join} WHERE {' AND '.join(where)})"  # noqa: S608 - quoted names


def _asof_sql(plan: _ViewPlan, entity_table: str, source: str, equal: list[str], carry: list[str]) -> str:
    """``entity_table e ASOF LEFT JOIN source f`` on ``equal`` (conditions)
    and the view's time condition: the ``carry`` columns of ``e``, then the
    features (null past the TTL). No order."""
    on = list(equal)
    if plan.created_field:
        # Latest event time, then latest created time: one ordered inequality.
        on.append("(e.__ts, 'infinity'::TIMESTAMPTZ) >= (f.__ts, f.__created)")
    else:
        on.append("e.__ts >= f.__ts")
    if plan.ttl_us is not None:
        fresh = f"f.__ts >= e.__ts - INTERVAL {plan.ttl_us} MICROSECOND"
        sel = [f"CASE WHEN {fresh} THEN f.__f{i} END AS {_q(out)}" for i, (_, out) in enumerate(plan.features)]
    else:
        sel = [f"f.__f{i} AS {_q(out)}" for i, (_, out) in enumerate(plan.features)]
    select = ", ".join([*(f"e.{c}" for c in carry), *sel]) or "NULL AS __none"
    return f"SELECT {select} FROM {entity_table} e ASOF LEFT JOIN {source} f ON {' AND '.join(on)}"  # noqa: S608


def _view_sql(plan: _ViewPlan, entity_table: str) -> str:
    """One ASOF JOIN: every entity row (``__row``, keys, ``__ts``) against
    the view's source, ordered by entity row (the reference form of what
    ``_ViewJoin`` runs; ``to_sql`` shows it)."""
    equal = [f"e.{_q(ent)} = f.__k{i}" for i, (_, ent) in enumerate(plan.keys)]
    return _asof_sql(plan, entity_table, _source_relation(plan), equal, []) + f" ORDER BY e.{_ROW}"


class _Joins:
    """The ASOF joins of one retrieval on one connection, over the entity
    table ``__entity`` (keys, ``__ts``, ``__row``): the same rows and values
    as ``_view_sql`` per view, computed with less work:

    * the entity key tuples of a view are numbered (``__code``, one table
      per distinct key tuple, shared by the views with the same keys) and
      the join runs on that one integer: the source rows are matched to the
      numbers by an ordinary equality join (which also drops source rows of
      entities not asked for), and DuckDB's ASOF join partitions and sorts on
      an integer instead of the key columns;
    * a view with few key tuples (keyed by a coarse entity, or by none) joins
      only the distinct (``__code``, ``__ts``) pairs of the entity rows and
      hands the result back to every row by an equality join: at most
      tuples x timestamps rows instead of one per entity row;
    * source rows outside the entity rows' time span (after the latest entity
      timestamp; older than the earliest minus the TTL) are left out;
    * the result is not sorted by DuckDB: ``__row`` comes back with it and
      the rows are put in entity order by one Arrow ``take``.
    """

    def __init__(self, con: Any, n: int) -> None:
        self.con = con
        self.n = n
        n_ts, lo, hi = con.execute("SELECT count(DISTINCT __ts), epoch_us(min(__ts)), epoch_us(max(__ts)) FROM __entity").fetchall()[0]
        self.n_ts = int(n_ts)
        self.span_us = None if lo is None or hi is None else (int(lo), int(hi))
        self._coded: dict[tuple[str, ...], tuple[str, str, int]] = {}  # entity key columns -> _coded_entity()

    def _coded_entity(self, keys: tuple[str, ...]) -> tuple[str, str, int]:
        """(key table, coded entity table, number of key tuples) for ``keys``."""
        if keys not in self._coded:
            i = len(self._coded)
            cols = ", ".join(_q(k) for k in keys)
            numbered = f"SELECT {cols}, CAST(row_number() OVER () AS BIGINT) AS __code FROM (SELECT DISTINCT {cols} FROM __entity)"  # noqa: S608
            self.con.execute(f"CREATE TEMP TABLE __codes{i} AS {numbered}")
            # A null key matches nothing (as in the ASOF join): its row gets a null code.
            on = " AND ".join(f"e.{_q(k)} = c.{_q(k)}" for k in keys)
            self.con.execute(f"CREATE TEMP TABLE __coded{i} AS SELECT e.{_ROW}, e.__ts, c.__code FROM __entity e LEFT JOIN __codes{i} c ON {on}")  # noqa: S608
            count = int(self.con.execute(f"SELECT count(*) FROM __codes{i}").fetchall()[0][0])  # noqa: S608
            self._coded[keys] = (f"__codes{i}", f"__coded{i}", count)
        return self._coded[keys]

    def sql(self, plan: _ViewPlan) -> tuple[str, bool]:
        """The query (``__row`` then the features, in no order) and whether it
        joins the distinct (key tuple, timestamp) pairs only."""
        if plan.keys:
            codes, entity, tuples = self._coded_entity(tuple(ent for _, ent in plan.keys))
            source, equal = _source_relation(plan, codes, self.span_us), ["e.__code = f.__code"]
        else:
            entity, tuples = "__entity", 1
            source, equal = _source_relation(plan, None, self.span_us), []
        if tuples * self.n_ts > self.n // 2:
            return _asof_sql(plan, entity, source, equal, [_ROW]), False
        pair = ["__code", "__ts"] if plan.keys else ["__ts"]
        distinct = f"(SELECT DISTINCT {', '.join(pair)} FROM {entity})"  # noqa: S608
        asof = _asof_sql(plan, distinct, source, equal, pair)
        back = " AND ".join(f"e.{c} IS NOT DISTINCT FROM a.{c}" for c in pair)
        outs = ", ".join(f"a.{_q(out)}" for _, out in plan.features)
        return f"SELECT e.{_ROW}, {outs} FROM {entity} e LEFT JOIN ({asof}) a ON {back}", True  # noqa: S608

    def run(self, plan: _ViewPlan) -> pa.Table:
        """The view's feature columns, one row per entity row, in entity order."""
        sql, distinct = self.sql(plan)
        table = self.con.sql(sql).to_arrow_table()
        if table.num_rows != self.n:  # cannot happen with LEFT joins
            raise RuntimeError(f"ASOF join of '{plan.name}' returned {table.num_rows} rows for {self.n}")
        rows = table.column(0).to_numpy()
        where = np.full(self.n, -1, dtype=np.int64)
        where[rows] = np.arange(self.n, dtype=np.int64)
        if (where < 0).any():  # n rows, every row number once: a permutation
            raise RuntimeError(f"ASOF join of '{plan.name}' lost entity rows")
        logger.debug("view %s: ASOF join on %s", plan.name, "the distinct (key, timestamp) pairs" if distinct else "every entity row")
        return table.drop_columns([table.column_names[0]]).take(where)


def _utc_timestamps(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype) and str(s.dtype.tz) == "UTC":
        return s
    s = s.infer_objects()
    if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
        return pd.to_datetime(s, utc=True)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(s):
        return s.dt.tz_localize("UTC")
    return pd.to_datetime(s, utc=True)


# ------------------------------------------------------------------ job ---


class RunwayAsofRetrievalJob(RetrievalJob):
    """Runs the ASOF joins when the result is asked for (``to_df``,
    ``to_arrow``); the entity frame was captured when the job was made."""

    def __init__(
        self,
        entity_df: pd.DataFrame,
        event_timestamp_col: str,
        plans: list[_ViewPlan],
        on_demand_feature_views: list[OnDemandFeatureView],
        full_feature_names: bool,
        metadata: RetrievalMetadata,
        config: RepoConfig,
    ) -> None:
        super().__init__()
        self._entity_df = entity_df
        self._ts_col = event_timestamp_col
        self._plans = plans
        self._odfvs = on_demand_feature_views
        self._full_feature_names = full_feature_names
        self._metadata = metadata
        self._config = config

    # --- RetrievalJob API
    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def to_sql(self) -> str:
        """The per-view queries, over a table ``entity_rows`` holding the join
        keys, ``__ts`` (the entity timestamp) and the row number."""
        return ";\n".join(_view_sql(p, "entity_rows") for p in self._plans)

    def _feature_columns(self) -> list[tuple[str, pa.ChunkedArray]]:
        import duckdb

        n = len(self._entity_df)
        keys = list(dict.fromkeys(ent for p in self._plans for _, ent in p.keys))
        entity = pa.table(
            {
                **{k: pa.array(self._entity_df[k]) for k in keys},
                "__ts": pa.array(self._entity_df[self._ts_col]),
                _ROW: pa.array(np.arange(n, dtype=np.int64)),
            }
        )
        opts = self._config.offline_store
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            threads = getattr(opts, "threads", None)
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            limit = getattr(opts, "memory_limit", None)
            if limit:
                con.execute(f"SET memory_limit = {_lit(str(limit))}")
            con.register("__entity_arrow", entity)
            con.execute("CREATE TEMP TABLE __entity AS SELECT * EXCLUDE (__ts), CAST(__ts AS TIMESTAMPTZ) AS __ts FROM __entity_arrow")
            con.unregister("__entity_arrow")
            out: list[tuple[str, pa.ChunkedArray]] = []
            plans = [p for p in self._plans if p.features]
            if plans:
                joins = _Joins(con, n)
                for plan in plans:
                    table = joins.run(plan)
                    out += [(name, table.column(name)) for name in table.column_names]
            return out
        finally:
            con.close()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        table = pa.Table.from_pandas(self._entity_df, preserve_index=False)
        for name, column in self._feature_columns():
            table = table.append_column(name, column)
        return table

    def feature_arrays(self) -> dict[str, Any]:
        """The requested feature columns, in entity-frame order, as the arrays
        ``to_df`` puts in its frame (same values and dtypes: Arrow's pandas
        conversion, column by column), without building a frame: for a
        caller that assembles its own."""
        out: dict[str, Any] = {}
        for name, column in self._feature_columns():
            series = column.to_pandas()
            values = series.array if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) else series.to_numpy()
            if isinstance(values, np.ndarray) and not values.flags.writeable:
                values = values.copy()  # Arrow's zero-copy view (no nulls) is read-only
            out[name] = values
        return out

    def to_df(self, validation_reference=None, timeout: int | None = None) -> pd.DataFrame:
        if validation_reference is not None or self._odfvs:
            return super().to_df(validation_reference=validation_reference, timeout=timeout)
        # Same frame as to_arrow().to_pandas() for the feature columns, but the
        # entity columns are not sent through Arrow and back (a few hundred ms
        # at 1M rows with string keys). Feast's offline-store metrics, which
        # to_arrow records, are not recorded on this path.
        cols = self._feature_columns()
        feats = pa.table(dict(cols)).to_pandas() if cols else pd.DataFrame(index=range(len(self._entity_df)))
        base = self._entity_df.copy(deep=False)  # reset_index would copy every column
        base.index = pd.RangeIndex(len(base))
        return pd.concat([base, feats], axis=1, copy=False)

    def persist(self, storage: SavedDatasetStorage, allow_overwrite: bool = False, timeout: int | None = None):
        import ibis
        from feast.infra.offline_stores.duckdb import _write_data_source

        _write_data_source(
            ibis.memtable(self.to_arrow(timeout=timeout)),
            storage.to_data_source(),
            str(self._config.repo_path),
            "overwrite",
            allow_overwrite,
        )


# ---------------------------------------------------------------- store ---


class RunwayAsofOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB offline store with a DuckDB ``ASOF JOIN`` point-in-time
    join (see the module docstring)."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        def delegate(why: str) -> RetrievalJob:
            logger.debug("get_historical_features delegated to Feast's DuckDB store: %s", why)
            return DuckDBOfflineStore.get_historical_features(
                config=config,
                feature_views=feature_views,
                feature_refs=feature_refs,
                entity_df=entity_df,
                registry=registry,
                project=project,
                full_feature_names=full_feature_names,
                filter_by_created_timestamp=filter_by_created_timestamp,
                **kwargs,
            )

        if not isinstance(entity_df, pd.DataFrame):
            return delegate("entity_df is not a DataFrame")
        if filter_by_created_timestamp:
            return delegate("filter_by_created_timestamp")
        if kwargs:
            return delegate(f"options {sorted(kwargs)}")
        from feast.infra.offline_stores import offline_utils
        from feast.on_demand_feature_view import OnDemandFeatureView

        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        if any(o.mode == "substrait" for o in odfvs):
            return delegate("substrait on-demand feature view")

        entity_schema = dict(zip(entity_df.columns, entity_df.dtypes, strict=True))
        ts_col = offline_utils.infer_event_timestamp_from_entity_df(entity_schema)

        schema_con = None

        def source_columns(source_sql: str) -> list[str]:
            nonlocal schema_con
            if schema_con is None:
                import duckdb

                schema_con = duckdb.connect(":memory:")
            return list(schema_con.sql(f"SELECT * FROM {source_sql} LIMIT 0").columns)  # noqa: S608 - built by _source_expression

        try:
            plans = [
                _plan_view(fv, feature_refs, full_feature_names, str(config.repo_path) if config.repo_path else None, source_columns) for fv in feature_views
            ]
        except _Unsupported as exc:
            return delegate(str(exc))
        finally:
            if schema_con is not None:
                schema_con.close()

        missing = {ent for p in plans for _, ent in p.keys} - set(entity_df.columns)
        if missing:
            from feast.errors import FeastEntityDFMissingColumnsError

            raise FeastEntityDFMissingColumnsError(set(entity_df.columns) | missing, missing)

        frame = entity_df.copy(deep=False)
        if len(frame):
            frame[ts_col] = _utc_timestamps(frame[ts_col])
            lo, hi = frame[ts_col].min().to_pydatetime(), frame[ts_col].max().to_pydatetime()
        else:
            frame[ts_col] = pd.to_datetime(frame[ts_col], utc=True)
            lo = hi = None
        metadata = RetrievalMetadata(
            features=feature_refs,
            keys=list(set(entity_df.columns) - {ts_col}),
            min_event_timestamp=lo,
            max_event_timestamp=hi,
        )
        return RunwayAsofRetrievalJob(
            entity_df=frame,
            event_timestamp_col=ts_col,
            plans=plans,
            on_demand_feature_views=odfvs,
            full_feature_names=full_feature_names,
            metadata=metadata,
            config=config,
        )


__all__ = [
    "STORE_CLASS_PATH",
    "RunwayAsofOfflineStore",
    "RunwayAsofOfflineStoreConfig",
    "RunwayAsofRetrievalJob",
    "offline_store_config",
]
