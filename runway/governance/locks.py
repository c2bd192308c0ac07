"""Locks that serialise promotions across processes (and machines for SQL).

ZenML's set_stage has no lock: two processes promoting at once can leave two
production versions. Every stage change in Runway happens under this lock.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from runway.config import LockConfig, reveal

DEFAULT_TIMEOUT_S = 120


class LockTimeout(RuntimeError):
    pass


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path), timeout=timeout):
            yield
    except Timeout:
        raise LockTimeout(f"could not take the lock {path} within {timeout:.0f}s") from None


@contextlib.contextmanager
def sql_lock(url: str, name: str, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """MySQL/MariaDB GET_LOCK or PostgreSQL advisory lock, held on one connection."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect in ("mysql", "mariadb"):
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name[:64], "t": int(timeout)}).scalar()
            if got != 1:
                raise LockTimeout(f"could not take SQL lock '{name}' within {timeout:.0f}s")
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name[:64]})
        elif dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            conn.execute(sa.text("SET lock_timeout = :ms"), {"ms": f"{int(timeout * 1000)}"})
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            except sa.exc.OperationalError:
                raise LockTimeout(f"could not take SQL lock '{name}' within {timeout:.0f}s") from None
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        else:
            raise ValueError(f"lock.url: dialect '{dialect}' has no lock support (use mysql/mariadb or postgresql)")
    engine.dispose()


def promotion_lock(cfg: LockConfig, workspace: Path, model: str, timeout: float = DEFAULT_TIMEOUT_S):
    return workspace_lock(cfg, workspace, f"runway-promotion-{model}", timeout)


def workspace_lock(cfg: LockConfig, workspace: Path, name: str, timeout: float = DEFAULT_TIMEOUT_S):
    """The environment's lock (``lock.backend``: a file in the workspace or SQL) under ``name``."""
    if cfg.backend == "sql":
        if not cfg.url:
            raise ValueError("lock.url is required when lock.backend is 'sql'")
        return sql_lock(reveal(cfg.url), name, timeout)
    return file_lock(workspace / "locks" / f"{name}.lock", timeout)
