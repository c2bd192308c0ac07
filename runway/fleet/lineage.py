"""A fleet tenant's lineage, stored in its gate decision like a single
model's (``runway.governance.lineage``), so `python run.py lineage
<model>-<tenant> VERSION` answers for a tenant's version.

Per tenant: the raw files its training read, each with its content sha256
(hashed when the chunk gates it), the tenant's effective config (its
overrides applied, secrets redacted as for a single model) and its sha256,
so ``lineage.verify_config`` rebuilds the tenant's settings from the log
alone, the evaluation windows and facts. The config is ~8 KB per entry;
the chunk resolves the fleet's once and only a tenant with overrides again.
"""

from __future__ import annotations

from typing import Any

from runway.config import Settings
from runway.fleet import data as data_lib
from runway.governance import lineage as lineage_lib


def tenant_data(settings: Settings, tenant: str | None, as_of: str | None) -> dict[str, Any]:
    files = data_lib.tenant_files(settings, settings.streams.history, tenant)
    batches, combined = lineage_lib.file_entries(settings, files)
    return {
        "stream": settings.streams.history,
        "source_kind": settings.environment.source.kind,
        "batches_requested": None,
        "as_of": as_of,
        "fingerprint": combined,
        "batches": batches,
        "fingerprint_verified": None,  # hashed at the gate; ingestion's own fingerprint is fleet-wide
    }


def tenant_lineage(
    settings: Settings, tenant: str, evaluation: dict, *, features: list[str], as_of: str | None, run: dict, code: dict, config: dict | None = None
) -> dict[str, Any]:
    """``settings``: the tenant's (``tenants.tenant_settings``); ``code``:
    ``lineage.code_version()``, taken once per chunk; ``config``: its
    ``lineage.resolved_config``, when the chunk already resolved it."""
    record = lineage_lib.build(
        settings,
        {**evaluation, "training": {"features": features, **(evaluation.get("training") or {})}},
        data=tenant_data(settings, tenant, as_of),
        feature_version=None,
        run=run,
        code=code,
        config=config,
    )
    record["tenant"] = tenant
    return record
