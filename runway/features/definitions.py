"""Feast objects built from a use case's declarations (``entities`` and
``features`` of its YAML): nothing about a use case is written in Python.

* one ``Entity`` per declared entity (its value type from the contract dtype
  of its join key);
* one ``FileSource`` + ``FeatureView`` per declared view, reading
  ``<data_dir>/<view>.parquet`` (the table ``runway.features.engine`` writes),
  with the schema of ``runway.features.naming.feature_dtypes`` (Float64 for
  numbers, Int64 for calendar ints, Bool for bool values, String for string
  values), the TTL of ``ttl_days`` (to the second) and tags that record how
  rows are stamped;
* the versioned ``FeatureService`` ``features.service_name`` (e.g.
  ``retail_demand_v1``) with the served features only (``serve: false``
  features are stored, not served: the model reads them from the request
  row). A different feature set is a new ``features.version``, never an edit.

Each use case lives in its own Feast project, ``feast_project(settings)``
(``<environment.feast.project>_<use_case>``), so applying or materializing
one use case never touches another's objects or online tables.

Source paths are absolute: the DuckDB offline store of Feast 0.67 reads
``FileSource.path`` as given (relative paths would resolve against the
process's working directory, not the repo).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from runway.config import Settings
from runway.features.naming import feature_dtypes, feature_names, view_join_keys

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"


class FeatureDefinitionError(ValueError):
    """The declarations cannot be expressed as Feast objects."""


def feast_project(settings: Settings) -> str:
    """The Feast project of ``settings``' use case in its environment:
    ``<environment.feast.project>_<use_case>`` (e.g. ``runway_retail_demand``;
    characters Feast refuses become ``_``)."""
    name = re.sub(r"\W", "_", f"{settings.environment.feast.project}_{settings.use_case}")
    if name.startswith("_"):
        raise FeatureDefinitionError(f"Feast project name '{name}' must not start with '_': fix environment.feast.project")
    return name


def ttl(days: float) -> timedelta:
    """A view's TTL: ``ttl_days`` rounded to the second (0.99999 days is 23:59:59)."""
    return timedelta(seconds=round(days * 86_400))


def _value_type(dtype: str):
    from feast import ValueType

    return {
        "string": ValueType.STRING,
        "int": ValueType.INT64,
        "float": ValueType.DOUBLE,
        "bool": ValueType.BOOL,
        "datetime": ValueType.UNIX_TIMESTAMP,
    }[dtype]


def _feast_dtype(dtype: str):
    from feast.types import Bool, Float64, Int64, String

    return {"float64": Float64, "int64": Int64, "bool": Bool, "string": String}[dtype]


def build_objects(settings: Settings, data_dir: str | os.PathLike[str]):
    """The Feast objects of ``settings``' use case, in a ``RepoContents`` as
    ``feast apply`` collects them (its ``Project``, the dummy entity of
    views without entities included). ``data_dir`` holds the parquet sources
    (``runway.features.store.feature_data_dir``)."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource
    from feast.feature_view import DUMMY_ENTITY
    from feast.project import Project
    from feast.repo_contents import RepoContents

    data = Path(data_dir).resolve()
    uc, feats = settings.use_case, settings.features
    entities: dict[str, Entity] = {}
    for e in settings.entities:
        if len(e.join_keys) != 1:
            raise FeatureDefinitionError(f"entities.{e.name}: Feast entities have exactly one join key, got {e.join_keys}; declare one entity per key")
        key = e.join_keys[0]
        entities[e.name] = Entity(
            name=e.name,
            join_keys=[key],
            value_type=_value_type(settings.contract.columns[key].dtype),
            description=e.description,
        )

    sources: list[Any] = []
    views: list[Any] = []
    projections: list[Any] = []
    for v in feats.views:
        source = FileSource(
            name=f"{v.name}_source",
            path=str(data / f"{v.name}.parquet"),
            timestamp_field=EVENT_TIMESTAMP,
            created_timestamp_column=CREATED_TIMESTAMP,
            description=f"runway.features.engine table '{v.name}' of use case '{uc}'",
        )
        dtypes = feature_dtypes(settings, v)
        tags = {"use_case": uc, "known": v.known, "join_keys": ",".join(view_join_keys(settings, v))}
        if v.known == "lagged":
            tags |= {"stamping": "target_date", "horizon_days": str(feats.horizon_days)}
        else:
            tags |= {"stamping": "effective_date"}
        stored_only = [n for n in feature_names(v) if n not in feature_names(v, served_only=True)]
        if stored_only:
            tags["not_served"] = ",".join(stored_only)
        fv = FeatureView(
            name=v.name,
            entities=[entities[name] for name in v.entities],
            ttl=ttl(v.ttl_days),
            schema=[Field(name=n, dtype=_feast_dtype(t)) for n, t in dtypes.items()],
            source=source,
            online=True,
            description=v.description,
            tags=tags,
        )
        sources.append(source)
        views.append(fv)
        served = feature_names(v, served_only=True)
        if served == feature_names(v):
            projections.append(fv)
        elif served:
            projections.append(fv[served])
    if not projections:
        raise FeatureDefinitionError("features.views: no view serves a feature (all are 'serve: false')")
    service = FeatureService(
        name=feats.service_name,
        features=projections,
        description=f"Features of the {settings.model.name} model, version {feats.version}.",
        tags={"use_case": uc, "model": settings.model.name, "version": str(feats.version)},
    )
    return RepoContents(
        projects=[Project(name=feast_project(settings), description=settings.description)],
        data_sources=sources,
        entities=[*entities.values(), DUMMY_ENTITY],
        feature_views=views,
        feature_services=[service],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        permissions=[],
    )
