"""Feature steps: compute feature tables, apply + materialize Feast, retrieve point-in-time features."""

from __future__ import annotations

import hashlib
from typing import Annotated, Optional

import pandas as pd
from zenml import log_metadata, step

import runway.features.store as fs_lib
import runway.features.engine as features_lib
import runway.features.frames as training_lib
from runway.config import Settings
from steps.caching import depends_on


# Never cached: it writes the feature files and the Feast registry, state
# outside ZenML that another run may have changed since.
@step(enable_cache=False)
def sync_feature_store(settings: Settings, sales: pd.DataFrame, plan: Optional[pd.DataFrame] = None) -> Annotated[str, "feature_version"]:
    """Write the feature views' source tables, ``feast apply`` and materialize.

    ``plan`` rows (future days, no actuals yet) add the prices, promotions
    and calendar known ahead for the days to forecast. Returns a content
    hash of the tables: downstream retrieval caches on it.
    """
    rows = sales if plan is None else pd.concat([sales, plan[~plan.set_index(settings.contract.keys).index.isin(sales.set_index(settings.contract.keys).index)]], ignore_index=True)
    tables = features_lib.compute_feature_tables(rows, settings.features, horizon_days=settings.features.horizon_days)
    paths = features_lib.write_feature_tables(tables, settings.feature_repo / "data")
    store = fs_lib.open_store(settings)
    fs_lib.apply(store)
    end = pd.Timestamp(rows[settings.contract.timestamp].max()).to_pydatetime()
    fs_lib.materialize(store, end)
    # The version covers feature values, not when they were computed, so an
    # unchanged recomputation keeps retrieval and training cached.
    digest = hashlib.sha256()
    for name in sorted(tables):
        values = tables[name].drop(columns=[features_lib.CREATED_TIMESTAMP], errors="ignore")
        digest.update(name.encode())
        digest.update(",".join(values.columns).encode())
        digest.update(pd.util.hash_pandas_object(values, index=False).values.tobytes())
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
