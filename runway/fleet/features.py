"""The fleet's features: one vectorised pass, one Feast project, one retrieval.

Feature computation per tenant would pay the engine's and Feast's fixed
costs once per tenant; instead the fleet is one use case whose keys start
with the tenant: ``fleet_settings`` adds the tenant column to
``contract.keys`` and a tenant entity to every keyed view, so

* ``runway.features.engine`` computes every tenant's tables in one pass
  (series never cross tenants: the tenant is part of each series' key; a
  view without entities, e.g. a calendar, stays keyed by date and is shared),
* the tables live in one Feast project, ``<feast.project>_<use case>_tenants``,
  whose keyed views all join on the tenant entity, and
* one ``get_historical_features`` call serves the whole fleet.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.features import engine as engine_lib
from runway.features import frames as frames_lib
from runway.features import store as fs_lib
from runway.fleet import tenants as tenants_lib

TENANT_CODE = "__tenant_code__"  # the pooled model's tenant feature
TENANT_ENTITY = "fleet_tenant"


@lru_cache(maxsize=8)
def _fleet_settings(blob: str) -> Settings:
    return Settings.model_validate_json(blob)


def fleet_settings(settings: Settings) -> Settings:
    """``settings`` with the tenant in every key (see the module docstring)."""
    col = tenants_lib.column(settings)
    data = settings.model_dump(mode="json")
    data["use_case"] = f"{settings.use_case}_tenants"
    contract = data["contract"]
    if col not in contract["columns"]:
        contract["columns"] = {col: {"dtype": "string", "nullable": False}, **contract["columns"]}
    contract["keys"] = [col, *[k for k in contract["keys"] if k != col]]
    # Feast entities have one join key each: a tenant entity joins every keyed view.
    data["entities"] = [{"name": TENANT_ENTITY, "join_keys": [col], "description": "A tenant of the fleet."}, *data["entities"]]
    for v in data["features"]["views"]:
        if v["entities"]:
            v["entities"] = [TENANT_ENTITY, *v["entities"]]
    data["tenants"] = None
    data["environment"]["workspace"] = str(settings.workspace)
    return _fleet_settings(Settings.model_validate(data).model_dump_json())


def feature_rows(fs: Settings, history: pd.DataFrame, scoring: pd.DataFrame | None) -> pd.DataFrame:
    """History plus the scoring rows it does not hold yet."""
    if scoring is None or scoring.empty:
        return history
    keys = fs.contract.keys
    new = scoring[~scoring.set_index(keys).index.isin(history.set_index(keys).index)]
    return pd.concat([history, new], ignore_index=True)


def sync(settings: Settings, history: pd.DataFrame, scoring: pd.DataFrame | None = None) -> dict[str, int]:
    """Compute every tenant's feature tables in one pass, write them and
    ``feast apply`` the fleet's project. Returns rows per table."""
    fs = fleet_settings(settings)
    tables = engine_lib.compute_feature_tables(feature_rows(fs, history, scoring), fs)
    engine_lib.write_feature_tables(tables, fs_lib.feature_data_dir(fs))
    store = fs_lib.open_store(fs)
    fs_lib.apply(store, fs)
    return {k: len(v) for k, v in tables.items()}


def retrieve(settings: Settings, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Point-in-time features for ``rows`` of any tenants in one Feast call;
    returns the model-ready frame (request columns attached) and the model's
    feature list."""
    fs = fleet_settings(settings)
    store = fs_lib.open_store(fs)
    service = fs.features.service_name
    feats = fs_lib.historical_features(store, frames_lib.entity_frame(rows, fs), service, timestamp_column=fs.timestamp, allow_unknown_entities=True)
    frame = frames_lib.attach_request_features(feats, rows, fs)
    return frame, frames_lib.model_feature_list(fs_lib.feature_names(store, service), fs)


def tenant_codes(tenant_ids: list[str]) -> dict[str, int]:
    return {t: i for i, t in enumerate(sorted(tenant_ids))}


def with_tenant_code(frame: pd.DataFrame, column: str, codes: dict[str, int]) -> pd.DataFrame:
    """The pooled model's tenant feature: the tenant's code (NaN for a tenant it never saw)."""
    out = frame.copy()
    out[TENANT_CODE] = frame[column].map(codes).astype(float).fillna(np.nan)
    return out
