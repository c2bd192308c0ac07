"""Read raw batches from the configured source: a parquet folder, CSV files or a SQL table.

Every reader returns the frame, the files it read (for quarantine) and a
content fingerprint, which the pipelines pass to the ingestion step so that a
new or changed batch can never be served from ZenML's cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from runway.config import ContractConfig, Settings, SourceConfig, redact_url, reveal

# A stream is named in the use case (settings.streams): its history or scoring stream.
Stream = str


class UnreadableBatch(ValueError):
    """One or more batch files cannot be read at all (truncated, not parquet, ...)."""

    def __init__(self, problems: dict[Path, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


class SourceError(ValueError):
    """A batch could not be read: missing, corrupt or not the expected format."""


@dataclass
class Batch:
    frame: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    fingerprint: str = ""
    label: str = ""
    # Each file's own rows, so a bad file is named and quarantined alone.
    parts: list[tuple[Path | None, pd.DataFrame]] = field(default_factory=list)


def batch_date(path: Path) -> date | None:
    stem = path.name.split(".")[0]
    if stem.startswith("batch="):
        try:
            return date.fromisoformat(stem.removeprefix("batch="))
        except ValueError:
            return None
    return None


def list_batches(source: SourceConfig, raw_dir: Path, stream: Stream) -> list[Path]:
    """Batch files of ``stream`` under the use case's raw folder (none for SQL)."""
    if source.kind == "sql":
        return []
    folder = raw_dir / stream
    pattern = "*.parquet" if source.kind == "parquet" else "*.csv"
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))


def hash_files(files: list[Path]) -> tuple[str, dict[Path, str]]:
    """The files' combined fingerprint (names and bytes, sorted) and each
    file's own content sha256, reading each file once."""
    h = hashlib.sha256()
    each: dict[Path, str] = {}
    for f in sorted(files):
        h.update(f.name.encode())
        one = hashlib.sha256()
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
                one.update(chunk)
        each[f] = one.hexdigest()
    return h.hexdigest(), each


def fingerprint_files(files: list[Path]) -> str:
    return hash_files(files)[0]


def _coerce(df: pd.DataFrame, contract: ContractConfig, path: Path) -> pd.DataFrame:
    """CSV has no types: parse declared datetime/bool columns, naming bad cells."""
    for name, spec in contract.columns.items():
        if name not in df.columns:
            continue
        if spec.dtype == "datetime" and not pd.api.types.is_datetime64_any_dtype(df[name]):
            parsed = pd.to_datetime(df[name], utc=True, errors="coerce")
            bad = parsed.isna() & df[name].notna()
            if bad.any():
                first = "withheld: pii" if spec.pii else repr(df[name][bad].iloc[0])
                raise SourceError(f"{path}: column '{name}' has {int(bad.sum())} values that are not dates (first: {first})")
            df[name] = parsed
        elif spec.dtype == "bool" and df[name].dtype == object:
            mapped = df[name].map({"true": True, "false": False, "True": True, "False": False, "1": True, "0": False})
            if mapped.isna().any() and df[name].notna().all():
                raise SourceError(f"{path}: column '{name}' has values that are not booleans")
            df[name] = mapped.astype("boolean") if mapped.isna().any() else mapped.astype(bool)
    return df


def _read_file(path: Path, kind: str, contract: ContractConfig) -> pd.DataFrame:
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = _coerce(pd.read_csv(path, dtype={c: str for c, spec in contract.columns.items() if spec.dtype == "string"}), contract, path)
    except SourceError:
        raise
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:  # noqa: BLE001 - pyarrow/pandas raise many types for a corrupt file
        raise SourceError(f"{path}: cannot be read as {kind}: {type(exc).__name__}: {exc}") from None
    ts = contract.timestamp
    if ts in df.columns and pd.api.types.is_datetime64_any_dtype(df[ts]) and df[ts].dt.tz is None:
        df[ts] = df[ts].dt.tz_localize("UTC")
    return df


def read_batches(settings: Settings, stream: Stream, batches: list[str] | None = None, until: date | None = None) -> Batch:
    """Read ``stream`` batches (all, the named ones, or those starting before ``until``)."""
    src, contract = settings.environment.source, settings.contract
    if src.kind == "sql":
        return _read_sql(src, contract, stream, until, settings.streams.history)
    files = list_batches(src, settings.raw_dir, stream)
    if batches is not None:
        wanted = {b if b.startswith("batch=") else f"batch={b}" for b in batches}
        found = {p.name.split(".")[0] for p in files}
        missing = sorted(wanted - found)
        if missing:
            raise SourceError(f"{stream} batches not found under {settings.raw_dir / stream}: {', '.join(missing)}")
        files = [p for p in files if p.name.split(".")[0] in wanted]
    if until is not None:
        files = [p for p in files if (d := batch_date(p)) is None or d < until]
    if not files:
        raise SourceError(f"no {stream} batches under {settings.raw_dir / stream}")
    frames, unreadable = [], {}
    for p in files:
        try:
            frames.append(_read_file(p, src.kind, contract))
        except SourceError as exc:
            unreadable[p] = str(exc)
    if unreadable:  # every unreadable file, not only the first
        raise UnreadableBatch(unreadable)
    non_empty = [f for f in frames if len(f.columns)]
    frame = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()
    label = files[0].stem if len(files) == 1 else f"{files[0].stem}..{files[-1].stem}"
    name = f"{stream}_{label}".replace("=", "-")
    return Batch(frame=frame, files=files, fingerprint=fingerprint_files(files), label=name, parts=list(zip(files, frames, strict=True)))


def _read_sql(src: SourceConfig, contract: ContractConfig, stream: Stream, until: date | None, history_stream: str) -> Batch:
    import sqlalchemy as sa

    if src.table is None:
        raise SourceError("source.table is required when source.kind is 'sql'")
    # The history stream is the table itself; another stream is <table>_<stream>.
    table = src.table if stream == history_stream else f"{src.table}_{stream}"
    engine = sa.create_engine(reveal(src.location))
    try:
        query = sa.text(f"SELECT * FROM {sa.sql.quoted_name(table, quote=True)}")  # noqa: S608 - table name from config
        frame = pd.read_sql(query, engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means the table cannot be read
        raise SourceError(f"{redact_url(reveal(src.location))}: cannot read table '{table}': {type(exc).__name__}: {exc}") from None
    finally:
        engine.dispose()
    ts = contract.timestamp
    if ts in frame.columns:
        frame[ts] = pd.to_datetime(frame[ts], utc=True)
        if until is not None:
            frame = frame[frame[ts] < pd.Timestamp(until, tz="UTC")]
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values.tobytes()).hexdigest()
    frame = frame.reset_index(drop=True)
    return Batch(frame=frame, files=[], fingerprint=digest, label=f"{stream}_{table}", parts=[(None, frame)])


RECORDED_AT = "recorded_at"


def known_as_of(frame: pd.DataFrame, as_of: pd.Timestamp | None, target: str) -> pd.DataFrame:
    """What a job at ``as_of`` knew: a row whose actual arrived later keeps its
    plan columns (prices and promotions are published ahead) but not ``target``."""
    if as_of is None or RECORDED_AT not in frame.columns:
        return frame
    late = pd.to_datetime(frame[RECORDED_AT], utc=True) > as_of
    if not late.any():
        return frame
    out = frame.copy()
    out.loc[late, target] = float("nan")
    return out
