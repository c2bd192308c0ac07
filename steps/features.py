"""Feature steps: compute the declared feature tables, apply + materialize
Feast, retrieve point-in-time features."""

from __future__ import annotations

import hashlib
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

import runway.features.engine as engine_lib
import runway.features.frames as frames_lib
import runway.features.store as fs_lib
from runway.config import Settings
from steps.caching import depends_on
from steps.materializers import FrameMaterializer


def feature_rows(settings: Settings, history: pd.DataFrame, scoring: pd.DataFrame | None) -> pd.DataFrame:
    """History plus the scoring rows it does not hold yet (values known ahead,
    no label): the rows the declared features are computed from."""
    if scoring is None:
        return history
    keys = settings.contract.keys
    new = scoring[~scoring.set_index(keys).index.isin(history.set_index(keys).index)]
    return pd.concat([history, new], ignore_index=True)


def feature_version(tables: dict[str, pd.DataFrame]) -> str:
    """A content hash of feature values, not of when they were computed, so
    an unchanged recomputation keeps retrieval and training cached."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        values = tables[name].drop(columns=[engine_lib.CREATED_TIMESTAMP], errors="ignore")
        digest.update(name.encode())
        digest.update(",".join(values.columns).encode())
        digest.update(pd.util.hash_pandas_object(values, index=False).values.tobytes())
    return digest.hexdigest()


# Never cached: it writes the feature files and the Feast registry, state
# outside ZenML that another run may have changed since.
@step(enable_cache=False)
def sync_feature_store(settings: Settings, history: pd.DataFrame, scoring: pd.DataFrame | None = None) -> Annotated[str, "feature_version"]:
    """Write the declared views' source tables, ``feast apply`` the use
    case's objects and materialize. Returns the tables' content hash."""
    rows = feature_rows(settings, history, scoring)
    tables = engine_lib.compute_feature_tables(rows, settings)
    paths = engine_lib.write_feature_tables(tables, fs_lib.feature_data_dir(settings))
    store = fs_lib.open_store(settings)
    fs_lib.apply(store, settings)
    end = pd.Timestamp(rows[settings.timestamp].max()).to_pydatetime()
    fs_lib.materialize(store, end)
    log_metadata({"feature_tables": {k: str(v) for k, v in paths.items()}, "rows": {k: len(v) for k, v in tables.items()}, "materialized_until": str(end)})
    return feature_version(tables)


@step(cache_policy=depends_on(fs_lib, frames_lib), output_materializers=FrameMaterializer)
def retrieve_features(settings: Settings, rows: pd.DataFrame, feature_version: str) -> Annotated[pd.DataFrame, "feature_frame"]:
    """Point-in-time join of the feature service onto ``rows`` (Feast get_historical_features)."""
    store = fs_lib.open_store(settings)
    service = settings.features.service_name
    feats = fs_lib.historical_features(store, frames_lib.entity_frame(rows, settings), service, timestamp_column=settings.timestamp)
    frame = frames_lib.attach_request_features(feats, rows, settings)
    log_metadata({"rows": len(frame), "feature_service": service, "feature_version": feature_version})
    return frame
