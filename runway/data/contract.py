"""Data contract: check a batch against the use case's schema and quality rules.

``validate`` never stops at the first problem: it returns every violation, by
column, so one failed run tells the data owner everything that is wrong.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from runway.config import ColumnContract, ContractConfig


@dataclass(frozen=True)
class Violation:
    column: str  # "*" for batch-level problems
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.column}: {self.rule}: {self.detail}"


@dataclass
class ContractReport:
    rows: int
    violations: list[Violation] = field(default_factory=list)
    checked_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {"rows": self.rows, "ok": self.ok, "violations": [asdict(v) for v in self.violations], "checked_columns": self.checked_columns}

    def summary(self) -> str:
        if self.ok:
            return f"contract ok ({self.rows} rows)"
        lines = "\n".join(f"  - {v}" for v in self.violations)
        return f"contract violated ({len(self.violations)} problems, {self.rows} rows):\n{lines}"


class ContractViolation(ValueError):
    """One or more batches broke the data contract; every violation is listed, by source."""

    def __init__(self, reports: dict[str, ContractReport], quarantined: dict[str, Path] | None = None):
        self.reports = reports
        self.quarantined = quarantined or {}
        lines = []
        for source, report in reports.items():
            where = f" -> quarantined to {self.quarantined[source]}" if source in self.quarantined else ""
            lines.append(f"{source}: {len(report.violations)} problem(s){where}")
            lines.extend(f"  - {v}" for v in report.violations)
        super().__init__(f"{len(reports)} batch(es) rejected by the data contract:\n" + "\n".join(lines))


def validate_parts(
    parts: list[tuple[Path | None, pd.DataFrame]], contract: ContractConfig, ignore: Iterable[str] = (), union: pd.DataFrame | None = None
) -> dict[str, ContractReport]:
    """Validate each source file alone, then (if all pass) their union, which
    catches what only shows across files (a key written twice)."""
    bad = {}
    for path, frame in parts:
        report = validate(frame, contract, ignore)
        if not report.ok:
            bad[str(path) if path else "<sql>"] = report
    if not bad and union is not None and len(parts) > 1:
        report = validate(union, contract, ignore)
        if not report.ok:
            bad["<all batches together>"] = report
    return bad


def _type_ok(series: pd.Series, dtype: str) -> bool:
    if dtype == "string":
        return pd.api.types.is_string_dtype(series) or (pd.api.types.is_object_dtype(series) and series.dropna().map(type).eq(str).all())
    if dtype == "int":
        return pd.api.types.is_integer_dtype(series)
    if dtype == "float":
        # Integers are valid floats; an all-null column read back as object is not.
        return pd.api.types.is_float_dtype(series) or pd.api.types.is_integer_dtype(series)
    if dtype == "bool":
        return pd.api.types.is_bool_dtype(series)
    if dtype == "datetime":
        return pd.api.types.is_datetime64_any_dtype(series)
    raise ValueError(f"unknown contract dtype {dtype!r}")


def _column_violations(name: str, s: pd.Series, spec: ColumnContract, default_max_missing: float) -> Iterable[Violation]:
    if not _type_ok(s, spec.dtype):
        yield Violation(name, "type", f"expected {spec.dtype}, found {s.dtype}")
        return  # range checks on the wrong type would only add noise
    n = len(s)
    nulls = int(s.isna().sum())
    if n and nulls == n:
        yield Violation(name, "all_null", f"all {n} values are null")
    elif not spec.nullable and nulls:
        yield Violation(name, "not_null", f"{nulls} null values in a non-nullable column")
    else:
        limit = spec.max_missing_fraction if spec.max_missing_fraction is not None else default_max_missing
        if n and nulls / n > limit:
            yield Violation(name, "missing_fraction", f"{nulls / n:.1%} missing, limit {limit:.1%}")
    values = s.dropna()
    if spec.dtype in ("int", "float") and len(values):
        # A pii column's values never reach a report (nor the quarantine's).
        if spec.min is not None and (bad := int((values < spec.min).sum())):
            yield Violation(name, "min", f"{bad} values below {spec.min}" + ("" if spec.pii else f" (lowest {values.min():g})"))
        if spec.max is not None and (bad := int((values > spec.max).sum())):
            yield Violation(name, "max", f"{bad} values above {spec.max}" + ("" if spec.pii else f" (highest {values.max():g})"))
        if not np.isfinite(values.to_numpy(dtype=float)).all():
            yield Violation(name, "finite", "infinite values present")
    if spec.allowed is not None and len(values):
        unknown = sorted(set(values.astype(str).unique()) - set(spec.allowed))
        if unknown:
            yield Violation(name, "allowed", f"unexpected values {unknown[:5]}{'...' if len(unknown) > 5 else ''}")


def robust_outlier_fraction(values: np.ndarray, z: float) -> float:
    """Share of values whose robust z-score (median / 1.4826 MAD) exceeds ``z``."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    med = np.median(values)
    mad = np.median(np.abs(values - med)) * 1.4826
    if mad == 0:
        return float(np.mean(values != med)) if np.ptp(values) else 0.0
    return float(np.mean(np.abs(values - med) / mad > z))


def validate(df: pd.DataFrame, contract: ContractConfig, ignore: Iterable[str] = ()) -> ContractReport:
    """Check ``df`` against ``contract``; columns in ``ignore`` (e.g. an
    unknown target in a batch to forecast) are allowed to be absent or null."""
    ignore = set(ignore)
    report = ContractReport(rows=len(df))
    if len(df) == 0:
        report.violations.append(Violation("*", "non_empty", "the batch has no rows"))
    if len(df) > contract.max_rows:
        report.violations.append(Violation("*", "max_rows", f"{len(df)} rows exceed the limit of {contract.max_rows}"))
    for name, spec in contract.columns.items():
        if name in ignore:
            continue
        if name not in df.columns:
            report.violations.append(Violation(name, "required", f"column is missing (found: {', '.join(map(str, df.columns))})"))
            continue
        report.checked_columns.append(name)
        if len(df):
            report.violations.extend(_column_violations(name, df[name], spec, contract.max_missing_fraction))
    keys = [k for k in contract.keys if k in df.columns]
    if len(keys) == len(contract.keys) and len(df):
        dup = int(df.duplicated(subset=keys).sum())
        if dup:
            report.violations.append(Violation(",".join(keys), "unique_keys", f"{dup} duplicate key rows"))
    for rule in contract.outliers:
        if rule.column in ignore or rule.column not in df.columns or not pd.api.types.is_numeric_dtype(df[rule.column]):
            continue
        values = df[rule.column].to_numpy(dtype=float)
        if rule.transform == "log1p":
            values = np.log1p(np.clip(values, 0, None))
        frac = robust_outlier_fraction(values, rule.z)
        if frac > rule.max_fraction:
            report.violations.append(Violation(rule.column, "outliers", f"{frac:.2%} of values beyond robust z={rule.z:g}, limit {rule.max_fraction:.2%}"))
    return report


def quarantine(files: Iterable[Path], report: ContractReport, quarantine_root: Path, label: str) -> Path:
    """Copy the offending files and a JSON report to ``quarantine_root/<time>_<label>/``.

    Sources are copied, never moved: the producer's data stays where it was.
    The folder is built under a temporary name and renamed when complete.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = quarantine_root / f"{stamp}_{label}"
    staging = quarantine_root / f".{stamp}_{label}.partial"
    staging.mkdir(parents=True, exist_ok=False)
    copied = []
    for f in files:
        f = Path(f)
        if f.is_file():
            shutil.copy2(f, staging / f.name)
            copied.append(str(f))
    (staging / "report.json").write_text(json.dumps({**report.to_dict(), "label": label, "files": copied, "quarantined_at": stamp}, indent=2, default=str))
    staging.rename(final)
    return final


def quarantine_unreadable(problems: dict[Path, str], quarantine_root: Path, stream: str) -> ContractViolation:
    """Quarantine files that cannot be read at all, like invalid ones; the
    ContractViolation to raise names each file and where its copy went."""
    reports = {str(p): ContractReport(rows=0, violations=[Violation("*", "unreadable", msg)]) for p, msg in problems.items()}
    quarantined = {str(p): quarantine([p], reports[str(p)], quarantine_root, f"{stream}_{p.stem}".replace("=", "-")) for p in problems}
    return ContractViolation(reports, quarantined)


def read_or_quarantine(settings, stream: str, **kwargs):
    """``sources.read_batches``; an unreadable file is quarantined and the run stops, naming it.
    With hashed pii columns the fingerprint also covers the hash key's id."""
    from dataclasses import replace

    from runway.data import privacy, sources

    try:
        batch = sources.read_batches(settings, stream, **kwargs)
    except sources.UnreadableBatch as exc:
        raise quarantine_unreadable(exc.problems, settings.use_case_path("quarantine"), stream) from None
    # The ingest step caches on this fingerprint: a new pii hash key is new input.
    return replace(batch, fingerprint=privacy.fingerprint_with_key(batch.fingerprint, settings))


def admit(settings, stream: str, batches: list[str] | None = None):
    """Read ``stream`` batches and enforce the contract: the one gate every
    batch passes. An unreadable or invalid file is copied to quarantine/ with
    a report and ContractViolation names it; the source is never changed.

    The admitted batch's frame has its pii columns dropped or hashed
    (``runway.data.privacy``); its per-file raw parts are not carried on."""
    from dataclasses import replace

    from runway.data import privacy

    root = settings.use_case_path("quarantine")
    batch = read_or_quarantine(settings, stream, batches=batches)
    # Scoring rows have no target yet: the contract does not ask for it.
    ignore = [settings.target] if stream == settings.streams.scoring else []
    bad = validate_parts(batch.parts, settings.contract, ignore, union=batch.frame)
    if bad:
        files = {str(p): p for p in batch.files}
        quarantined = {
            src: quarantine([files[src]] if src in files else batch.files, rep, root, f"{stream}_{Path(src).stem}".replace("=", "-"))
            for src, rep in bad.items()
        }
        raise ContractViolation(bad, quarantined)
    return replace(batch, frame=privacy.protect(batch.frame, settings), parts=[])
