"""Every tenant's raw batches, read and validated tenant by tenant.

A batch that breaks the contract is quarantined under the tenant's own
folder (``<use case>/tenants/<tenant>/quarantine/``) and fails that tenant
only: the others are read on. The result is one frame for the fleet with
the tenant column first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from runway.config import Settings
from runway.data import contract as contract_lib
from runway.data import privacy as privacy_lib
from runway.data import sources
from runway.fleet import tenants as tenants_lib


@dataclass
class FleetBatch:
    frame: pd.DataFrame  # every readable tenant's rows, tenant column first
    failed: dict[str, str] = field(default_factory=dict)  # tenant -> reason
    files: dict[str, list[Path]] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def tenants(self) -> list[str]:
        return sorted(self.files.keys() - self.failed.keys())


def _files(settings: Settings, stream: str, tenant: str | None) -> list[Path]:
    base = settings.raw_dir / tenant / stream if tenant else settings.raw_dir / stream
    return sorted(base.glob("batch=*.parquet")) if base.is_dir() else []


def tenant_files(settings: Settings, stream: str, tenant: str | None) -> list[Path]:
    """The files a tenant's rows are read from: its own folder, or the shared
    batches when a column names the tenant (``tenants.source: column``)."""
    shared = settings.tenants is not None and settings.tenants.source == "column"
    own = None if shared else tenant
    return _files(settings, stream, own)


def _keep(path: Path, batches: set[str] | None, until: date | None) -> bool:
    if batches is not None and path.stem not in batches:
        return False
    d = sources.batch_date(path)
    return until is None or d is None or d < until


def column_tenants(settings: Settings) -> list[str]:
    col = tenants_lib.column(settings)
    ids: set[str] = set()
    for p in _files(settings, settings.streams.history, None):
        ids |= set(pd.read_parquet(p, columns=[col])[col].astype(str).unique())
    return sorted(ids)


def _fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def read_fleet(
    settings: Settings,
    stream: str,
    tenant_ids: list[str],
    *,
    batches: list[str] | None = None,
    until: date | None = None,
    as_of: pd.Timestamp | None = None,
    required: bool = True,
) -> FleetBatch:
    """Read ``stream`` for ``tenant_ids``: validate each file (and each
    tenant's union) against the contract, quarantine a bad one and fail its
    tenant with the reason; blank actuals recorded after ``as_of``."""
    cfg, col = tenants_lib.config(settings), tenants_lib.column(settings)
    contract, kind = settings.contract, settings.environment.source.kind
    ignore = [settings.target] if stream == settings.streams.scoring else []
    wanted = {b if b.startswith("batch=") else f"batch={b}" for b in batches} if batches else None
    out = FleetBatch(frame=pd.DataFrame())
    parts: dict[str, list[tuple[Path | None, pd.DataFrame]]] = {t: [] for t in tenant_ids}
    if cfg.source == "folders":
        for t in tenant_ids:
            for p in _files(settings, stream, t):
                if _keep(p, wanted, until):
                    parts[t].append((p, sources._read_file(p, kind, contract)))  # noqa: SLF001 - the one coercing reader
    else:
        keep = set(tenant_ids)
        for p in _files(settings, stream, None):
            if not _keep(p, wanted, until):
                continue
            df = pd.read_parquet(p)
            for t, g in df.groupby(df[col].astype(str), sort=False):
                if t in keep:
                    parts[str(t)].append((p, g.drop(columns=[col]).reset_index(drop=True)))
    frames = []
    for t in tenant_ids:
        out.files[t] = [p for p, _ in parts[t] if p is not None]
        if not parts[t]:
            if required:
                out.failed[t] = f"no {stream} batches" + (f" before {until}" if until else "")
            continue
        union = pd.concat([f for _, f in parts[t]], ignore_index=True) if len(parts[t]) > 1 else parts[t][0][1]
        bad = contract_lib.validate_parts(parts[t], contract, ignore, union=union)
        if bad:
            root = tenants_lib.tenant_path(settings, t, "quarantine")
            reasons = []
            for src, rep in bad.items():
                files = [Path(src)] if Path(src).exists() else out.files[t]
                where = contract_lib.quarantine(files, rep, root, f"{stream}_{Path(src).stem}".replace("=", "-"))
                reasons.append(f"{Path(src).name}: {'; '.join(str(v) for v in rep.violations[:3])} (quarantined to {where})")
            out.failed[t] = f"data contract: {' | '.join(reasons)}"
            continue
        union = privacy_lib.protect(union, settings).copy()  # pii dropped or hashed past the gate
        union.insert(0, col, t)
        frames.append(union)
    out.fingerprint = _fingerprint([p for fs in out.files.values() for p in fs])
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        out.frame = sources.known_as_of(frame, as_of, settings.target) if stream == settings.streams.history else frame
    return out
