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

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.data.io import atomic_write_bytes
from runway.features import engine as engine_lib
from runway.features import frames as frames_lib
from runway.features import store as fs_lib
from runway.features.naming import view_join_keys
from runway.fleet import tenants as tenants_lib
from runway.governance.locks import workspace_lock

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


def merge_tables(fs: Settings, tables: dict[str, pd.DataFrame], data_dir: Path, column: str) -> dict[str, pd.DataFrame]:
    """``tables`` (computed for some tenants) merged into what ``data_dir``
    already holds, so a ``--tenants`` subset updates only its tenants: a
    tenant-keyed table keeps every other tenant's rows and replaces the
    subset's; a shared table (e.g. the calendar, keyed by date) keeps its
    rows and takes the new ones where the keys meet."""
    out: dict[str, pd.DataFrame] = {}
    for name, new in tables.items():
        path = data_dir / f"{name}.parquet"
        if not path.exists():
            out[name] = new
            continue
        if column in new.columns:
            mine = set(new[column].astype(str).unique())
            others = pd.read_parquet(path, columns=[column])[column].astype(str)
            if others.isin(mine).all():
                out[name] = new  # the whole fleet (or more) recomputed: nothing else to keep
                continue
            old = pd.read_parquet(path, filters=[(column, "not in", sorted(mine))])
            out[name] = pd.concat([old, new], ignore_index=True) if len(old) else new
        else:
            view = next((v for v in fs.features.views if v.name == name), None)
            keys = [*(view_join_keys(fs, view) if view is not None else []), engine_lib.EVENT_TIMESTAMP]
            old = pd.read_parquet(path)
            merged = pd.concat([old, new], ignore_index=True)
            out[name] = merged.drop_duplicates(subset=keys, keep="last").sort_values(keys).reset_index(drop=True)
    return out


def sync(settings: Settings, history: pd.DataFrame, scoring: pd.DataFrame | None = None) -> dict[str, int]:
    """Compute the tenants' feature tables (those in ``history``) in one
    pass, merge them into the fleet's tables (other tenants' rows are kept),
    write them and ``feast apply`` the fleet's project when its definitions
    changed. Returns rows per table written."""
    fs = fleet_settings(settings)
    tables = engine_lib.compute_feature_tables(feature_rows(fs, history, scoring), fs)
    tables = write_merged(fs, tables, tenants_lib.column(settings))
    ensure_applied(fs)
    return {k: len(v) for k, v in tables.items()}


def write_merged(fs: Settings, tables: dict[str, pd.DataFrame], column: str) -> dict[str, pd.DataFrame]:
    """``merge_tables`` then write, under the use case's feature-table lock:
    two fleet commands on disjoint ``--tenants`` subsets would otherwise both
    read the old tables and the second write would drop the first's rows.
    Each file is replaced atomically (readers see old or new, never half)."""
    data_dir = fs_lib.feature_data_dir(fs)
    with workspace_lock(fs.environment.lock, fs.workspace, f"runway-features-{fs.use_case}"):
        merged = merge_tables(fs, tables, data_dir, column)
        engine_lib.write_feature_tables(merged, data_dir)
    return merged


def definitions_hash(fs: Settings) -> str:
    """What ``feast apply`` builds the fleet's objects from: entities, views,
    the contract's columns and keys, the Feast project and stores' kinds, the
    repo (no secret: the registry URL is not part of it)."""
    feast = fs.environment.feast
    blob = {
        "use_case": fs.use_case,
        "env": fs.environment.name,
        "entities": [e.model_dump(mode="json") for e in fs.entities],
        "features": fs.features.model_dump(mode="json"),
        "contract": fs.contract.model_dump(mode="json"),
        "stores": [feast.online_store, feast.offline_store],
        "repo": str(fs_lib.feature_data_dir(fs)),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def _applied_marker(fs: Settings) -> Path:
    return fs.workspace_path("feast", f"{fs.use_case}.applied")


def _in_registry(store, service: str) -> bool:
    try:
        store.get_feature_service(service)
        return True
    except Exception:  # noqa: BLE001 - not in the registry (removed, another registry): apply again
        return False


def ensure_applied(fs: Settings) -> bool:
    """``feast apply`` the fleet's project unless the registry already holds
    the same definitions (a marker with their hash, and the feature service
    is in the registry); returns whether it applied. Saves ~10 s per command."""
    marker = _applied_marker(fs)
    digest = definitions_hash(fs)
    store = fs_lib.open_store(fs)
    if marker.exists() and marker.read_text().strip() == digest and _in_registry(store, fs.features.service_name):
        return False
    fs_lib.apply(store, fs)
    atomic_write_bytes(marker, digest.encode())
    return True


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
