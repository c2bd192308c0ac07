"""Process set-up that must happen before ZenML is imported.

ZenML reads its global config location and analytics switch from the
environment when it is first imported, so ``configure`` runs first, in
``run.py`` and in the test suite.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from runway.config import Settings, reveal

ZENML_DB = Path("local_stores") / "default_zen_store" / "zenml.db"
INIT_LOCK = ".zenml-init.lock"


class StoreError(RuntimeError):
    """A local store (ZenML's SQLite database) is corrupt or was wiped."""


def zenml_db(settings: Settings) -> Path | None:
    """The embedded SQLite store of this environment, or None (a server or SQL store)."""
    zc = settings.environment.zenml
    if not settings.zenml_config_dir or zc.store_url or zc.server_url:
        return None
    return settings.zenml_config_dir / ZENML_DB


def _logged_decisions(settings: Settings) -> int:
    log = settings.workspace_path("decisions.jsonl")
    if not log.exists():
        return 0
    with open(log, encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if line.strip())


def check_zenml_db(settings: Settings) -> None:
    """Refuse a corrupt ZenML store, or an empty one where decisions were logged.

    ZenML re-creates a 0-byte ``zenml.db`` silently (the history is gone) and
    reports a truncated one as ``database disk image is malformed`` with no
    path; both are stopped here, naming the file and how to restore.
    """
    db = zenml_db(settings)
    if db is None:
        return
    logged = _logged_decisions(settings)
    restore = f"restore {db} from a backup (the decision log {settings.workspace_path('decisions.jsonl')} has {logged} entries)"
    if not db.exists() or db.stat().st_size == 0:
        if logged:
            what = "is empty (0 bytes)" if db.exists() else "is missing"
            raise StoreError(f"ZenML store {db} {what} but the decision log has {logged} entries: refusing to re-create it and lose the history; {restore}")
        return
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            result = [row[0] for row in con.execute("PRAGMA quick_check")]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        result = [str(exc)]
    if result != ["ok"]:
        raise StoreError(f"ZenML store {db} is corrupt ({'; '.join(map(str, result[:3]))}); {restore}, or move the zenml folder aside to start a new history")


@contextmanager
def workspace_lock(settings: Settings, name: str = INIT_LOCK) -> Iterator[None]:
    """An exclusive file lock in the workspace (blocks until free)."""
    settings.workspace.mkdir(parents=True, exist_ok=True)
    with open(settings.workspace_path(name), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


ACTIVE_DIR = ".active"
_UNFINISHED = ("initializing", "provisioning", "queued", "running")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register_process(settings: Settings) -> None:
    """Mark this process as one that may have runs in flight in the workspace."""
    import atexit

    d = settings.workspace_path(ACTIVE_DIR)
    d.mkdir(parents=True, exist_ok=True)
    me = d / str(os.getpid())
    me.touch()
    atexit.register(lambda: me.unlink(missing_ok=True))


def fail_orphaned_runs(settings: Settings) -> list[str]:
    """Mark failed the runs a killed process left ``running`` (embedded store only).

    The local orchestrator runs inside the CLI process, so when no other live
    Runway process is registered in the workspace, any unfinished run is an
    orphan of one that was killed. With another live process nothing is
    touched (its runs may be genuine).
    """
    if zenml_db(settings) is None:
        return []
    d = settings.workspace_path(ACTIVE_DIR)
    with workspace_lock(settings, ".active.lock"):
        others = []
        for f in d.glob("*") if d.exists() else []:
            if f.name.isdigit() and int(f.name) != os.getpid():
                if _alive(int(f.name)):
                    others.append(f.name)
                else:
                    f.unlink(missing_ok=True)
        if others:
            return []
        from zenml.client import Client
        from zenml.enums import ExecutionStatus
        from zenml.models import PipelineRunUpdate, StepRunUpdate

        client, fixed = Client(), []
        for status in _UNFINISHED:
            for run in client.list_pipeline_runs(status=status, size=1000).items:
                for step in client.list_run_steps(pipeline_run_id=run.id, size=1000).items:
                    if str(step.status) in _UNFINISHED:
                        client.zen_store.update_run_step(step.id, StepRunUpdate(status=ExecutionStatus.FAILED))
                client.zen_store.update_run(
                    run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason="orphaned: the process running it was killed")
                )
                fixed.append(f"run {run.name} was left {status} by a killed process: marked failed")
        return fixed


def initialise_store(settings: Settings) -> None:
    """Create / migrate ZenML's store under a workspace lock, once.

    Two processes starting on a fresh workspace both ran ZenML's first
    migration, and the second died in it; serialised, the second finds the
    store ready.
    """
    with workspace_lock(settings):
        check_zenml_db(settings)
        from zenml.client import Client

        Client().zen_store  # noqa: B018 - the property creates and migrates the store


def cache_zenml_package_lookup() -> None:
    """Memoize ZenML's module -> distribution lookup for this process.

    ZenML resolves the source of every artifact's type (``pd.DataFrame``,
    ``dict``, ...) to its installed distribution through
    ``importlib.metadata.packages_distributions()``, which reads every
    installed distribution's file list on each call: ~0.3 s per output
    artifact here, 2.4 s of a 15 s training run. The installed
    distributions do not change under a running process, so one answer
    per module is enough. Idempotent; only ZenML's private helper is wrapped
    (zenml==0.98 is pinned; the unit test fails if the helper is gone)."""
    import functools

    from zenml.utils import source_utils

    lookup = source_utils._get_package_for_module  # noqa: SLF001 - the helper named above, zenml==0.98
    if not hasattr(lookup, "cache_info"):
        source_utils._get_package_for_module = functools.lru_cache(maxsize=None)(lookup)  # noqa: SLF001


def configure(settings: Settings) -> None:
    if "zenml" in sys.modules and os.environ.get("RUNWAY_ZENML_CONFIGURED") != "1":
        raise RuntimeError("runway.platform.runtime.configure must run before zenml is imported")
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")
    os.environ.setdefault("AUTO_OPEN_DASHBOARD", "false")
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")  # no network here; and no phoning home
    # Feast logs every registry refresh at INFO: noise in every step's log.
    import logging
    import warnings

    logging.getLogger("feast").setLevel(logging.WARNING)
    # Raised inside ZenML's own pydantic models on every step: not actionable here.
    warnings.filterwarnings("ignore", message=r".*__get_pydantic_core_schema__.*")
    zc = settings.environment.zenml
    if settings.zenml_config_dir:
        settings.zenml_config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["ZENML_CONFIG_PATH"] = str(settings.zenml_config_dir)
    if zc.store_url and not _SERVED:
        os.environ["ZENML_STORE_URL"] = reveal(zc.store_url)
    os.environ["RUNWAY_ZENML_CONFIGURED"] = "1"
    cache_zenml_package_lookup()
    if _SERVED == [STARTING]:
        return  # local_server creates the database's schema; the client connects to the server next
    initialise_store(settings)
    register_process(settings)


# The URL of the server managed_server runs, while it runs (STARTING before).
_SERVED: list[str] = []
STARTING = "starting"


def serves_zenml(settings: Settings) -> bool:
    """Whether commands of this environment run against a local ZenML server
    that run.py starts on ``zenml.store_url`` (no ``server_url`` given)."""
    zc = settings.environment.zenml
    return bool(zc.store_url) and not zc.server_url


@contextmanager
def managed_server(settings: Settings) -> Iterator[str | None]:
    """With ``zenml.store_url`` and no ``server_url``: start a local ZenML
    server on that database (MySQL/MariaDB), connect the client to it for the
    block and stop it afterwards, also on error; yields its URL. Otherwise
    nothing to do (yields None). The store URL reaches only the server
    process's environment, never a log or ZenML's database."""
    if not serves_zenml(settings) or _SERVED:
        yield _SERVED[0] if _SERVED and _SERVED[0] != STARTING else None
        return
    from runway.platform.stacks import local_server

    zc = settings.environment.zenml
    _SERVED[:] = [STARTING]
    try:
        with local_server(settings, reveal(zc.store_url), port=zc.server_port) as url:
            _SERVED[:] = [url]
            yield url
    finally:
        _SERVED.clear()


_RUNNING = ExitStack()


def start_server(settings: Settings) -> str | None:
    """``managed_server`` for the rest of the process: run.py's boot path
    starts it, ``stop_server`` (run.py's exit, or atexit) stops it."""
    if serves_zenml(settings) and not _SERVED:
        import atexit

        url = _RUNNING.enter_context(managed_server(settings))
        atexit.register(stop_server)
        return url
    return _SERVED[0] if _SERVED else None


def stop_server() -> None:
    _RUNNING.close()


def dashboard_hint(settings: Settings) -> str:
    zc = settings.environment.zenml
    prefix = f"ZENML_CONFIG_PATH={settings.zenml_config_dir} " if settings.zenml_config_dir else ""
    if zc.server_url:
        return f"open {zc.server_url}"
    if serves_zenml(settings):
        return f"the ZenML server run.py started on zenml.store_url stops with the command; to browse: {prefix}zenml login --local, with ZENML_STORE_URL set"
    return f"{prefix}zenml login --local   (then open http://127.0.0.1:8237)"
