"""Online scoring: validate request rows, read features, score through the fallback chain.

One request carries one or many entity rows. Each row is answered on its own:

1. **hybrid** (``serving.use_batch_predictions``): if the batch pipeline
   scored that entity for the requested date, its stored prediction is
   returned (``source: batch``);
2. otherwise the served features are read from the Feast online store, the
   row's request features are added, and the fallback chain
   (``inference.fallback``: production -> last_known_good -> baseline) scores
   it (``source: online``). A level that cannot serve is skipped with a
   reason code, recorded on the row:

   ============================  ====================================================
   ``no_version``                the registry has no such version (yet)
   ``artifact_sha_mismatch``     the artifact's bytes do not hash to the recorded sha256
   ``load_failure``              the artifact could not be read or unpickled
   ``feature_store_outage``      the online store read failed (every model level)
   ``missing_entity``            no online value for the entity in a view
   ``stale_entity``              the view's value is older than its TTL at the
                                 requested time, or stamped after it
   ``prediction_failure``        the model raised, or returned a non-finite value
   ============================  ====================================================

3. the **baseline** always answers (see ``BaselineRule``).

Models are loaded (sha256-verified) by a background poll, never on the
request path: ``ModelSource.current()`` returns an immutable snapshot, read
once per request, and ``poll()`` swaps in a new one when the registry's
production / last-known-good / staging versions change. A request in flight
keeps the snapshot it started with, so a promotion or rollback drops none.

Everything the service talks to is an injectable object: a ``ModelSource``
(``RegistryModelSource`` over a ``RegistryBackend``, ``ZenMLRegistryBackend``
being the real one; ``StaticModelSource`` for fixed models), a
``FeatureSource`` (``FeastFeatureSource``, with a circuit breaker) and an
optional ``BatchPredictionSource``. ``OnlineService`` ties them together
(``build_service(settings)`` wires the real ones); ``MicroBatcher`` scores
concurrent requests together; the HTTP layer is ``runway.serving.app``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from runway.serving.fallback import last_known_good, shadow_mask
from runway.serving.metrics import ServingMetrics

logger = logging.getLogger(__name__)

PRODUCTION, LAST_KNOWN_GOOD, BASELINE, CANARY = "production", "last_known_good", "baseline", "canary"
MODEL_LEVELS = (PRODUCTION, LAST_KNOWN_GOOD)

# Reason codes (see the module docstring).
NO_VERSION = "no_version"
SHA_MISMATCH = "artifact_sha_mismatch"
LOAD_FAILURE = "load_failure"
FEATURE_STORE_OUTAGE = "feature_store_outage"
MISSING_ENTITY = "missing_entity"
STALE_ENTITY = "stale_entity"
PREDICTION_FAILURE = "prediction_failure"
REASONS = (NO_VERSION, SHA_MISMATCH, LOAD_FAILURE, FEATURE_STORE_OUTAGE, MISSING_ENTITY, STALE_ENTITY, PREDICTION_FAILURE)

_DUMMY_ID = "__dummy_id"  # Feast's join key of entityless views


def _use_case_path(settings: Any, *parts: str) -> Path:
    if hasattr(settings, "use_case_path"):
        return settings.use_case_path(*parts)
    return settings.workspace_path(*parts)


# ================================================================ requests ==


class RequestValidationError(ValueError):
    """The request body does not match the use case's contract.

    ``errors`` is a list of ``{"loc", "row", "field", "msg", "type"}`` in
    FastAPI's 422 shape (``loc`` = ``["body", "rows", <row>, <field>]``).
    """

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e["msg"] for e in errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class _FieldRule:
    name: str
    dtype: str
    required: bool
    nullable: bool
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    pii: bool = False  # personal data: never quoted back
    hashed: bool = False  # replaced by its keyed hash once checked (privacy.columns: hash)


@dataclass(frozen=True)
class ParsedRows:
    keys: list[dict[str, Any]]  # entity keys per row, typed
    features: dict[str, list[Any]]  # request feature -> values per row
    as_of: list[datetime]  # the time each row is scored for (UTC)
    timestamps: list[str | None]  # as given (echoed back)

    def __len__(self) -> int:
        return len(self.keys)


_MAX_ERRORS = 50


def _shown(r: _FieldRule, value: Any) -> str:
    return "a value not shown (pii)" if r.pii else repr(value)


def _parse_time(value: str) -> datetime:
    t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class RequestSchema:
    """Request rows checked against the contract: entity keys (required, not
    null), the timestamp (optional; the time the prediction is for, default
    now) and the request features (required, nullable as the contract says).
    Other fields are ignored.

    A field the contract marks ``pii`` is checked on its raw value, then
    replaced by the keyed hash ingestion gives it (``runway.data.privacy``),
    so the online read, the model, the response, the canary log and the
    batch-prediction lookup only ever see the hashed value; an error about
    it does not quote the value."""

    def __init__(self, settings: Any):
        from runway.data.privacy import ValueHasher

        cols = settings.contract.columns
        self.keys = list(settings.entity_keys)
        self.timestamp = settings.contract.timestamp
        self.request = [c for c in settings.features.request if c not in self.keys]
        self.hasher = ValueHasher(settings)

        def rule(name: str, required: bool, nullable: bool) -> _FieldRule:
            c = cols[name]
            if c.pii and name not in self.hasher.dtypes:  # load_settings refuses this too (config checks)
                from runway.config import ConfigError

                raise ConfigError(f"'{name}' is marked pii and used by the request but not hashed; set privacy.columns.{name}: hash")
            return _FieldRule(
                name, c.dtype, required, nullable and c.nullable, c.min, c.max, tuple(c.allowed) if c.allowed else None, c.pii, name in self.hasher.dtypes
            )

        self.rules = [rule(k, True, False) for k in self.keys]
        self.rules += [rule(f, True, True) for f in self.request]
        self.ts_rule = _FieldRule(self.timestamp, "datetime", False, True)

    def _check(self, r: _FieldRule, value: Any) -> tuple[Any, str | None, str]:
        """(converted value, error message or None, error type)."""
        if value is None:
            return None, (None if r.nullable else f"'{r.name}' must not be null"), "null_error"
        t = r.dtype
        if t == "string":
            if not isinstance(value, str):
                return None, f"'{r.name}' must be a string, got {type(value).__name__}", "type_error"
            if r.allowed is not None and value not in r.allowed:
                return None, f"'{r.name}' must be one of {list(r.allowed)}, got {_shown(r, value)}", "value_error"
            return value, None, ""
        if t == "bool":
            if not isinstance(value, bool):
                return None, f"'{r.name}' must be a boolean, got {type(value).__name__}", "type_error"
            return value, None, ""
        if t == "datetime":
            if not isinstance(value, str):
                return None, f"'{r.name}' must be an ISO 8601 date or time string, got {type(value).__name__}", "type_error"
            try:
                return _parse_time(value), None, ""
            except ValueError:
                return None, f"'{r.name}' is not an ISO 8601 date or time: {value!r}", "type_error"
        # int / float
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"'{r.name}' must be a number, got {type(value).__name__}", "type_error"
        if t == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    return None, f"'{r.name}' must be an integer, got {_shown(r, value)}", "type_error"
                value = int(value)
        elif not math.isfinite(value):
            return None, f"'{r.name}' must be finite", "value_error"
        if r.min is not None and value < r.min:
            return None, f"'{r.name}' must be >= {r.min:g}, got {_shown(r, value)}", "value_error"
        if r.max is not None and value > r.max:
            return None, f"'{r.name}' must be <= {r.max:g}, got {_shown(r, value)}", "value_error"
        return value, None, ""

    def parse(self, payload: Any, max_rows: int, now: datetime | None = None) -> ParsedRows:
        if not isinstance(payload, Mapping) or "rows" not in payload:
            raise RequestValidationError(
                [{"loc": ["body", "rows"], "row": None, "field": "rows", "msg": "body must be a JSON object with a 'rows' list", "type": "missing"}]
            )
        rows = payload["rows"]
        if not isinstance(rows, list) or not rows:
            raise RequestValidationError(
                [{"loc": ["body", "rows"], "row": None, "field": "rows", "msg": "'rows' must be a non-empty list of objects", "type": "type_error"}]
            )
        if len(rows) > max_rows:
            raise RequestValidationError(
                [
                    {
                        "loc": ["body", "rows"],
                        "row": None,
                        "field": "rows",
                        "msg": f"at most {max_rows} rows per request (serving.max_entities_per_request), got {len(rows)}",
                        "type": "too_many_rows",
                    }
                ]
            )
        now = now or datetime.now(UTC)
        errors: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        feats: dict[str, list[Any]] = {f: [] for f in self.request}
        as_of: list[datetime] = []
        stamps: list[str | None] = []

        def err(i: int, name: str, msg: str, typ: str) -> None:
            if len(errors) < _MAX_ERRORS:
                errors.append({"loc": ["body", "rows", i, name], "row": i, "field": name, "msg": f"row {i}: {msg}", "type": typ})

        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                err(i, "", "each row must be a JSON object", "type_error")
                continue
            k: dict[str, Any] = {}
            for r in self.rules:
                if r.name not in row:
                    if r.required:
                        err(i, r.name, f"field '{r.name}' is missing", "missing")
                    continue
                v, msg, typ = self._check(r, row[r.name])
                if msg:
                    err(i, r.name, msg, typ)
                    continue
                if r.hashed:
                    v = self.hasher(r.name, v)
                if r.name in feats:
                    feats[r.name].append(v)
                else:
                    k[r.name] = v
            keys.append(k)
            raw_ts = row.get(self.timestamp)
            if raw_ts is None:
                as_of.append(now)
                stamps.append(None)
            else:
                t, msg, typ = self._check(self.ts_rule, raw_ts)
                if msg:
                    err(i, self.timestamp, msg, typ)
                as_of.append(t or now)
                stamps.append(raw_ts if isinstance(raw_ts, str) else None)
        if errors:
            raise RequestValidationError(errors)
        return ParsedRows(keys, feats, as_of, stamps)


# ================================================================ features ==


class FeatureStoreUnavailable(RuntimeError):
    """The online store (or its registry) could not be read."""


@dataclass
class FeatureLookup:
    """Online values of one read, with each view's state per row."""

    values: dict[str, list[Any]]  # feature -> values per row (None: no value)
    view_of: dict[str, str]  # feature -> view
    problems: list[list[tuple[str, str, str]]]  # per row: (view, reason code, detail)

    def ok(self, row: int) -> bool:
        return not self.problems[row]

    def view_ok(self, row: int, view: str) -> bool:
        return all(v != view for v, _, _ in self.problems[row])


class FeatureSource(Protocol):
    kind: str  # label of the store in metrics: "sqlite", "redis", ...
    names: list[str]  # served features
    view_of: dict[str, str]

    def lookup(self, entity_rows: list[dict[str, Any]], as_of: list[datetime]) -> FeatureLookup: ...

    def check(self) -> None:
        """Raise when the store cannot be read."""

    def refresh(self) -> None:
        """Background upkeep (registry refresh); called by the poller."""


@dataclass(frozen=True)
class _View:
    name: str
    keys: list[str]
    ttl: timedelta | None
    features: list[str]


@dataclass(frozen=True)
class _DirectView:
    """What one view's ``OnlineStore.online_read`` needs, resolved once."""

    name: str
    table: Any  # the feast FeatureView
    features: list[str]
    join_keys: list[tuple[str, Any]]  # (join key, its feast ValueType)
    types: dict[str, Any]  # feature -> feast ValueType (as OnlineResponse.to_dict converts)


def _entity_values(values: list[Any], value_type: Any, general: Callable[[list[Any], Any], list[Any]]) -> list[Any]:
    """Entity key values as Feast's ``python_values_to_proto_values`` makes
    them; a string or int64 key (the usual ones) is built directly."""
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.value_type import ValueType

    if value_type == ValueType.STRING and all(type(v) is str for v in values):
        return [Value(string_val=v) for v in values]
    if value_type == ValueType.INT64 and all(type(v) is int for v in values):
        return [Value(int64_val=v) for v in values]
    return general(values, value_type)


class FeastFeatureSource:
    """The use case's feature service, read from the Feast online store.

    Reads with ``FeatureStore.get_online_features`` directly (the same call
    ``runway.features.store.online_features`` makes) because a request needs
    each row's state per view, not one exception for the whole request: an
    unknown entity must send *that* row to the baseline. A row is refused by
    a view when the view has no value for it (``missing_entity``), or the
    value's event time is more than the view's TTL before the requested time
    or after it (``stale_entity``: the online store holds one row per entity,
    the latest materialized; it answers for that target date only).

    The read itself: for plain feature views (no join-key aliases, no
    entityless or versioned view) the store's own ``online_read`` is called
    per view with the entity keys built as Feast builds them, and values are
    converted as ``OnlineResponse.to_dict`` converts them; that skips the
    ``get_online_features`` wrapper (entity resolution, a response proto
    built and then decoded again), which cost about two thirds of a
    one-entity read. Anything else goes through ``get_online_features``.
    Both give the same values and states (tested on SQLite and Redis).

    A circuit breaker bounds what an outage costs: after a failed read the
    store is not asked again for ``breaker_seconds`` (requests fail over to
    the baseline at once, with the last error as the reason); then one
    request (or the poller's ``refresh``) probes it while the others keep
    failing fast, and a successful read closes the breaker. Without it a
    dead Redis would hold every request for the client's retries (~9 s with
    redis-py 7 defaults).
    """

    def __init__(self, settings: Any, store: Any = None, service_name: str | None = None, breaker_seconds: float = 5.0, direct: bool = True):
        self.settings = settings
        self.direct = direct
        self.breaker_seconds = float(breaker_seconds)
        self._open_until = 0.0  # 0: closed
        self._last_error = ""
        self._probe = threading.Lock()
        self.service_name = service_name or settings.features.service_name
        self.kind = settings.environment.feast.online_store
        self._store = store
        self._lock = threading.Lock()
        self._service = None
        self._resolved: tuple = (None, [], [], None)
        self._views: list[_View] = []
        self.names: list[str] = []
        self.keys: list[str] = []
        self.view_of: dict[str, str] = {}
        self._key_types: dict[str, str] = {}
        self._next_try = 0.0
        try:
            self._resolve()
        except Exception as exc:  # noqa: BLE001 - the store may come up later
            logger.warning("feature service %s not available yet: %s", self.service_name, exc)

    # -- setup ---------------------------------------------------------------
    def _open(self):
        if self._store is None:
            from runway.features.store import open_store

            self._store = open_store(self.settings)
        return self._store

    def _resolve(self) -> None:
        store = self._open()
        service = store.get_feature_service(self.service_name)
        views, names, keys, view_of = [], [], [], {}
        for proj in service.feature_view_projections:
            fv = store.get_feature_view(proj.name)
            ks = [k for k in fv.join_keys if k != _DUMMY_ID]
            if proj.join_key_map:
                ks = [proj.join_key_map.get(k, k) for k in ks]
            feats = [f.name for f in proj.features]
            ttl = fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None
            views.append(_View(proj.name_alias or proj.name, ks, ttl, feats))
            names += feats
            keys += [k for k in ks if k not in keys]
            view_of.update(dict.fromkeys(feats, proj.name_alias or proj.name))
        key_types = {k: self.settings.contract.columns[k].dtype if k in self.settings.contract.columns else "string" for k in keys}
        direct = self._direct_views(store, service) if self.direct else None
        with self._lock:  # readers take (service, views, keys, direct) as one tuple
            self._resolved = (service, views, keys, direct)
            self._service, self._views, self.names, self.keys, self.view_of, self._key_types = service, views, names, keys, view_of, key_types

    @staticmethod
    def _direct_views(store: Any, service: Any) -> list[_DirectView] | None:
        """The per-view reads of ``service``, or None when one of its views
        needs Feast's general path (aliases, entityless, versions, on-demand)."""
        out = []
        for proj in service.feature_view_projections:
            if proj.join_key_map or getattr(proj, "version_tag", None) is not None:
                return None
            try:
                fv = store.get_feature_view(proj.name)
            except Exception:  # noqa: BLE001 - e.g. an on-demand view
                return None
            if not fv.entities or _DUMMY_ID in fv.join_keys:
                return None
            join_keys = []
            for name in fv.entities:
                entity = store.get_entity(name)
                join_keys.append((entity.join_key, entity.value_type))
            features = [f.name for f in proj.features]
            types = {f.name: f.dtype.to_value_type() for f in fv.features if f.name in features}
            out.append(_DirectView(proj.name_alias or proj.name, fv, features, join_keys, types))
        return out

    def _ready_service(self):
        if self._service is None:
            now = time.monotonic()
            if now < self._next_try:
                raise FeatureStoreUnavailable(f"feature service '{self.service_name}' is not resolved (registry unavailable); retrying")
            self._next_try = now + 1.0
            try:
                self._resolve()
            except Exception as exc:
                raise FeatureStoreUnavailable(f"feature service '{self.service_name}': {type(exc).__name__}: {exc}") from exc
        return self._service

    def refresh(self) -> None:
        """Refresh Feast's registry cache off the request path (Feast would
        otherwise refresh it synchronously inside a request once its TTL ends),
        pick up a changed service definition, and probe an open breaker."""
        store = self._open()
        store.refresh_registry()
        self._resolve()
        if self._open_until and time.monotonic() >= self._open_until:
            with contextlib.suppress(FeatureStoreUnavailable):
                self.check()

    @property
    def breaker_open(self) -> bool:
        return bool(self._open_until)

    # -- reads -----------------------------------------------------------------
    def lookup(self, entity_rows: list[dict[str, Any]], as_of: list[datetime]) -> FeatureLookup:
        probing = False
        if self._open_until:
            if time.monotonic() < self._open_until or not self._probe.acquire(blocking=False):
                raise FeatureStoreUnavailable(f"online store unavailable (not retried for {self.breaker_seconds:g} s after: {self._last_error})")
            probing = True
        try:
            result = self._read(entity_rows, as_of)
        except FeatureStoreUnavailable as exc:
            self._last_error = str(exc)
            if not self._open_until:
                logger.error("online store read failed, answering from the fallback: %s", exc)
            self._open_until = time.monotonic() + self.breaker_seconds
            raise
        finally:
            if probing:
                self._probe.release()
        if self._open_until:
            logger.warning("online store answers again")
            self._open_until = 0.0
        return result

    def _read(self, entity_rows: list[dict[str, Any]], as_of: list[datetime]) -> FeatureLookup:
        self._ready_service()
        service, views, keys, direct = self._resolved
        rows = [{k: r[k] for k in keys} for r in entity_rows]
        try:
            data, stamps = self._read_direct(direct, rows) if direct is not None else self._read_feast(service, views, rows)
        except Exception as exc:
            raise FeatureStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        n = len(rows)
        problems: list[list[tuple[str, str, str]]] = [[] for _ in range(n)]
        for view in views:
            if view.name not in stamps:
                continue
            for i, stamp in enumerate(stamps[view.name]):
                if stamp is None:
                    what = ", ".join(f"{k}={rows[i][k]}" for k in view.keys) or "the date"
                    problems[i].append((view.name, MISSING_ENTITY, f"view '{view.name}' has no online value for {what} (unknown, or not materialized)"))
                    continue
                at = as_of[i]
                if stamp > at:
                    problems[i].append(
                        (
                            view.name,
                            STALE_ENTITY,
                            f"view '{view.name}' holds the value stamped {stamp.isoformat()}, after the requested time {at.isoformat()} "
                            "(the online store answers for its latest materialized date only)",
                        )
                    )
                elif view.ttl is not None and at - stamp > view.ttl:
                    problems[i].append(
                        (
                            view.name,
                            STALE_ENTITY,
                            f"view '{view.name}' value stamped {stamp.isoformat()} is older than its TTL ({view.ttl}) at {at.isoformat()}",
                        )
                    )
        view_of = {f: v.name for v in views for f in v.features}
        return FeatureLookup({f: data[f] for f in view_of}, view_of, problems)

    def _read_feast(self, service: Any, views: list[_View], rows: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], dict[str, list[datetime | None]]]:
        """(feature -> values, view -> event time per row or None when the view
        has no value for it) through ``get_online_features``: the general path."""
        from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

        response = self._store.get_online_features(features=service, entity_rows=rows)
        data = response.to_dict()
        proto = response.proto
        index = {name: i for i, name in enumerate(proto.metadata.feature_names.val)}
        present = FieldStatus.PRESENT
        stamps: dict[str, list[datetime | None]] = {}
        for view in views:
            if not view.features or view.features[0] not in index:
                continue
            result = proto.results[index[view.features[0]]]
            stamps[view.name] = [
                datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC) if status == present and (ts.seconds or ts.nanos) else None
                for status, ts in zip(result.statuses, result.event_timestamps, strict=True)
            ]
        return data, stamps

    def _read_direct(self, direct: list[_DirectView], rows: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], dict[str, list[datetime | None]]]:
        """The same as ``_read_feast``, one ``online_read`` per view. A view
        has a value for a row when the row was found with an event time and
        the view's first feature (what the general path's status says);
        Redis answers an unknown key with empty values stamped at epoch 0."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values

        store = self._store
        online, config = store._get_provider().online_store, store.config  # noqa: SLF001 - the store get_online_features reads
        data: dict[str, list[Any]] = {}
        stamps: dict[str, list[datetime | None]] = {}
        for dv in direct:
            names = [k for k, _ in dv.join_keys]
            columns = [_entity_values([r[k] for r in rows], vt, python_values_to_proto_values) for k, vt in dv.join_keys]
            entity_keys = [EntityKey(join_keys=names, entity_values=[c[i] for c in columns]) for i in range(len(rows))]
            read = online.online_read(config=config, table=dv.table, entity_keys=entity_keys, requested_features=list(dv.features))
            if dv.features:  # a view without features has no state (as in the general path)
                first = dv.features[0]
                stamps[dv.name] = [ts if found is not None and ts is not None and first in found and ts.timestamp() != 0 else None for ts, found in read]
            for f in dv.features:
                vt = dv.types.get(f)
                data[f] = [None if found is None or f not in found else feast_value_type_to_python_type(found[f], vt) for _, found in read]
        return data, stamps

    def check(self) -> None:
        """One read of a sentinel entity: raises when the store cannot be read."""
        self._ready_service()
        sentinel = {k: (-1 if self._key_types.get(k) == "int" else "__runway_readyz__") for k in self.keys}
        self.lookup([sentinel], [datetime.now(UTC)])


# ================================================================== models ==


@dataclass(frozen=True)
class LoadedModel:
    role: str  # production | last_known_good | canary
    version: str
    model: Any  # has .features and .predict(frame)
    sha256: str | None


@dataclass(frozen=True)
class Skip:
    """Why a level could not serve a row (or any row)."""

    level: str
    version: str | None
    reason: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "version": self.version, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class ModelSnapshot:
    """What the service scores with, immutable: swapped whole by ``poll``."""

    models: Mapping[str, LoadedModel] = field(default_factory=dict)
    skips: Mapping[str, Skip] = field(default_factory=dict)  # model level -> why it has no model
    prior_rate: float | None = None  # classification baseline, recorded with production
    target_mean: float | None = None  # regression baseline of last resort, if recorded
    generation: int = 0
    loaded: bool = False  # at least one poll reached the registry
    error: str | None = None  # the last poll's failure (models kept)

    def signature(self) -> tuple:
        return (
            tuple(sorted((r, m.version, m.sha256) for r, m in self.models.items())),
            tuple(sorted((lvl, s.version, s.reason) for lvl, s in self.skips.items())),
            self.prior_rate,
            self.target_mean,
        )


@dataclass(frozen=True)
class RegistryState:
    production: str | None
    last_known_good: str | None
    canary: str | None  # the staging candidate, if any
    expected_sha: Mapping[str, str | None] = field(default_factory=dict)  # version -> sha256 its load checks
    metadata: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # version -> recorded metadata


class RegistryBackend(Protocol):
    def state(self) -> RegistryState: ...

    def load(self, role: str, version: str) -> Any:
        """The verified model artifact; raises ArtifactIntegrityError on a hash mismatch."""


class ModelSource(Protocol):
    def current(self) -> ModelSnapshot: ...

    def poll(self) -> bool:
        """Check the registry; swap the snapshot if it changed. True on a swap."""


def _is_integrity_error(exc: BaseException) -> bool:
    try:
        from runway.modeling.artifact import ArtifactIntegrityError

        if isinstance(exc, ArtifactIntegrityError):
            return True
    except ImportError:  # pragma: no cover - artifact module being rewritten
        pass
    return type(exc).__name__ == "ArtifactIntegrityError"


def _metadata_number(sources: Sequence[Mapping[str, Any] | None], keys: Sequence[str]) -> float | None:
    for src in sources:
        for k in keys:
            v = (src or {}).get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                return float(v)
    return None


def _prepare(model: Any) -> None:
    """Build the model's fast path (``ModelArtifact.fast_path``) at load, off
    the request path; a model without one is left as it is."""
    build = getattr(model, "fast_path", None)
    if callable(build):
        try:
            build()
        except Exception as exc:  # noqa: BLE001 - the regular path still serves
            logger.warning("model fast path not prepared: %s", exc)


PRIOR_KEYS = ("positive_rate", "prior_rate")
MEAN_KEYS = ("target_mean",)


class RegistryModelSource:
    """Models of a registry, loaded and verified off the request path.

    Loads are cached per (version, expected sha256), so a rollback to the
    last-known-good version swaps instantly; a load that failed is retried
    on every poll (a repaired artifact comes back by itself).
    """

    def __init__(self, backend: RegistryBackend, levels: Sequence[str] = MODEL_LEVELS, canary: bool = False):
        self.backend = backend
        self.levels = [lvl for lvl in levels if lvl in MODEL_LEVELS]
        self.canary = canary
        self._snapshot = ModelSnapshot()
        self._cache: dict[tuple[str, str | None], LoadedModel] = {}
        self._lock = threading.Lock()  # one poll at a time

    def current(self) -> ModelSnapshot:
        return self._snapshot

    def poll(self) -> bool:
        with self._lock:
            old = self._snapshot
            try:
                st = self.backend.state()
            except Exception as exc:
                self._snapshot = replace(old, error=f"registry: {type(exc).__name__}: {exc}")
                raise
            want: dict[str, str | None] = {}
            if PRODUCTION in self.levels:
                want[PRODUCTION] = st.production
            if LAST_KNOWN_GOOD in self.levels:
                want[LAST_KNOWN_GOOD] = st.last_known_good
            if self.canary and st.canary and st.canary not in (st.production, st.last_known_good):
                want[CANARY] = st.canary
            models: dict[str, LoadedModel] = {}
            skips: dict[str, Skip] = {}
            used: set[tuple[str, str | None]] = set()
            for role, version in want.items():
                if version is None:
                    what = "no production version" if role == PRODUCTION else "no earlier production version"
                    skips[role] = Skip(role, None, NO_VERSION, f"the registry has {what}")
                    continue
                key = (version, st.expected_sha.get(version))
                used.add(key)
                cached = self._cache.get(key)
                if cached is None:
                    try:
                        model = self.backend.load(role, version)
                    except Exception as exc:  # noqa: BLE001 - a level that cannot load is skipped
                        reason = SHA_MISMATCH if _is_integrity_error(exc) else LOAD_FAILURE
                        if role != CANARY:
                            skips[role] = Skip(role, version, reason, f"{type(exc).__name__}: {exc}")
                        prev = old.skips.get(role)
                        if prev is None or prev.version != version or prev.reason != reason:
                            logger.error("%s v%s cannot serve (%s): %s", role, version, reason, exc)
                        continue
                    _prepare(model)
                    cached = LoadedModel(role, version, model, key[1])
                    self._cache[key] = cached
                models[role] = replace(cached, role=role) if cached.role != role else cached
            self._cache = {k: v for k, v in self._cache.items() if k in used}
            prod = models.get(PRODUCTION)
            prod_meta = getattr(prod.model, "metadata", None) if prod else None
            recorded = st.metadata.get(st.production or "", {})
            new = ModelSnapshot(
                models=models,
                skips=skips,
                prior_rate=_metadata_number([prod_meta, recorded], PRIOR_KEYS),
                target_mean=_metadata_number([prod_meta, recorded], MEAN_KEYS),
                generation=old.generation,
                loaded=True,
                error=None,
            )
            changed = new.signature() != old.signature() or not old.loaded
            if changed:
                new = replace(new, generation=old.generation + 1)
                logger.info("serving models: %s", {r: m.version for r, m in models.items()} or "none")
            self._snapshot = new  # one reference assignment: atomic for readers
            return changed


class StaticModelSource:
    """Fixed models, no registry (benchmarks, local experiments): ``models``
    maps a role (production, last_known_good, canary) to a loaded artifact."""

    def __init__(self, models: Mapping[str, tuple[str, Any]], sha256: Mapping[str, str] | None = None):
        for _, m in models.values():
            _prepare(m)
        loaded = {role: LoadedModel(role, str(v), m, (sha256 or {}).get(role)) for role, (v, m) in models.items()}
        prod = loaded.get(PRODUCTION)
        meta = getattr(prod.model, "metadata", None) if prod else None
        skips = {lvl: Skip(lvl, None, NO_VERSION, "no such model given") for lvl in MODEL_LEVELS if lvl not in loaded}
        self._snapshot = ModelSnapshot(loaded, skips, _metadata_number([meta], PRIOR_KEYS), _metadata_number([meta], MEAN_KEYS), 1, True)

    def current(self) -> ModelSnapshot:
        return self._snapshot

    def poll(self) -> bool:
        return False


class ZenMLRegistryBackend:
    """Runway's registry on ZenML's Model Control Plane (``runway.governance.registry``).

    production: the one production version; last_known_good: the version
    production before it (decision log); canary: the newest staging version.
    Production and last-known-good load through ``registry.load_verified``
    (sha256 from the decision log); the canary through its recorded
    ``artifact_sha256`` and is refused without one.
    """

    def __init__(self, settings: Any):
        self.settings = settings
        self.model = settings.model.name
        self._canary_sha: dict[str, str | None] = {}
        self._recorded: dict[str, dict[str, Any]] = {}

    def _metadata(self, version: str) -> dict[str, Any]:
        """Baseline figures logged on the version (``positive_rate``,
        ``target_mean``), if any: they hold even when its artifact is refused."""
        if version not in self._recorded:
            try:
                from zenml.client import Client

                md = Client().get_model_version(self.model, version).run_metadata
                self._recorded[version] = {k: md[k] for k in (*PRIOR_KEYS, *MEAN_KEYS) if k in md}
            except Exception:  # noqa: BLE001 - optional figures
                return {}
        return self._recorded[version]

    def state(self) -> RegistryState:
        from runway.governance import registry

        prod = registry.production(self.model)
        log = registry.decision_log(self.settings)
        pv = prod.version if prod else None
        lkg = last_known_good(log.production_history(self.model), pv)
        staging = registry.list_versions(self.model, stage="staging")
        cand = max(staging, key=lambda v: v.number) if staging else None
        expected = {v: log.promoted_sha(self.model, v) for v in (pv, lkg) if v}
        if cand is not None:
            self._canary_sha = {cand.version: cand.artifact_sha256}
            expected.setdefault(cand.version, cand.artifact_sha256)
        return RegistryState(pv, lkg, cand.version if cand else None, expected, {pv: self._metadata(pv)} if pv else {})

    def load(self, role: str, version: str) -> Any:
        from runway.governance import registry
        from runway.modeling.artifact import ArtifactIntegrityError, deserialize_verified

        if role == CANARY:
            sha = self._canary_sha.get(version)
            if not sha:
                raise ArtifactIntegrityError(f"staging version {version} has no recorded {registry.SHA_KEY}; refusing to unpickle it")
            return deserialize_verified(registry.read_model_bytes(self.model, version), sha)
        return registry.load_verified(self.settings, self.model, version)


# ======================================================= batch predictions ==


@dataclass(frozen=True)
class BatchHit:
    prediction: float
    version: str | None
    level: str
    batch: str


def _level_of(served_by: Any) -> str:
    s = str(served_by)
    return s if s in MODEL_LEVELS else BASELINE


class BatchPredictionSource:
    """The batch pipeline's stored predictions, by (entity keys, date), for
    the hybrid mode. Reloaded by the poller when the parquet files change
    (a SQL sink is re-read on every poll). The latest batch wins when several
    scored the same entity and date."""

    def __init__(self, settings: Any, reader: Callable[[], pd.DataFrame] | None = None):
        self.settings = settings
        self.keys = list(settings.entity_keys)
        self.timestamp = settings.contract.timestamp
        self._reader = reader
        self._table: dict[tuple, BatchHit] = {}
        self._fingerprint: Any = object()

    def _read(self) -> pd.DataFrame:
        if self._reader is not None:
            return self._reader()
        from runway.serving import predictions as predictions_lib

        try:
            return predictions_lib.read_predictions(self.settings)
        except FileNotFoundError:
            return pd.DataFrame()

    def _current_fingerprint(self) -> Any:
        if self._reader is not None:
            return None  # injected readers are read every time
        from runway.config import reveal

        if reveal(self.settings.environment.predictions_sink):
            return None
        root = _use_case_path(self.settings, "predictions")
        files = sorted(root.glob("batch=*/predictions.parquet"))
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)

    def refresh(self) -> bool:
        fp = self._current_fingerprint()
        if fp is not None and fp == self._fingerprint:
            return False
        frame = self._read()
        table: dict[tuple, BatchHit] = {}
        need = [*self.keys, self.timestamp, "prediction"]
        if not frame.empty and all(c in frame.columns for c in need):
            f = frame.dropna(subset=["prediction"])
            if "batch" in f.columns:
                f = f.sort_values("batch", kind="stable")
            day = pd.to_datetime(f[self.timestamp], utc=True).dt.strftime("%Y-%m-%d")
            key_cols = [f[k].astype(str).to_numpy() for k in self.keys]
            versions = f["model_version"].astype(str).to_numpy() if "model_version" in f.columns else [None] * len(f)
            levels = f["served_by"].to_numpy() if "served_by" in f.columns else [PRODUCTION] * len(f)
            batches = f["batch"].astype(str).to_numpy() if "batch" in f.columns else [""] * len(f)
            for i, (d, p) in enumerate(zip(day.to_numpy(), f["prediction"].to_numpy(dtype=float), strict=True)):
                table[(*(c[i] for c in key_cols), d)] = BatchHit(float(p), versions[i], _level_of(levels[i]), batches[i])
        self._table = table
        self._fingerprint = fp
        return True

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, keys: Mapping[str, Any], as_of: datetime) -> BatchHit | None:
        if not self._table:
            return None
        return self._table.get((*(str(keys[k]) for k in self.keys), as_of.strftime("%Y-%m-%d")))


# ================================================================ baseline ==


class BaselineRule:
    """The last level of the chain online, where no history is at hand.

    * binary_classification: the prior (positive) rate recorded with the
      production version (its artifact's ``metadata["positive_rate"]``),
      else ``serving.baseline_prior`` if the settings have it, else 0.5; the
      same value for every row.
    * regression: per entity, the first usable value among the served
      features derived from the target by a label-derived (``known: lagged``)
      view, in this order:

      1. its lags: for ``seasonal_naive`` only lags that are whole multiples
         of ``period_days`` (the same weekday k periods back), shortest first;
         for ``last_value`` all lags, shortest first;
      2. its rolling means, longest window first (the closest thing to the
         entity mean the batch rule falls back to);
      3. a constant: ``metadata["target_mean"]`` of the production artifact
         if recorded, else ``model.clip_min``, else 0.

      A feature is usable for a row when its view answered for that row
      (not missing, not stale) with a finite value. The value is clipped to
      ``model.clip_min``/``clip_max``. During a feature store outage only the
      constant is left: the response says so (``rule: "constant"``).
    """

    def __init__(self, settings: Any, served: Sequence[str]):
        from runway.features.naming import expand

        self.task = settings.model.task
        self.clip = (settings.model.clip_min, settings.model.clip_max)
        self.configured_prior = getattr(settings.serving, "baseline_prior", None)
        self.threshold = settings.model.threshold if isinstance(settings.model.threshold, float) else None
        target, b = settings.model.target, settings.evaluation.baseline
        lags: list[tuple[int, str]] = []
        means: list[tuple[int, str]] = []
        for view in settings.features.views:
            if view.known != "lagged":
                continue
            for spec in view.features:
                if spec.column != target or not spec.serve:
                    continue
                for name, params in expand(spec):
                    if spec.transform == "lag":
                        if b.kind != "seasonal_naive" or params["days"] % b.period_days == 0:
                            lags.append((params["days"], name))
                    elif spec.transform == "rolling" and params.get("stat") == "mean":
                        means.append((params["days"], name))
        served_set = set(served)
        self.candidates = [n for _, n in sorted(lags)] + [n for _, n in sorted(means, reverse=True)]
        self.candidates = [n for n in self.candidates if n in served_set]

    def prior(self, snap: ModelSnapshot) -> tuple[float, str]:
        if snap.prior_rate is not None:
            return snap.prior_rate, "prior_rate"
        if self.configured_prior is not None:
            return float(self.configured_prior), "configured_prior"
        return 0.5, "default_prior"

    def constant(self, snap: ModelSnapshot) -> tuple[float, str]:
        if snap.target_mean is not None:
            return snap.target_mean, "target_mean"
        return (float(self.clip[0]) if self.clip[0] is not None else 0.0), "constant"

    def predict(self, lookup: FeatureLookup | None, rows: Sequence[int], snap: ModelSnapshot) -> tuple[list[float], list[str]]:
        """Values and rule names for ``rows`` (positions in ``lookup``)."""
        if self.task == "binary_classification":
            p, rule = self.prior(snap)
            return [p] * len(rows), [rule] * len(rows)
        const, const_rule = self.constant(snap)
        values, rules = [], []
        for j in rows:
            v, rule = const, const_rule
            if lookup is not None:
                for name in self.candidates:
                    x = lookup.values[name][j]
                    if x is not None and isinstance(x, (int, float)) and math.isfinite(x) and lookup.view_ok(j, lookup.view_of[name]):
                        v, rule = float(x), name
                        break
            lo, hi = self.clip
            if lo is not None:
                v = max(v, lo)
            if hi is not None:
                v = min(v, hi)
            values.append(v)
            rules.append(rule)
        return values, rules


# ================================================================== canary ==


class CanaryLog:
    """JSON lines of (production answer, canary answer) per canary row, for
    a later comparison once labels arrive."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        text = "".join(json.dumps(r, default=str, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(text)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def canary_log_path(settings: Any) -> Path:
    return _use_case_path(settings, "serving", "canary.jsonl")


# ================================================================= service ==


def _finite(x: float) -> bool:
    return x == x and x not in (math.inf, -math.inf)


def _column(values: Sequence[Any]) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):  # a string feature: left as it is
        return np.asarray(values, dtype=object)


class ModelInputs:
    """The model inputs of one scoring pass: an array per column over the
    eligible rows (``rows``: positions in the request's online rows).

    A model with ``predict_matrix`` (``ModelArtifact``) gets a float matrix
    of its own feature list in its order, built from the arrays without a
    DataFrame (the one-row request path); any other model, or a string
    column, gets the DataFrame ``predict`` takes (index = the positions)."""

    def __init__(self, cols: dict[str, np.ndarray], rows: list[int]):
        self.cols = cols
        self.rows = rows
        self._at = {j: k for k, j in enumerate(rows)}
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = pd.DataFrame(self.cols, index=self.rows, copy=False)
        return self._frame

    def predict(self, model: Any, rows: list[int]) -> np.ndarray:
        """``model``'s predictions for ``rows`` (a subset of ``self.rows``), as floats."""
        everything = len(rows) == len(self.rows)
        features = getattr(model, "features", None)
        if hasattr(model, "predict_matrix") and isinstance(features, list) and all(f in self.cols and self.cols[f].dtype.kind == "f" for f in features):
            x = np.column_stack([self.cols[f] for f in features]) if features else np.empty((len(self.rows), 0))
            if not everything:
                x = x[[self._at[j] for j in rows]]
            values = model.predict_matrix(x)
        else:
            frame = self.frame()
            values = model.predict(frame if everything else frame.loc[rows])
        return np.asarray(values, dtype=float).reshape(-1)


class OnlineService:
    """Request rows in, one answer per row out; see the module docstring."""

    def __init__(
        self,
        settings: Any,
        models: ModelSource,
        features: FeatureSource,
        metrics: ServingMetrics | None = None,
        batch: BatchPredictionSource | None = None,
        canary_log: CanaryLog | None = None,
    ):
        self.settings = settings
        self.schema = RequestSchema(settings)
        self.models = models
        self.features = features
        self.metrics = metrics or ServingMetrics.for_settings(settings)
        self.batch = batch
        self.canary_share = float(settings.serving.canary_share)
        self.canary_log = canary_log or (CanaryLog(canary_log_path(settings)) if self.canary_share > 0 else None)
        self.levels = [lvl for lvl in settings.inference.fallback if lvl in MODEL_LEVELS]
        self.max_rows = int(settings.serving.max_entities_per_request)
        self.poll_seconds = float(settings.serving.poll_seconds)
        self.is_classifier = settings.model.task == "binary_classification"
        self._baseline: BaselineRule | None = None
        self._baseline_for: tuple = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._polled = threading.Event()
        self._last_generation = -1

    # -- background poll -------------------------------------------------------
    def poll_once(self) -> None:
        """Registry, batch predictions and feature registry, each on its own:
        one failing never stops the others."""
        try:
            self.models.poll()
            self.metrics.count_poll(True)
        except Exception as exc:  # noqa: BLE001
            self.metrics.count_poll(False)
            logger.warning("registry poll failed (serving the models held): %s", exc)
        snap = self.models.current()
        if snap.generation != self._last_generation:
            if self._last_generation >= 0:
                self.metrics.swaps.inc()
            self._last_generation = snap.generation
            self.metrics.set_models({r: (m.version, m.sha256) for r, m in snap.models.items()})
        if self.batch is not None:
            try:
                self.batch.refresh()
            except Exception as exc:  # noqa: BLE001
                logger.warning("batch predictions could not be read (answering online): %s", exc)
        try:
            self.features.refresh()
        except Exception as exc:  # noqa: BLE001
            logger.warning("feature registry refresh failed: %s", exc)
        self.readiness()  # keeps the runway_serving_ready gauge current between probes
        self._polled.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="runway-serving-poll", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_polled(self, timeout: float) -> bool:
        return self._polled.wait(timeout)

    # -- readiness -------------------------------------------------------------
    def readiness(self, check_store: bool = True) -> tuple[bool, dict[str, Any]]:
        """(ready, detail): a model of the chain is loaded and the online store
        answers a read. ``check_store=False`` does no I/O (the store's state
        is then its breaker's: open after a failed read)."""
        snap = self.models.current()
        model_ok = any(lvl in snap.models for lvl in self.levels)
        store_ok, store_detail = True, "ok"
        if check_store:
            try:
                self.features.check()
            except Exception as exc:  # noqa: BLE001
                store_ok, store_detail = False, f"{type(exc).__name__}: {exc}"
        else:
            store_ok = not getattr(self.features, "breaker_open", False)
            store_detail = "not checked (last read ok)" if store_ok else "not checked (last read failed)"
        ready = model_ok and store_ok
        if check_store:
            self.metrics.ready.set(1 if ready else 0)
        return ready, {
            "ready": ready,
            "polled": snap.loaded,
            "models": {r: {"version": m.version, "sha256": m.sha256} for r, m in snap.models.items()},
            "skipped": {lvl: s.as_dict() for lvl, s in snap.skips.items()},
            "model_loaded": model_ok,
            "online_store": {"ok": store_ok, "kind": self.features.kind, "detail": store_detail},
            "registry_error": snap.error,
        }

    # -- scoring ---------------------------------------------------------------
    def _baseline_rule(self) -> BaselineRule:
        served = tuple(self.features.names)
        if self._baseline is None or self._baseline_for != served:
            self._baseline, self._baseline_for = BaselineRule(self.settings, served), served
        return self._baseline

    def predict(self, payload: Any) -> dict[str, Any]:
        """One request body in, its answer out (raises RequestValidationError)."""
        return self.answer(self.schema.parse(payload, self.max_rows))

    def answer(self, parsed: ParsedRows) -> dict[str, Any]:
        snap = self.models.current()  # the one snapshot this request uses
        return self._response(self.score(parsed, snap), snap)

    def answer_many(self, requests: Sequence[ParsedRows]) -> list[dict[str, Any]]:
        """Several requests scored together (one snapshot, one online read,
        one model call per level), answered apart: what ``MicroBatcher`` runs."""
        if len(requests) == 1:
            return [self.answer(requests[0])]
        merged = ParsedRows(
            [k for r in requests for k in r.keys],
            {f: [v for r in requests for v in r.features[f]] for f in self.schema.request},
            [t for r in requests for t in r.as_of],
            [t for r in requests for t in r.timestamps],
        )
        snap = self.models.current()
        out = self.score(merged, snap)
        answers, start = [], 0
        for r in requests:
            rows = out[start : start + len(r)]
            for k, row in enumerate(rows):
                row["row"] = k
            answers.append(self._response(rows, snap))
            start += len(r)
        return answers

    def _response(self, rows: list[dict[str, Any]], snap: ModelSnapshot) -> dict[str, Any]:
        prod = snap.models.get(PRODUCTION)
        return {"use_case": self.settings.use_case, "production_version": prod.version if prod else None, "predictions": rows}

    def score(self, parsed: ParsedRows, snap: ModelSnapshot) -> list[dict[str, Any]]:
        """One answer per row of ``parsed``, all with ``snap``."""
        n = len(parsed)
        out: list[dict[str, Any] | None] = [None] * n
        online = list(range(n))
        if self.batch is not None:
            online = []
            batch_counts: dict[str, int] = {}
            for i in range(n):
                hit = self.batch.lookup(parsed.keys[i], parsed.as_of[i])
                if hit is None:
                    online.append(i)
                    continue
                answered = self._row(parsed, i, hit.prediction, hit.version, hit.level, "batch", [], None, snap)
                answered["batch"] = hit.batch
                out[i] = answered
                batch_counts[hit.level] = batch_counts.get(hit.level, 0) + 1
            for level, c in batch_counts.items():
                self.metrics.count_predictions(level, "batch", c)
        if online:
            self._score_online(parsed, online, snap, out)
        return out  # type: ignore[return-value]

    def _row(
        self,
        parsed: ParsedRows,
        i: int,
        value: float,
        version: str | None,
        level: str,
        source: str,
        skipped: list[dict],
        rule: str | None,
        snap: ModelSnapshot,
        model: Any = None,
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "row": i,
            **parsed.keys[i],
            self.schema.timestamp: parsed.timestamps[i],
            "prediction": value,
            "model_version": version,
            "level": level,
            "source": source,
            "skipped": skipped,
        }
        if rule is not None:
            row["rule"] = rule
        if self.is_classifier:
            threshold = getattr(model, "threshold", None)
            if threshold is None:
                prod = snap.models.get(PRODUCTION)
                threshold = getattr(prod.model, "threshold", None) if prod else None
            if threshold is None:
                threshold = self._baseline_rule().threshold
            row["label"] = int(value >= threshold) if threshold is not None else None
        return row

    def _score_online(self, parsed: ParsedRows, idx: list[int], snap: ModelSnapshot, out: list[dict[str, Any] | None]) -> None:
        m = len(idx)
        entity_rows = [parsed.keys[i] for i in idx]
        as_of = [parsed.as_of[i] for i in idx]
        lookup: FeatureLookup | None = None
        outage: str | None = None
        t0 = time.perf_counter()
        try:
            lookup = self.features.lookup(entity_rows, as_of)
        except Exception as exc:  # noqa: BLE001 - a dependency failure is a fallback, never a 500
            outage = str(exc) if isinstance(exc, FeatureStoreUnavailable) else f"{type(exc).__name__}: {exc}"
        self.metrics.observe_feature_lookup(self.features.kind, lookup is not None, time.perf_counter() - t0)

        skipped: list[list[dict[str, Any]]] = [[] for _ in range(m)]
        fallback_counts: dict[tuple[str, str], int] = {}

        def skip(j: int, s: Skip) -> None:
            skipped[j].append(s.as_dict())
            fallback_counts[(s.level, s.reason)] = fallback_counts.get((s.level, s.reason), 0) + 1

        eligible = [lookup is not None and lookup.ok(j) for j in range(m)]
        for j in range(m):
            if eligible[j]:
                continue
            for level in self.levels:
                lm = snap.models.get(level)
                version = lm.version if lm else None
                if lookup is None:
                    skip(j, Skip(level, version, FEATURE_STORE_OUTAGE, f"online store read failed: {outage}"))
                else:
                    for _view, reason, detail in lookup.problems[j]:
                        skip(j, Skip(level, version, reason, detail))

        pred: list[float | None] = [None] * m
        served: list[LoadedModel | None] = [None] * m
        frame = self._inputs(parsed, idx, lookup, [j for j in range(m) if eligible[j]]) if lookup is not None and any(eligible) else None
        for level in self.levels:
            todo = [j for j in range(m) if eligible[j] and pred[j] is None]
            if not todo:
                break
            lm = snap.models.get(level)
            if lm is None:
                s = snap.skips.get(level) or Skip(level, None, NO_VERSION, "no model loaded yet (the registry has not been polled)")
                for j in todo:
                    skip(j, s)
                continue
            try:
                if frame is None:  # cannot happen: todo holds eligible rows only, and they made the frame
                    raise RuntimeError("no model inputs for eligible rows")
                values = frame.predict(lm.model, todo)
                if len(values) != len(todo):
                    raise ValueError(f"returned {len(values)} predictions for {len(todo)} rows")
            except Exception as exc:  # noqa: BLE001
                s = Skip(level, lm.version, PREDICTION_FAILURE, f"{type(exc).__name__}: {exc}")
                for j in todo:
                    skip(j, s)
                continue
            for j, v in zip(todo, values.tolist(), strict=True):
                if _finite(v):
                    pred[j], served[j] = v, lm
                else:
                    skip(j, Skip(level, lm.version, PREDICTION_FAILURE, f"non-finite prediction {v}"))

        base_rows = [j for j in range(m) if pred[j] is None]
        base_values: dict[int, tuple[float, str]] = {}
        if base_rows:
            base, rules = self._baseline_rule().predict(lookup, base_rows, snap)
            base_values = {j: (v, r) for j, v, r in zip(base_rows, base, rules, strict=True)}

        level_counts: dict[str, int] = {}
        for j, i in enumerate(idx):
            lm = served[j]
            value = pred[j]
            if lm is not None and value is not None:
                row = self._row(parsed, i, value, lm.version, lm.role, "online", skipped[j], None, snap, lm.model)
                level_counts[lm.role] = level_counts.get(lm.role, 0) + 1
            else:
                v, rule = base_values[j]
                row = self._row(parsed, i, v, None, BASELINE, "online", skipped[j], rule, snap)
                level_counts[BASELINE] = level_counts.get(BASELINE, 0) + 1
            out[i] = row
        for level, c in level_counts.items():
            self.metrics.count_predictions(level, "online", c)
        for (level, reason), c in fallback_counts.items():
            self.metrics.count_fallback(level, reason, c)

        canary = snap.models.get(CANARY)
        if canary is not None and self.canary_share > 0 and frame is not None:
            self._canary(parsed, idx, eligible, frame, canary, out)

    def _inputs(self, parsed: ParsedRows, idx: list[int], lookup: FeatureLookup, rows: list[int]) -> ModelInputs:
        """Model inputs of the eligible rows ``rows`` (positions in ``idx``),
        one array per column: numeric columns as float64 (None -> NaN, bools
        -> 0/1), string ones as objects."""
        everything = len(rows) == len(idx)
        cols: dict[str, np.ndarray] = {}
        for name, values in lookup.values.items():
            cols[name] = _column(values if everything else [values[j] for j in rows])
        for name, values in parsed.features.items():
            cols[name] = _column([values[idx[j]] for j in rows])
        return ModelInputs(cols, rows)

    def _canary(
        self, parsed: ParsedRows, idx: list[int], eligible: list[bool], frame: ModelInputs, canary: LoadedModel, out: list[dict[str, Any] | None]
    ) -> None:
        keys = self.schema.keys
        rows = [j for j in range(len(idx)) if eligible[j]]
        try:
            mask = shadow_mask(pd.DataFrame([parsed.keys[idx[j]] for j in rows], columns=keys), keys, self.canary_share)
            chosen = [j for j, hit in zip(rows, mask, strict=True) if hit]
            if not chosen:
                return
            values = frame.predict(canary.model, chosen).tolist()
        except Exception as exc:  # noqa: BLE001 - a broken canary never affects an answer
            logger.warning("canary v%s failed: %s", canary.version, exc)
            return
        now = datetime.now(UTC).isoformat()
        records = []
        for j, v in zip(chosen, values, strict=True):
            served = out[idx[j]] or {}
            records.append(
                {
                    "time": now,
                    "use_case": self.settings.use_case,
                    "keys": parsed.keys[idx[j]],
                    "as_of": parsed.as_of[idx[j]].isoformat(),
                    "served": {"level": served["level"], "version": served["model_version"], "prediction": served["prediction"]},
                    "canary": {"version": canary.version, "prediction": v if _finite(v) else None},
                }
            )
        self.metrics.count_canary(canary.version, len(records))
        if self.canary_log is None:
            return
        try:
            self.canary_log.write(records)
        except OSError as exc:
            logger.warning("canary log %s not written: %s", self.canary_log.path, exc)


class MicroBatcher:
    """Scores concurrent requests together.

    A feature store read and a model call cost mostly per call, not per row
    (a gradient-boosting model scores 100 rows in about the time of one), so
    requests that arrive while a batch is being scored are taken together in
    the next one: one worker thread takes the first waiting request and every
    other one already queued (up to ``max_rows`` rows), validates each on its
    own (a bad request gets its 422, the others go on), scores them with
    ``OnlineService.answer_many`` and hands each its JSON answer. Nothing
    waits for a batch to fill: alone, a request is scored at once.
    """

    def __init__(self, service: OnlineService, max_rows: int | None = None):
        import queue

        self.service = service
        self.max_rows = int(max_rows or service.max_rows)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.requests = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="runway-serving-batch", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, payload: Any):
        """A ``concurrent.futures.Future`` of the answer's JSON bytes (or of a
        RequestValidationError)."""
        from concurrent.futures import Future

        if self._thread is None:
            self.start()  # an app run without its lifespan
        fut: Future = Future()
        self._queue.put((payload, fut))
        return fut

    def _run(self) -> None:
        import queue

        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                if len(batch) >= self.max_rows:
                    break
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[tuple[Any, Any]]) -> None:
        payloads, futures = [], []
        for payload, fut in batch:
            if fut.set_running_or_notify_cancel():
                payloads.append(payload)
                futures.append(fut)
        if not payloads:
            return
        passes, scored, out = answer_payloads(self.service, payloads, self.max_rows)
        self.batches += passes
        self.requests += scored
        for fut, result in zip(futures, out, strict=True):
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)


def _dumps(answer: Any) -> bytes:
    return json.dumps(answer, separators=(",", ":"), default=str, allow_nan=False).encode()


def answer_payloads(service: OnlineService, payloads: Sequence[Any], max_rows: int) -> tuple[int, int, list[bytes | BaseException]]:
    """Validate each request body on its own (a bad one gets its
    RequestValidationError, the others go on), score the valid ones together
    in groups of at most ``max_rows`` rows, and serialise each answer.
    Returns (scoring passes, requests scored, per body: JSON bytes or the exception)."""
    out: list[bytes | BaseException | None] = [None] * len(payloads)
    group: list[ParsedRows] = []
    where: list[int] = []
    rows = passes = scored = 0

    def flush() -> None:
        nonlocal passes, scored
        passes += 1
        scored += len(group)
        try:
            bodies: list[bytes | BaseException] = [_dumps(a) for a in service.answer_many(group)]
        except Exception as exc:  # noqa: BLE001 - a bug: every request of the group gets it
            bodies = [exc] * len(group)
        for k, body in zip(where, bodies, strict=True):
            out[k] = body

    for i, payload in enumerate(payloads):
        try:
            parsed = service.schema.parse(payload, service.max_rows)
        except Exception as exc:  # noqa: BLE001 - the request's own 422 (or bug)
            out[i] = exc
            continue
        if group and rows + len(parsed) > max_rows:
            flush()
            group, where, rows = [], [], 0
        group.append(parsed)
        where.append(i)
        rows += len(parsed)
    if group:
        flush()
    return passes, scored, out  # type: ignore[return-value]


# Requests of at most this many rows are scored on the event loop itself.
INLINE_MAX_ROWS = 16


def _row_count(payload: Any) -> int | None:
    rows = payload.get("rows") if isinstance(payload, Mapping) else None
    return len(rows) if isinstance(rows, list) else None


class LoopBatcher:
    """Scores small requests on the event loop, together, with no thread hop.

    Handing a request to a worker thread and back costs two thread wake-ups:
    on the busy 2-core benchmark machine that was 2-5 ms of a one-entity
    request that takes about 1 ms to score. Here a request of at most
    ``inline_rows`` rows is queued, and one callback, scheduled for the next
    turn of the loop, scores every small request that arrived meanwhile in
    one pass (``answer_payloads``: one online read, one model call per
    level), so concurrent clients are still batched. Larger requests (and
    bodies without a ``rows`` list, for the parser to word) go to the
    thread ``MicroBatcher``. The loop is busy while a pass runs: about a
    millisecond for a small one; a dead online store costs its first read,
    then the circuit breaker answers at once.
    """

    def __init__(self, service: OnlineService, fallback: MicroBatcher, inline_rows: int = INLINE_MAX_ROWS, max_rows: int | None = None):
        self.service = service
        self.fallback = fallback
        self.inline_rows = int(inline_rows)
        self.max_rows = int(max_rows or service.max_rows)
        self._pending: list[tuple[Any, Any]] = []
        self._scheduled = False
        self.batches = 0
        self.requests = 0

    async def submit(self, payload: Any) -> bytes:
        """The answer's JSON bytes; raises RequestValidationError for a bad body."""
        import asyncio

        n = _row_count(payload)
        if n is None or n > self.inline_rows:
            return await asyncio.wrap_future(self.fallback.submit(payload))
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((payload, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = [e for e in self._pending if not e[1].cancelled()], []
        if not batch:
            return
        try:
            passes, scored, out = answer_payloads(self.service, [p for p, _ in batch], self.max_rows)
        except Exception as exc:  # noqa: BLE001 - never leave a request waiting
            passes, scored, out = 0, 0, [exc] * len(batch)
        self.batches += passes
        self.requests += scored
        for (_, fut), result in zip(batch, out, strict=True):
            if fut.cancelled():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)


def entity_bucket(keys: Mapping[str, Any], key_order: Sequence[str]) -> float:
    """The canary/shadow bucket in [0, 1] of an entity: the same hash as
    ``runway.serving.fallback.shadow_mask`` (an entity is in the canary share
    iff its bucket is below the share)."""
    joined = "|".join(str(keys[k]) for k in key_order)
    return int(hashlib.sha256(joined.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def build_service(
    settings: Any,
    *,
    models: ModelSource | None = None,
    features: FeatureSource | None = None,
    metrics: ServingMetrics | None = None,
    batch: BatchPredictionSource | None = None,
) -> OnlineService:
    """The service with the real sources for ``settings`` (ZenML registry,
    Feast online store, batch predictions when ``serving.use_batch_predictions``)."""
    if models is None:
        models = RegistryModelSource(ZenMLRegistryBackend(settings), settings.inference.fallback, canary=settings.serving.canary_share > 0)
    if features is None:
        features = FeastFeatureSource(settings)
    if batch is None and settings.serving.use_batch_predictions:
        batch = BatchPredictionSource(settings)
    return OnlineService(settings, models, features, metrics, batch)
