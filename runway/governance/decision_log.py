"""Append-only, authenticated log of every promotion decision.

Each line is one JSON object carrying

* ``prev_sha256``: the sha256 of the line before it (a readable chain), and
* ``mac``: HMAC-SHA256, under the decision-log key, of the predecessor's MAC
  and this entry's canonical JSON.

Without the key nobody can append, edit (the last line included) or reorder
an entry so that ``verify`` still passes. Truncation is caught by a MAC'd
head record, ``decisions.head`` beside the log: it names how many entries
the log had after the last append and that entry's MAC. A crash between the
append and the head update leaves valid entries *beyond* the head, which
verify accepts (only the key could have written them) and the next append
re-anchors; fewer entries than the head names is a truncation.

What the head cannot catch: someone who saved an older copy of both the log
and its head and puts both back (a replay). Only an anchor outside the
workspace would; see the README's "Reliability and security".

The key comes from ``RUNWAY_DECISION_LOG_KEY_<ENV>`` (e.g. ``..._PROD``;
for a command that opens two environments' logs) or else
``RUNWAY_DECISION_LOG_KEY``. For the ``local``
environment only, when the variable is unset, a random key is created once
(mode 0600) under ``$XDG_CONFIG_HOME/runway`` (default ``~/.config/runway``),
one file per workspace, outside the workspace: a laptop convenience. Every
other environment refuses to start without the variable.

Storage is pluggable, the chain is not: one ``DecisionLog`` signs, chains
and verifies; a *store* only keeps the lines and the head.

* ``FileStore`` (local): ``decisions.jsonl`` + ``decisions.jsonl.head`` in the
  workspace; appends take an exclusive file lock and fsync before returning.
* ``SqlStore`` (shared environments, ``environment.decision_log.backend:
  sql``; runway.governance.decision_log_sql): the same lines as rows of an
  append-only table, the head as a row beside them, one transaction per
  append serialised by a row lock on the head.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runway.config import PROJECT_ROOT, ConfigError

if TYPE_CHECKING:
    from runway.config import Settings

GENESIS = "0" * 64
KEY_ENV = "RUNWAY_DECISION_LOG_KEY"
MIN_KEY_CHARS = 32
LOG_FILE = "decisions.jsonl"
HEAD_SUFFIX = ".head"


class DecisionLogError(RuntimeError):
    """The decision log does not verify (edited, forged, reordered or truncated)."""


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


# ---------------------------------------------------------------------- key --


def key_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "runway"


def key_file(workspace: Path) -> Path:
    """The local key file of ``workspace``: outside it, one per workspace."""
    digest = hashlib.sha256(str(Path(workspace).resolve()).encode()).hexdigest()[:24]
    return key_dir() / f"{digest}.key"


def _local_key(workspace: Path) -> bytes:
    path = key_file(workspace)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process made first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"decision-log key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    key = path.read_text().strip()
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"decision-log key file {path} holds fewer than {MIN_KEY_CHARS} characters; delete it only if the log is empty")
    return key.encode()


def env_key_var(environment: str) -> str:
    """The per-environment key variable, ``RUNWAY_DECISION_LOG_KEY_<ENV>`` (for
    commands that open two environments' logs, e.g. ``promote-env``)."""
    return f"{KEY_ENV}_{re.sub(r'[^A-Za-z0-9]', '_', environment).upper()}"


def log_key(environment: str, workspace: Path) -> bytes:
    """The decision-log key: ``$RUNWAY_DECISION_LOG_KEY_<ENV>``, else
    ``$RUNWAY_DECISION_LOG_KEY``, else (local only) the key file."""
    var = env_key_var(environment) if os.environ.get(env_key_var(environment)) else KEY_ENV
    value = os.environ.get(var)
    if value:
        if len(value) < MIN_KEY_CHARS:
            raise ConfigError(f"{var} must be at least {MIN_KEY_CHARS} characters (e.g. `openssl rand -hex 32`)")
        return value.encode()
    if environment != "local":
        raise ConfigError(
            f"environment '{environment}' needs {env_key_var(environment)} or {KEY_ENV} "
            "(the decision log's HMAC key, e.g. `openssl rand -hex 32`, from a secret); it is not set"
        )
    return _local_key(workspace)


def open_log(settings: Settings) -> DecisionLog:
    """The environment's decision log with its key (raises ConfigError without one)."""
    key = log_key(settings.environment.name, settings.workspace)
    cfg = settings.environment.decision_log
    if cfg.backend == "sql":
        from runway.config import reveal
        from runway.governance.decision_log_sql import SqlStore

        return DecisionLog(SqlStore(reveal(cfg.url or ""), cfg.table), key)  # the config model refuses sql without a url
    return DecisionLog(settings.workspace_path(LOG_FILE), key)


def location(settings: Settings) -> str:
    """Where the environment's decision log lives, for messages (no secret)."""
    cfg = settings.environment.decision_log
    if cfg.backend == "sql":
        from runway.config import reveal
        from runway.governance.decision_log_sql import redacted

        return f"{redacted(reveal(cfg.url or ''))} table {cfg.table}"
    return str(settings.workspace_path(LOG_FILE))


# ------------------------------------------------------------------- stores --

# Builds the lines to append from the stored lines and head; returns them and
# the new head record ({"count", "last_mac", "mac"}).
Builder = Callable[[list[str], Any], tuple[list[str], dict[str, Any]]]


class Store(Protocol):
    """Where the log's lines and its head record live. A store never signs or
    checks anything, and offers no update or delete."""

    where: str  # for messages: a path or a redacted URL + table
    head_name: str

    def read(self) -> tuple[list[str], Any]:
        """(lines oldest first, the head record as stored or None); the head is
        read first, so a concurrent append can only add lines beyond it."""
        ...

    def append(self, build: Builder) -> None:
        """Under an exclusive lock (across processes and machines): read the
        lines and head, call ``build``, store its lines and head atomically."""
        ...


class FileStore:
    """``decisions.jsonl`` and its ``.head`` beside it, under a file lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + HEAD_SUFFIX)
        self.where = str(self.path)
        self.head_name = self.head_path.name

    def _head(self) -> Any:
        if not self.head_path.exists():
            return None
        try:
            return json.loads(self.head_path.read_text(encoding="utf-8"))
        except ValueError:
            return "unreadable"

    def read(self) -> tuple[list[str], Any]:
        head = self._head()
        lines = [ln for ln in self.path.read_text(encoding="utf-8").splitlines() if ln.strip()] if self.path.exists() else []
        return lines, head

    def _write_head(self, head: dict[str, Any]) -> None:
        tmp = self.head_path.with_name(f".{self.head_path.name}.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(head, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)

    def append(self, build: Builder) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                lines = [ln for ln in fh.read().splitlines() if ln.strip()]
                new_lines, head = build(lines, self._head())
                fh.seek(0, os.SEEK_END)
                fh.write("\n".join(new_lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
                self._write_head(head)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------- log --


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True, separators=(",", ":"), default=str).encode()


class DecisionLog:
    """The signed chain over a store: ``DecisionLog(path, key)`` is the file
    log, ``DecisionLog(SqlStore(...), key)`` the SQL one."""

    def __init__(self, store: Path | str | Store, key: bytes):
        if not key:
            raise ValueError("a decision log needs a key")
        self._store: Store = FileStore(Path(store)) if isinstance(store, (str, os.PathLike)) else store
        if isinstance(self._store, FileStore):
            self.path = self._store.path
            self.head_path = self._store.head_path
        self.where = self._store.where
        self._key = key

    def _mac(self, prev_mac: str, record: dict[str, Any]) -> str:
        return hmac.new(self._key, prev_mac.encode() + b"\n" + _canonical(record), hashlib.sha256).hexdigest()

    def _head_mac(self, count: int, last_mac: str) -> str:
        return hmac.new(self._key, f"head\n{count}\n{last_mac}".encode(), hashlib.sha256).hexdigest()

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for n, line in enumerate(self._store.read()[0], 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.where}:{n}: corrupt decision log line: {exc}") from None
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries())

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append ``entry``; refuses to extend a log that does not verify."""
        return self.append_many([entry])[0]

    def append_many(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append ``entries`` in order under one lock and one write (a fleet
        chunk's decisions), each signed and chained to the one before."""
        if not entries:
            return []
        out: list[dict[str, Any]] = []

        def build(lines: list[str], head: Any) -> tuple[list[str], dict[str, Any]]:
            out.clear()
            problems = self._problems(lines, head)
            if problems:
                raise DecisionLogError(f"{self.where} does not verify ({problems[0]}); refusing to append to it")
            prev = hashlib.sha256(lines[-1].encode()).hexdigest() if lines else GENESIS
            prev_mac = json.loads(lines[-1])["mac"] if lines else GENESIS
            new_lines = []
            for entry in entries:
                record = {"time": datetime.now(UTC).isoformat(), **entry, "prev_sha256": prev}
                record = json.loads(json.dumps(record, sort_keys=True, default=str))
                record["mac"] = self._mac(prev_mac, record)
                line = json.dumps(record, sort_keys=True)
                prev, prev_mac = hashlib.sha256(line.encode()).hexdigest(), record["mac"]
                new_lines.append(line)
                out.append(record)
            count = len(lines) + len(new_lines)
            return new_lines, {"count": count, "last_mac": prev_mac, "mac": self._head_mac(count, prev_mac)}

        self._store.append(build)
        return out

    def promoted_index(self) -> dict[tuple[str, str], str]:
        """(model, version) -> the sha256 recorded when it last became
        production: ``promoted_sha`` for every version, in one read."""
        out: dict[tuple[str, str], str] = {}
        for rec in self.verified_entries():  # hashes come only from an authentic log
            if rec.get("action") in ("promote", "rollback") and rec.get("artifact_sha256"):
                out[(str(rec.get("model")), str(rec.get("version")))] = rec["artifact_sha256"]
        return out

    def verify(self) -> list[str]:
        """Problems with the log; empty when every entry is authentic, in order, and none is missing."""
        return self._problems(*self._store.read())

    def _problems(self, lines: list[str], head: Any) -> list[str]:
        problems: list[str] = []
        prev, prev_mac = GENESIS, GENESIS
        macs: list[str] = []
        for n, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except ValueError:
                problems.append(f"line {n}: not a JSON object")
                prev, prev_mac = hashlib.sha256(line.encode()).hexdigest(), "invalid"
                macs.append("invalid")
                continue
            if rec.get("prev_sha256") != prev:
                problems.append(f"line {n}: chain broken (an earlier line was changed, removed or reordered)")
            mac = rec.get("mac")
            if not isinstance(mac, str):
                problems.append(f"line {n}: no MAC (not written with the decision-log key)")
            elif not hmac.compare_digest(mac, self._mac(prev_mac, rec)):
                problems.append(f"line {n}: MAC does not match (entry forged, edited or moved, or the key changed)")
            prev, prev_mac = hashlib.sha256(line.encode()).hexdigest(), mac if isinstance(mac, str) else "invalid"
            macs.append(prev_mac)
        problems.extend(self._head_problems(macs, head))
        return problems

    def _head_problems(self, macs: list[str], head: Any) -> list[str]:
        name = self._store.head_name
        if head is None:
            return [f"head record {name} is missing but the log has {len(macs)} entries"] if macs else []
        try:
            count, last_mac, mac = int(head["count"]), str(head["last_mac"]), str(head["mac"])
        except (ValueError, KeyError, TypeError):
            return [f"head record {name} is unreadable"]
        if not hmac.compare_digest(mac, self._head_mac(count, last_mac)):
            return [f"head record {name}: MAC does not match (forged, or the key changed)"]
        if count > len(macs):
            return [f"log truncated: the head record names {count} entries, the log has {len(macs)}"]
        if count and not hmac.compare_digest(macs[count - 1], last_mac):
            return [f"line {count}: not the entry the head record names (the log was rewritten)"]
        return []

    def verified_entries(self) -> list[dict[str, Any]]:
        """The entries, only if the whole log verifies (else DecisionLogError)."""
        problems = self.verify()
        if problems:
            raise DecisionLogError(f"decision log {self.where} does not verify: {'; '.join(problems[:3])}; run `python run.py decisions --verify`")
        return self.entries()

    def latest(self, model: str, action: str | None = None, **match: Any) -> dict[str, Any] | None:
        for rec in reversed(self.entries()):
            if rec.get("model") == model and (action is None or rec.get("action") == action) and all(rec.get(k) == v for k, v in match.items()):
                return rec
        return None

    def promoted_sha(self, model: str, version: str, *, verified: bool = True) -> str | None:
        """The sha256 recorded when ``version`` last became production (from a verified log by default)."""
        entries = self.verified_entries() if verified else self.entries()
        for rec in reversed(entries):
            if rec.get("model") == model and str(rec.get("version")) == str(version) and rec.get("action") in ("promote", "rollback"):
                return rec.get("artifact_sha256")
        return None

    def last_training_time(self, model: str) -> datetime | None:
        """When a training run last reached the gate (promoted or rejected)."""
        for rec in reversed(self.entries()):
            if rec.get("model") == model and rec.get("action") in ("promote", "reject", "await_approval"):
                return datetime.fromisoformat(rec["time"])
        return None

    def windows_since_retrain(self, model: str) -> int | None:
        """Monitoring decisions logged since the last retrain (None: never retrained)."""
        return self.windows_since_retrain_by_model().get(model)

    def windows_since_retrain_by_model(self) -> dict[str, int]:
        """``windows_since_retrain`` for every model that was ever retrained, in
        one pass over the log (a fleet asks for each of its tenants' models)."""
        counts: dict[str, int] = {}
        done: dict[str, int] = {}
        for rec in reversed(self.entries()):
            model = rec.get("model")
            if not isinstance(model, str) or model in done:
                continue
            if rec.get("action") == "retrain":
                done[model] = counts.get(model, 0)
            elif rec.get("action") == "no_retrain":
                counts[model] = counts.get(model, 0) + 1
        return done

    def production_history(self, model: str) -> list[str]:
        """Versions that became production, oldest first (for last-known-good)."""
        return [str(r["version"]) for r in self.entries() if r.get("model") == model and r.get("action") in ("promote", "rollback")]
