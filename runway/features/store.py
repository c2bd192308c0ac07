"""Everything that talks to Feast: config per environment, apply, materialize,
point-in-time (offline) and online retrieval.

* The Feast objects (entities, sources, views, the versioned feature service)
  are built from the use case's declarations (``runway.features.definitions``)
  and applied into the use case's own Feast project,
  ``feast_project(settings)`` = ``<environment.feast.project>_<use_case>``:
  applying or materializing one use case never touches another's objects.
* The Feast repo (``settings.feature_repo``, default ``feature_repo/``; tests
  use a temporary copy) holds, in ``<repo>/data/<use_case>/``
  (``feature_data_dir``), the parquet sources written by
  ``runway.features.engine.write_feature_tables``. Its ``definitions.py`` only
  serves the ``feast`` CLI.
* The registry and online store come from the environment's settings, never
  from ``feature_repo/feature_store.yaml`` (that file only serves the CLI):

  - local: file registry ``<workspace>/<feast.registry>`` and a SQLite
    online store ``<workspace>/feast/online.db``;
  - staging/prod: ``feast.registry`` is a SQLAlchemy URL (SQL registry) and
    the online store is Redis (``feast.redis_connection``).

  The offline store is DuckDB over the parquet sources everywhere (Feast's
  own, or Runway's ASOF join with ``feast.offline_store: runway_asof``).

Retrieval keeps the caller's rows: ``historical_features`` returns exactly the
rows of ``entity_df`` (same order, same index, duplicates kept), the feature
columns appended; entities without a value inside a view's TTL get nulls.
Entities that never occur in a source are refused unless explicitly allowed
(see ``unknown_entities``).

Online values are those of the latest row per entity stamped ``<=`` the end
of the last ``materialize``: materialize up to the target date being served.
For several target dates at once (a 7-day forecast), use
``historical_features`` with one entity row per target date.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from runway.config import Settings, reveal
from runway.features.definitions import EVENT_TIMESTAMP, build_objects, feast_project

logger = logging.getLogger(__name__)

ENTITY_TIMESTAMP = "event_timestamp"  # what Feast calls the entity df's timestamp
_ROW = "__runway_row__"
_DUMMY_ID = "__dummy_id"


class FeatureStoreError(ValueError):
    """A feature store request cannot be served as asked."""


class UnknownFeatureServiceError(FeatureStoreError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class EntityFrameError(FeatureStoreError):
    """The entity rows lack a column, hold nulls or clash with feature names."""


class UnknownEntityError(FeatureStoreError):
    """Entity values that never occur in the feature sources."""

    def __init__(self, message: str, entities: list[tuple]):
        super().__init__(message)
        self.entities = entities


class RetrievalError(FeatureStoreError):
    """Feast returned a different set of rows than it was given."""


# ------------------------------------------------------------------ config --


def _is_url(value: str) -> bool:
    return "://" in value


def redis_connection_string(value: str) -> str:
    """Feast's ``host:port[,db=N][,password=..][,ssl=true]`` from either that
    form or a ``redis://[user:password@]host:port/db`` (``rediss://``) URL."""
    if not value.startswith(("redis://", "rediss://")):
        return value
    url = urlparse(value)
    parts = [f"{url.hostname or 'localhost'}:{url.port or 6379}"]
    db = url.path.lstrip("/")
    if db:
        if not db.isdigit():
            raise FeatureStoreError(f"redis URL {value!r}: database must be a number, got {db!r}")
        parts.append(f"db={db}")
    if url.username:
        parts.append(f"username={unquote(url.username)}")
    if url.password:
        parts.append(f"password={unquote(url.password)}")
    if url.scheme == "rediss":
        parts.append("ssl=true")
    if any("," in p for p in parts[1:]):
        raise FeatureStoreError("redis credentials containing ',' cannot be passed to Feast's connection string")
    return ",".join(parts)


def online_db_path(settings: Settings) -> Path:
    return settings.workspace_path("feast", "online.db")


def _repo_dir(settings: Settings, repo_dir: str | os.PathLike[str] | None) -> Path:
    return Path(repo_dir).resolve() if repo_dir else settings.feature_repo


def repo_config(settings: Settings, repo_dir: str | os.PathLike[str] | None = None):
    """The Feast ``RepoConfig`` for ``settings``' environment and use case
    (project ``feast_project(settings)``; see module doc). ``repo_dir``
    defaults to ``settings.feature_repo``."""
    from feast.repo_config import RepoConfig

    feast_cfg = settings.environment.feast
    repo = _repo_dir(settings, repo_dir)
    registry_value = reveal(feast_cfg.registry) or ""
    if _is_url(registry_value):
        registry: dict[str, Any] = {
            "registry_type": "sql",
            "path": registry_value,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
        }
    else:
        path = Path(registry_value).expanduser()
        path = path if path.is_absolute() else settings.workspace / path
        registry = {"registry_type": "file", "path": str(path), "cache_ttl_seconds": 60}
    if feast_cfg.online_store == "redis":
        connection = reveal(feast_cfg.redis_connection)
        if not connection:  # FeastConfig requires it; a ${VAR} may still resolve to nothing
            raise FeatureStoreError("feast.online_store 'redis' needs feast.redis_connection")
        online: dict[str, Any] = {"type": "redis", "connection_string": redis_connection_string(connection)}
    else:
        online = {"type": "sqlite", "path": str(online_db_path(settings))}
    if feast_cfg.offline_store == "duckdb":
        offline: dict[str, Any] = {"type": "duckdb"}
    else:  # Runway's ASOF store (a subclass of Feast's DuckDB store)
        from runway.features.offline_store import offline_store_config

        offline = offline_store_config(feast_cfg.offline_store)
    return RepoConfig(
        project=feast_project(settings),
        provider="local",
        registry=registry,
        offline_store=offline,
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=repo,
    )


def open_store(settings: Settings, repo_dir: str | os.PathLike[str] | None = None):
    """A ``FeatureStore`` for ``settings``' environment and use case over the
    Feast repo ``repo_dir`` (default ``settings.feature_repo``, i.e. ``feature_repo/``)."""
    from feast import FeatureStore

    # Importing Feast puts "once" for DeprecationWarning in front of every filter;
    # the deprecations inside its dependencies are not the user's to act on.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(ibis|pydantic)(\.|$)")
    repo = _repo_dir(settings, repo_dir)
    if not repo.is_dir():
        raise FeatureStoreError(f"feature repo directory {repo} does not exist")
    config = repo_config(settings, repo)
    if config.registry.registry_type == "file":
        Path(config.registry.path).parent.mkdir(parents=True, exist_ok=True)
        check_file_registry(Path(config.registry.path))
    if config.online_store.type == "sqlite":
        Path(config.online_store.path).parent.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(repo), config=config)


def check_file_registry(path: Path) -> None:
    """A Feast file registry must parse as its protobuf before Feast opens it
    (a truncated one fails deep inside Feast with a bare DecodeError)."""
    if not path.exists():
        return
    from feast.protos.feast.core.Registry_pb2 import Registry
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        Registry().ParseFromString(path.read_bytes())
    except (DecodeError, OSError) as exc:
        raise FeatureStoreError(
            f"Feast registry {path} is corrupt ({type(exc).__name__}: {exc}); restore it from a backup, or move it aside "
            "and run `python run.py train` to rebuild it from the use case's YAML (feast apply + materialize)"
        ) from None


def feature_data_dir(settings: Settings, repo_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the use case's parquet sources live: ``<repo_dir>/data/<use_case>``
    (``repo_dir`` defaults to ``settings.feature_repo``)."""
    return _repo_dir(settings, repo_dir).resolve() / "data" / settings.use_case


# ------------------------------------------------------------------- apply --


def load_definitions(repo_dir: str | os.PathLike[str]):
    """Feast objects defined in the repo's Python files, as ``feast apply``
    collects them (``.feastignore`` honoured), in a ``RepoContents``: what the
    CLI would apply (``apply`` builds from the settings instead).

    Each file is imported under a module name unique to its path, so two
    copies of the repo in one process never share a cached module."""
    from feast.data_source import DataSource, KafkaSource, KinesisSource, PushSource
    from feast.entity import Entity
    from feast.feature_service import FeatureService
    from feast.feature_view import DUMMY_ENTITY, FeatureView
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.permissions.permission import Permission
    from feast.project import Project
    from feast.repo_contents import RepoContents
    from feast.repo_operations import get_repo_files
    from feast.stream_feature_view import StreamFeatureView

    repo = Path(repo_dir).resolve()
    res = RepoContents(
        projects=[],
        data_sources=[],
        entities=[],
        feature_views=[],
        feature_services=[],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        permissions=[],
    )

    def add(bucket: list, obj: Any) -> bool:
        if any(o is obj for o in bucket):
            return False
        bucket.append(obj)
        return True

    files = get_repo_files(repo)
    if not files:
        raise FeatureStoreError(f"no Python definition files in feature repo {repo}")
    added_path = str(repo) not in sys.path
    if added_path:
        sys.path.append(str(repo))  # like the CLI: repo-local imports work
    no_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # like the CLI: no __pycache__ in the repo
    try:
        for file in files:
            digest = hashlib.sha1(str(file).encode(), usedforsecurity=False).hexdigest()[:12]
            name = f"_runway_feast_repo_{digest}_{file.stem}"
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                raise FeatureStoreError(f"cannot import feature repo file {file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception:
                sys.modules.pop(name, None)
                raise
            for attr in dir(module):
                obj = getattr(module, attr)
                if isinstance(obj, DataSource):
                    add(res.data_sources, obj)
                    if isinstance(obj, (PushSource, KafkaSource, KinesisSource)) and obj.batch_source:
                        add(res.data_sources, obj.batch_source)
                elif isinstance(obj, StreamFeatureView):
                    if add(res.stream_feature_views, obj):
                        for src in (obj.batch_source, obj.stream_source):
                            if src is not None:
                                add(res.data_sources, src)
                elif isinstance(obj, FeatureView):
                    if add(res.feature_views, obj):
                        for src in (obj.batch_source, obj.stream_source):
                            if src is not None:
                                add(res.data_sources, src)
                elif isinstance(obj, Entity):
                    add(res.entities, obj)
                elif isinstance(obj, FeatureService):
                    add(res.feature_services, obj)
                elif isinstance(obj, OnDemandFeatureView):
                    add(res.on_demand_feature_views, obj)
                elif isinstance(obj, Permission):
                    add(res.permissions, obj)
                elif isinstance(obj, Project):
                    add(res.projects, obj)
    finally:
        sys.dont_write_bytecode = no_bytecode
        if added_path:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(repo))
    res.entities.append(DUMMY_ENTITY)
    return res


def apply(store, settings: Settings):
    """Register the use case's declared objects (``runway.features.definitions``)
    in ``store``'s registry and create their online tables: what ``feast
    apply`` does, in the use case's own project only (objects of that project
    no longer declared are removed; other projects are left alone). Sources
    read ``feature_data_dir(settings, store.repo_path)``. Returns the applied
    ``RepoContents``."""
    from feast.repo_operations import apply_total_with_repo_instance

    project = feast_project(settings)
    if store.project != project:
        raise FeatureStoreError(
            f"the store is opened for Feast project '{store.project}' but use case '{settings.use_case}' lives in "
            f"'{project}': open it with open_store(settings)"
        )
    repo = build_objects(settings, feature_data_dir(settings, store.repo_path))
    with contextlib.redirect_stdout(io.StringIO()) as out:
        apply_total_with_repo_instance(store, store.project, store.registry, repo, skip_source_validation=False)
    logger.debug("feast apply (%s):\n%s", store.project, out.getvalue().strip())
    return repo


# ------------------------------------------------------------- materialize --


def _utc(ts: datetime | pd.Timestamp) -> datetime:
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.to_pydatetime()


def materialize(store, end: datetime, views: Sequence[str] | None = None) -> dict[str, tuple[datetime, datetime]]:
    """Load the latest feature rows stamped ``<= end`` into the online store.

    Incremental: a view resumes where its last materialization ended; a view
    never materialized starts at ``end - ttl`` (older rows would be expired
    anyway; Feast's own first run would start at *now* - ttl, which loads
    nothing for a back-filled history). Naive ``end`` is UTC. Returns
    view -> (start, end) of what was loaded; views already past ``end`` are
    skipped.
    """
    end_utc = _utc(end)
    _quiet_duckdb()
    all_views = {fv.name: fv for fv in store.list_feature_views() if fv.online}
    if views is not None:
        missing = sorted(set(views) - set(all_views))
        if missing:
            raise FeatureStoreError(f"no online feature view(s) {missing}; known: {sorted(all_views)}")
    done: dict[str, tuple[datetime, datetime]] = {}
    for name in sorted(all_views) if views is None else views:
        fv = all_views[name]
        last = fv.most_recent_end_time
        if last is not None:
            start = _utc(last)
        elif fv.ttl and fv.ttl.total_seconds() > 0:
            start = end_utc - fv.ttl
        else:
            raise FeatureStoreError(f"feature view '{name}' has no TTL and was never materialized: give it a TTL")
        if start >= end_utc:
            continue
        if not [k for k in fv.join_keys if k != _DUMMY_ID]:
            _materialize_entityless(store, fv, start, end_utc)
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                store.materialize(start_date=start, end_date=end_utc, feature_views=[name])
        done[name] = (start, end_utc)
    return done


def _materialize_entityless(store, fv, start: datetime, end: datetime) -> None:
    """Feast 0.67's local compute engine cannot materialize a view without
    entities: it reads the source without the dummy join key, then requires
    it when writing ("Column __dummy_id not found in table"). Do the same
    steps by hand: latest row in [start, end] via the offline store, dummy key
    added, written with write_to_online_store, interval recorded."""
    from feast.feature_view import DUMMY_ENTITY_VAL

    src = fv.batch_source
    provider = store._get_provider()  # noqa: SLF001 - Feast has no public handle on the provider
    job = provider.offline_store.pull_latest_from_table_or_query(
        config=store.config,
        data_source=src,
        join_key_columns=[],
        feature_name_columns=[f.name for f in fv.features],
        timestamp_field=src.timestamp_field,
        created_timestamp_column=src.created_timestamp_column or None,
        start_date=start,
        end_date=end,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        latest = job.to_df()
    if not latest.empty:
        latest[_DUMMY_ID] = DUMMY_ENTITY_VAL
        # get_feature_view keeps the dummy entity column (list_feature_views
        # hides it), so rows are keyed like the online read looks them up.
        full = store.get_feature_view(fv.name)
        provider.ingest_df(full, latest)
    store.registry.apply_materialization(fv, store.project, start, end, commit=True)


# --------------------------------------------------------------- services --


def _service(store, service_name: str):
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(service_name)
    except FeatureServiceNotFoundException:
        known = sorted(s.name for s in store.list_feature_services())
        raise UnknownFeatureServiceError(
            f"unknown feature service '{service_name}' in Feast project '{store.project}'; known: {known or 'none (run apply)'}"
        ) from None


def _service_views(store, service) -> list[tuple[Any, list[str], list[str]]]:
    """(view, join keys as named in the entity df, feature names) per projection."""
    out = []
    for proj in service.feature_view_projections:
        fv = store.get_feature_view(proj.name)
        keys = [k for k in fv.join_keys if k != _DUMMY_ID]
        if proj.join_key_map:
            keys = [proj.join_key_map.get(k, k) for k in keys]
        out.append((fv, keys, [f.name for f in proj.features]))
    return out


def feature_names(store, service_name: str) -> list[str]:
    """The service's feature columns, in the order retrieval returns them."""
    service = _service(store, service_name)
    names = [f for _, _, feats in _service_views(store, service) for f in feats]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FeatureStoreError(f"feature service '{service_name}' has feature name(s) {dup} in more than one view")
    return names


def entity_keys(store, service_name: str) -> list[str]:
    """Join key columns the service needs in the entity rows."""
    service = _service(store, service_name)
    keys: list[str] = []
    for _, ks, _ in _service_views(store, service):
        keys += [k for k in ks if k not in keys]
    return keys


# --------------------------------------------------------- unknown entities --

_KEY_CACHE: dict[tuple[str, int, int, tuple[str, ...]], pd.MultiIndex] = {}


def _source_keys(path: str, keys: list[str]) -> pd.MultiIndex:
    import pyarrow.parquet as pq

    st = os.stat(path)
    cache_key = (path, st.st_mtime_ns, st.st_size, tuple(keys))
    if cache_key not in _KEY_CACHE:
        table = pq.read_table(path, columns=keys).group_by(keys).aggregate([])
        frame = table.to_pandas()
        for stale in [k for k in _KEY_CACHE if k[0] == path]:
            del _KEY_CACHE[stale]
        _KEY_CACHE[cache_key] = pd.MultiIndex.from_frame(frame[keys].astype(str))
    return _KEY_CACHE[cache_key]


def _known_key_sets(store_or_tables: Any, service_name: str | None) -> list[tuple[str, list[str], pd.MultiIndex]]:
    out = []
    if isinstance(store_or_tables, Mapping):
        for name, table in store_or_tables.items():
            # an engine table: the view's join keys, then event_timestamp, ...
            cols = list(table.columns)
            if EVENT_TIMESTAMP not in cols:
                raise EntityFrameError(f"table '{name}' has no '{EVENT_TIMESTAMP}' column: not a feature table")
            keys = cols[: cols.index(EVENT_TIMESTAMP)]
            if keys:
                idx = pd.MultiIndex.from_frame(table[keys].drop_duplicates().astype(str))
                out.append((name, keys, idx))
        return out
    store = store_or_tables
    if service_name is not None:
        views = [(fv, keys) for fv, keys, _ in _service_views(store, _service(store, service_name))]
    else:
        views = [(fv, [k for k in fv.join_keys if k != _DUMMY_ID]) for fv in store.list_feature_views()]
    for fv, keys in views:
        if not keys:
            continue
        src = fv.batch_source
        path = getattr(src, "path", None)
        if not path:
            raise FeatureStoreError(f"cannot list the entities of view '{fv.name}': its source is not a file")
        if not _is_url(path) and not Path(path).is_absolute():
            path = str(Path(store.repo_path) / path)
        if not Path(path).exists():
            raise FeatureStoreError(f"source of feature view '{fv.name}' ({path}) does not exist: write the feature tables first")
        source_keys = [k for k in fv.join_keys if k != _DUMMY_ID]
        idx = _source_keys(path, source_keys)
        out.append((fv.name, keys, idx))
    return out


def unknown_entities(store_or_tables: Any, entity_df: pd.DataFrame, service_name: str | None = None) -> list[tuple]:
    """Entity key values of ``entity_df`` that occur in none of the rows of at
    least one feature source (so no feature value can ever come back for them).

    ``store_or_tables``: a FeatureStore (checks the parquet source of every
    view, or only the views of ``service_name``) or the dict returned by
    ``runway.features.engine.compute_feature_tables`` (a table's join keys are
    its columns before ``event_timestamp``). Returns unique tuples of the
    entity df's key values (all key columns checked, in order of first
    appearance), e.g. ``[("S999", "I001")]``; empty when all are known.
    """
    checks = _known_key_sets(store_or_tables, service_name)
    all_keys: list[str] = []
    for _, keys, _ in checks:
        all_keys += [k for k in keys if k not in all_keys]
    missing = [k for k in all_keys if k not in entity_df.columns]
    if missing:
        raise EntityFrameError(f"entity rows lack key column(s) {missing}")
    if not all_keys or entity_df.empty:
        return []
    # Check each distinct entity once (a batch repeats entities over many dates),
    # keeping the order of first appearance.
    uniq = entity_df[all_keys].drop_duplicates()
    bad = np.zeros(len(uniq), dtype=bool)
    for _, keys, idx in checks:
        rows = pd.MultiIndex.from_frame(uniq[keys].astype(str))
        bad |= ~rows.isin(idx)
    if not bad.any():
        return []
    found = uniq.loc[bad]
    return [tuple(r) for r in found.itertuples(index=False, name=None)]


def _refuse_unknown(store, entity_df: pd.DataFrame, service_name: str) -> None:
    unknown = unknown_entities(store, entity_df, service_name)
    if unknown:
        keys = entity_keys(store, service_name)
        shown = ", ".join("(" + ", ".join(f"{k}={v}" for k, v in zip(keys, u, strict=False)) + ")" for u in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise UnknownEntityError(
            f"{len(unknown)} entit{'y' if len(unknown) == 1 else 'ies'} never seen in the feature sources of "
            f"'{service_name}': {shown}{more}; pass allow_unknown_entities=True to get nulls instead",
            unknown,
        )


# -------------------------------------------------------------- retrieval --


def _quiet_duckdb() -> None:
    """The DuckDB offline store runs on ibis' default DuckDB connection, whose
    progress bar would land in pipeline logs; switch it off (best effort)."""
    try:
        import ibis

        ibis.get_backend().con.execute("SET enable_progress_bar = false")
    except Exception:  # cosmetic only
        logger.debug("could not switch off the DuckDB progress bar", exc_info=True)


def _utc_series(s: pd.Series, name: str) -> pd.Series:
    try:
        ts = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise EntityFrameError(f"entity timestamp column '{name}' is not a timestamp: {exc}") from None
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return ts.astype("datetime64[ns, UTC]")


def historical_features(
    store,
    entity_df: pd.DataFrame,
    service_name: str,
    timestamp_column: str,
    allow_unknown_entities: bool = False,
) -> pd.DataFrame:
    """Point-in-time join of ``service_name``'s features onto ``entity_df``.

    ``entity_df`` needs the service's join keys and ``timestamp_column`` (the
    target date: pass ``settings.contract.timestamp``; naive means UTC). Each
    row gets, per view, the latest feature row with ``event_timestamp <=`` its
    timestamp and within the view's TTL, else nulls. Returns ``entity_df``
    (same rows, order and index; duplicates kept) with the feature columns
    appended in ``feature_names`` order.

    Raises UnknownFeatureServiceError, EntityFrameError (missing key or
    timestamp column, nulls in them, a column named like a feature),
    UnknownEntityError (an entity absent from a source; not raised with
    ``allow_unknown_entities``) and RetrievalError (Feast lost or added rows).
    """
    service = _service(store, service_name)
    names = feature_names(store, service_name)
    keys = entity_keys(store, service_name)
    missing = [k for k in keys if k not in entity_df.columns]
    if missing:
        raise EntityFrameError(f"entity_df lacks key column(s) {missing} needed by feature service '{service_name}'; has {list(entity_df.columns)}")
    if timestamp_column not in entity_df.columns:
        raise EntityFrameError(f"entity_df lacks the timestamp column '{timestamp_column}'; has {list(entity_df.columns)}")
    clash = [c for c in entity_df.columns if c in names]
    if clash:
        raise EntityFrameError(f"entity_df column(s) {clash} have the name of feature(s) of '{service_name}': drop or rename them")
    if _ROW in entity_df.columns:
        raise EntityFrameError(f"entity_df must not have a column named '{_ROW}'")
    for col in [*keys, timestamp_column]:
        n_null = int(entity_df[col].isna().sum())
        if n_null:
            raise EntityFrameError(f"entity_df column '{col}' has {n_null} null value(s)")

    n = len(entity_df)
    result = entity_df.copy()
    if n == 0:
        for name in names:
            result[name] = pd.Series(dtype="float64")
        return result
    if not allow_unknown_entities:
        _refuse_unknown(store, entity_df, service_name)

    request = pd.DataFrame({k: entity_df[k].to_numpy() for k in keys})
    # .array, not .to_numpy(): a tz-aware column's to_numpy() builds one Timestamp object per row (~5 s at 1M rows).
    request[ENTITY_TIMESTAMP] = _utc_series(entity_df[timestamp_column], timestamp_column).array
    request[_ROW] = np.arange(n, dtype="int64")
    from runway.features.offline_store import RunwayAsofRetrievalJob

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", DeprecationWarning)
        job = store.get_historical_features(entity_df=request, features=service)
        if isinstance(job, RunwayAsofRetrievalJob) and not job.on_demand_feature_views and entity_df.columns.is_unique:
            # Runway's store hands over its columns in entity order: no frame of its
            # own to build, sort and copy out of (about 1 s at 1M rows).
            arrays = job.feature_arrays()
            _require_features(names, arrays)
            data = {c: result[c].array for c in result.columns}
            data.update({name: arrays[name] for name in names})
            return pd.DataFrame(data, index=result.index, copy=False)
        if not isinstance(job, RunwayAsofRetrievalJob):  # Runway's store runs its own quiet connection, not ibis'
            _quiet_duckdb()
        out = job.to_df()
    if len(out) != n:
        raise RetrievalError(f"Feast returned {len(out)} rows for {n} entity rows of '{service_name}'")
    rows = np.arange(n)
    if not np.array_equal(out[_ROW].to_numpy(), rows):  # Feast's own stores return rows in any order
        out = out.sort_values(_ROW, kind="stable")
        if not np.array_equal(out[_ROW].to_numpy(), rows):
            raise RetrievalError(f"Feast returned a different set of rows than the {n} entity rows of '{service_name}'")
    _require_features(names, out.columns)
    for name in names:
        result[name] = out[name].to_numpy()
    return result


def _require_features(names: list[str], got: Any) -> None:
    absent = [c for c in names if c not in got]
    if absent:
        raise RetrievalError(f"Feast result lacks feature column(s) {absent}")


def online_features(
    store,
    entity_rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    service_name: str,
    allow_unknown_entities: bool = False,
) -> pd.DataFrame:
    """Latest materialized values of ``service_name``'s features per entity row.

    Returns one row per entity row, in order: the join keys, then the features
    in ``feature_names`` order. An entity with no value in any of the
    service's keyed views (unknown, or never materialized) raises
    UnknownEntityError unless ``allow_unknown_entities``.
    """
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    service = _service(store, service_name)
    names = feature_names(store, service_name)
    keys = entity_keys(store, service_name)
    frame = entity_rows if isinstance(entity_rows, pd.DataFrame) else pd.DataFrame(list(entity_rows))
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise EntityFrameError(f"entity rows lack key column(s) {missing} needed by feature service '{service_name}'")
    for col in keys:
        if frame[col].isna().any():
            raise EntityFrameError(f"entity rows have null value(s) in key column '{col}'")
    rows = frame[keys].to_dict("records")
    if not rows:
        return pd.DataFrame(columns=[*keys, *names])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        response = store.get_online_features(features=service, entity_rows=rows)
    data = response.to_dict()
    out = pd.DataFrame({k: frame[k].to_numpy() for k in keys})
    for name in names:
        out[name] = data[name]

    if not allow_unknown_entities:
        keyed = {f for fv, ks, feats in _service_views(store, service) if ks for f in feats}
        found = np.zeros(len(rows), dtype=bool)
        for ref, result in zip(response.proto.metadata.feature_names.val, response.proto.results, strict=False):
            if ref in keyed:
                # SQLite says NOT_FOUND; Redis says PRESENT with empty values
                # and a zero timestamp for a key it does not hold.
                found |= np.array(
                    [st == FieldStatus.PRESENT and (ts.seconds or ts.nanos) for st, ts in zip(result.statuses, result.event_timestamps, strict=False)],
                    dtype=bool,
                )
        if not found.all():
            unknown = list(dict.fromkeys(tuple(r) for r in out.loc[~found, keys].itertuples(index=False, name=None)))
            shown = ", ".join("(" + ", ".join(f"{k}={v}" for k, v in zip(keys, u, strict=False)) + ")" for u in unknown[:5])
            raise UnknownEntityError(
                f"{len(unknown)} entit{'y' if len(unknown) == 1 else 'ies'} have no online value in '{service_name}' "
                f"(unknown, or not materialized yet): {shown}; pass allow_unknown_entities=True to get nulls instead",
                unknown,
            )
    return out
