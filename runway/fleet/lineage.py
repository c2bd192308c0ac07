"""A fleet tenant's lineage, stored in its gate decision like a single
model's (``runway.governance.lineage``), so `python run.py lineage
<model>-<tenant> VERSION` answers for a tenant's version.

Per tenant: the raw files its training read, each with its content sha256
(hashed when the chunk gates it), the tenant's resolved config hash (its
overrides included), the evaluation windows and facts. The resolved config
itself is not repeated in every tenant's entry (1,000 tenants would write
1,000 copies into the log): its sha256 identifies it.
"""

from __future__ import annotations

from typing import Any

from runway.config import Settings
from runway.fleet import data as data_lib
from runway.governance import lineage as lineage_lib


def tenant_data(settings: Settings, tenant: str | None, as_of: str | None) -> dict[str, Any]:
    files = data_lib._files(settings, settings.streams.history, tenant)  # noqa: SLF001 - the fleet's own file layout
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


def tenant_lineage(settings: Settings, tenant: str, evaluation: dict, *, features: list[str], as_of: str | None, run: dict, code: dict) -> dict[str, Any]:
    """``code``: ``lineage.code_version()``, taken once per chunk."""
    record = lineage_lib.build(
        settings,
        {**evaluation, "training": {"features": features, **(evaluation.get("training") or {})}},
        data=tenant_data(settings, tenant, as_of),
        feature_version=None,
        run=run,
        code=code,
    )
    record["config"] = {"sha256": record["config"]["sha256"], "resolved": None}
    record["tenant"] = tenant
    return record
