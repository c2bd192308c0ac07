"""Feature steps: compute feature tables, apply + materialize Feast, retrieve point-in-time features."""

from __future__ import annotations

import hashlib
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

import runway.feature_store as fs_lib
import runway.features as features_lib
import runway.training as training_lib
from runway.config import Settings
from steps.caching import depends_on


@step(cache_policy=depends_on(features_lib, fs_lib))
def sync_feature_store(settings: Settings, sales: pd.DataFrame) -> Annotated[str, "feature_version"]:
    """Write the feature views' source tables, ``feast apply`` and materialize.

    Returns a content hash of the tables: downstream retrieval caches on it.
    """
    tables = features_lib.compute_feature_tables(sales, settings.features)
    paths = features_lib.write_feature_tables(tables, settings.feature_repo / "data")
    store = fs_lib.open_store(settings)
    fs_lib.apply(store)
    end = pd.Timestamp(sales[settings.contract.timestamp].max()).to_pydatetime()
    fs_lib.materialize(store, end)
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(tables[name], index=False).values.tobytes())
    log_metadata({"feature_tables": {k: str(v) for k, v in paths.items()}, "rows": {k: len(v) for k, v in tables.items()}, "materialized_until": str(end)})
    return digest.hexdigest()


@step(cache_policy=depends_on(fs_lib, training_lib))
def retrieve_features(settings: Settings, rows: pd.DataFrame, feature_version: str) -> Annotated[pd.DataFrame, "feature_frame"]:
    """Point-in-time join of the feature service onto ``rows`` (Feast get_historical_features)."""
    store = fs_lib.open_store(settings)
    feats = fs_lib.historical_features(store, training_lib.entity_frame(rows, settings), settings.features.feature_service, timestamp_column=settings.contract.timestamp)
    frame = training_lib.attach_request_features(feats, rows, settings)
    log_metadata({"rows": len(frame), "feature_service": settings.features.feature_service, "feature_version": feature_version})
    return frame
