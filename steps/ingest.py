"""Ingestion: read a batch from the configured source and enforce the data contract."""

from __future__ import annotations

from typing import Annotated, Optional

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

import runway.contract as contract_lib
import runway.sources as sources_lib
from runway.config import Settings
from steps.caching import depends_on

logger = get_logger(__name__)


@step(cache_policy=depends_on(contract_lib, sources_lib))
def ingest_batch(
    settings: Settings,
    stream: str,
    fingerprint: str,
    batches: Optional[list[str]] = None,
) -> Annotated[pd.DataFrame, "raw_batch"]:
    """Read ``stream`` batches and validate them; an invalid batch is
    quarantined and the step fails with every violation listed.

    ``fingerprint`` is the content hash of the source (computed before the
    run), so a changed batch is never served from cache.
    """
    batch = sources_lib.read_batches(settings, stream, batches=batches)  # type: ignore[arg-type]
    if batch.fingerprint and fingerprint and batch.fingerprint != fingerprint:
        raise sources_lib.SourceError(f"{stream} source changed while the run started (fingerprint {batch.fingerprint[:12]} != {fingerprint[:12]}); rerun")
    ignore = [settings.model.target] if stream == "plan" else []
    report = contract_lib.validate(batch.frame, settings.contract, ignore=ignore)
    if not report.ok:
        where = contract_lib.quarantine(batch.files, report, settings.workspace_path("quarantine"), batch.label)
        raise contract_lib.ContractViolation(report, where, batch.label)
    log_metadata({"rows": len(batch.frame), "files": len(batch.files), "fingerprint": batch.fingerprint, "contract": "ok"})
    logger.info("%s: %s", batch.label, report.summary())
    return batch.frame
