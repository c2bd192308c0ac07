"""Ingestion: read a batch from the configured source and enforce the data contract."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

import runway.data.contract as contract_lib
import runway.data.privacy as privacy_lib
import runway.data.sources as sources_lib
from runway.config import Settings
from runway.serving.metrics import record_quarantine
from steps.caching import depends_on

logger = get_logger(__name__)


@step(cache_policy=depends_on(contract_lib, sources_lib, privacy_lib))
def ingest_batch(
    settings: Settings,
    stream: str,
    fingerprint: str,
    batches: list[str] | None = None,
    as_of: str | None = None,
) -> Annotated[pd.DataFrame, "raw_batch"]:
    """Read ``stream`` batches and validate them; an invalid batch is
    quarantined and the step fails with every violation listed. The frame it
    returns has its pii columns dropped or hashed (``runway.data.privacy``):
    no raw personal value reaches this artifact or anything after it.

    ``fingerprint`` is the content hash of the source (computed before the
    run), so a changed batch is never served from cache. With ``as_of``, an
    actual recorded later is blanked (what a job at that time could see).
    """
    try:
        batch = contract_lib.admit(settings, stream, batches=batches)
    except contract_lib.ContractViolation as exc:
        record_quarantine(settings, stream, sum(r.rows for src, r in exc.reports.items() if src in exc.quarantined))
        raise
    record_quarantine(settings, stream, 0)
    if batch.fingerprint and fingerprint and batch.fingerprint != fingerprint:
        raise sources_lib.SourceError(f"{stream} source changed while the run started (fingerprint {batch.fingerprint[:12]} != {fingerprint[:12]}); rerun")
    frame = sources_lib.known_as_of(batch.frame, pd.Timestamp(as_of) if as_of else None, settings.target)
    if stream == settings.streams.history and frame[settings.target].notna().sum() == 0:
        raise sources_lib.SourceError(f"{stream}: no labels ({settings.target}) recorded by {as_of} in {batch.label}")
    log_metadata({"rows": len(frame), "as_of": as_of or "", "files": len(batch.files), "fingerprint": batch.fingerprint, "contract": "ok"})
    logger.info("%s: contract ok for %d file(s), %d rows", batch.label, len(batch.files) or 1, len(frame))
    return frame
