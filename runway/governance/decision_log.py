"""Append-only, hash-chained log of every promotion decision.

Each line is one JSON object that carries the sha256 of the line before it,
so a line edited or removed later breaks the chain and ``verify`` says where.
Appends take an exclusive file lock and fsync before returning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runway.config import PROJECT_ROOT

GENESIS = "0" * 64


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as a developer runs it
            capture_output=True,
            text=True,
            timeout=5,
        )
        sha = out.stdout.strip()
        if out.returncode != 0 or not sha:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return f"{sha}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _last_line(fh) -> str:
    """The file's last non-empty line, read backwards from the end."""
    end = fh.seek(0, os.SEEK_END)
    block, data = 4096, ""
    pos = end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        data = fh.read(step) + data
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) > 1 or (lines and pos == 0):
            return lines[-1]
    return ""


class DecisionLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{self.path}:{n}: corrupt decision log line: {exc}") from None
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries())

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                lines = [ln for ln in fh.read().splitlines() if ln.strip()]
                prev = hashlib.sha256(lines[-1].encode()).hexdigest() if lines else GENESIS
                record = {"time": datetime.now(UTC).isoformat(), **entry, "prev_sha256": prev}
                fh.seek(0, os.SEEK_END)
                fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return record

    def append_many(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append ``entries`` in order under one lock and one fsync (a fleet
        chunk's decisions), each chained to the one before."""
        if not entries:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        out = []
        with open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                prev = hashlib.sha256(_last_line(fh).encode()).hexdigest() if fh.seek(0, os.SEEK_END) else GENESIS
                lines = []
                for entry in entries:
                    record = {"time": datetime.now(UTC).isoformat(), **entry, "prev_sha256": prev}
                    line = json.dumps(record, sort_keys=True, default=str)
                    prev = hashlib.sha256(line.encode()).hexdigest()
                    lines.append(line)
                    out.append(record)
                fh.seek(0, os.SEEK_END)
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return out

    def promoted_index(self) -> dict[tuple[str, str], str]:
        """(model, version) -> the sha256 recorded when it last became
        production: ``promoted_sha`` for every version, in one read."""
        out: dict[tuple[str, str], str] = {}
        for rec in self.entries():
            if rec.get("action") in ("promote", "rollback") and rec.get("artifact_sha256"):
                out[(str(rec.get("model")), str(rec.get("version")))] = rec["artifact_sha256"]
        return out

    def verify(self) -> list[str]:
        """Problems with the chain; empty when every line links to the one before."""
        problems: list[str] = []
        prev = GENESIS
        if not self.path.exists():
            return problems
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"line {n}: not JSON")
                prev = hashlib.sha256(line.encode()).hexdigest()
                continue
            if rec.get("prev_sha256") != prev:
                problems.append(f"line {n}: chain broken (an earlier line was changed or removed)")
            prev = hashlib.sha256(line.encode()).hexdigest()
        return problems

    def latest(self, model: str, action: str | None = None, **match: Any) -> dict[str, Any] | None:
        for rec in reversed(self.entries()):
            if rec.get("model") == model and (action is None or rec.get("action") == action) and all(rec.get(k) == v for k, v in match.items()):
                return rec
        return None

    def promoted_sha(self, model: str, version: str) -> str | None:
        """The sha256 recorded when ``version`` last became production."""
        for rec in reversed(self.entries()):
            if rec.get("model") == model and str(rec.get("version")) == str(version) and rec.get("action") in ("promote", "rollback"):
                return rec.get("artifact_sha256")
        return None

    def last_training_time(self, model: str) -> datetime | None:
        """When a training run last reached the gate (promoted or rejected)."""
        for rec in reversed(self.entries()):
            if rec.get("model") == model and rec.get("action") in ("promote", "reject"):
                return datetime.fromisoformat(rec["time"])
        return None

    def windows_since_retrain(self, model: str) -> int | None:
        """Monitoring decisions logged since the last retrain (None: never retrained)."""
        n = 0
        for rec in reversed(self.entries()):
            if rec.get("model") != model:
                continue
            if rec.get("action") == "retrain":
                return n
            if rec.get("action") == "no_retrain":
                n += 1
        return None

    def production_history(self, model: str) -> list[str]:
        """Versions that became production, oldest first (for last-known-good)."""
        return [str(r["version"]) for r in self.entries() if r.get("model") == model and r.get("action") in ("promote", "rollback")]
