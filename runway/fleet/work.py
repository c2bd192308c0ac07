"""Per-tenant work that runs in a process pool: fit, evaluate, and the pool.

Pure functions of their inputs (frames, settings, models): no ZenML, no
registry, no files, so a worker process needs nothing but the job. The chunk
step does the Model Control Plane side in its own process afterwards.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from runway.config import Settings
from runway.evaluation import report as evaluation_lib
from runway.features import frames as frames_lib
from runway.modeling import artifact as modeling_lib
from runway.modeling.artifact import ModelArtifact


@dataclass
class TenantJob:
    tenant: str
    settings: Settings  # the tenant's (overrides applied)
    frame: pd.DataFrame  # the tenant's feature frame (labelled and not)
    history: pd.DataFrame  # the tenant's raw history (for the baseline)
    features: list[str]
    min_history_days: int  # tenants.min_history_days (0: the split's rule only, see cold_start_reason)
    reference: ModelArtifact | None = None  # production, or the pooled model for a tenant it serves
    reference_version: str | None = None


@dataclass
class TenantFit:
    tenant: str
    status: str  # "fitted" | "cold_start" | "failed"
    reason: str = ""
    model: ModelArtifact | None = None
    evaluation: dict = field(default_factory=dict)
    seconds: float = 0.0
    labelled_days: int = 0


def labelled_days(frame: pd.DataFrame, settings: Settings) -> int:
    lab = frame.dropna(subset=[settings.target])
    return int(lab[settings.timestamp].dt.normalize().nunique())


def cold_start_reason(frame: pd.DataFrame, settings: Settings, min_history_days: int = 0) -> str | None:
    """Why the tenant's labelled history cannot train its own model yet
    (None: it can). The split's own rule, in its own units: after the
    warm-up (calendar days) and the holdout (the last ``holdout_days``
    calendar days), at least ``split.min_train_days`` distinct training
    dates, so weekly snapshots and daily rows are judged alike; and at least
    ``tenants.min_history_days`` labelled dates when the use case sets it."""
    days = labelled_days(frame, settings)
    if days < min_history_days:
        return f"{days} labelled days < tenants.min_history_days {min_history_days}"
    usable = frames_lib.drop_warmup(frame.dropna(subset=[settings.target]), settings) if days else frame.iloc[:0]
    ts, split = settings.timestamp, settings.split
    if usable.empty:
        return f"{days} labelled days, none after the {frames_lib.warmup_cutoff(settings).days}-day warm-up"
    cut = usable[ts].max() - pd.Timedelta(days=split.holdout_days - 1)
    train_days = int(usable.loc[usable[ts] < cut, ts].dt.normalize().nunique())
    if train_days < split.min_train_days:
        return (
            f"{days} labelled days: {train_days} training days after the warm-up and the {split.holdout_days}-day holdout "
            f"< split.min_train_days {split.min_train_days}"
        )
    return None


def fit_and_evaluate(job: TenantJob) -> TenantFit:
    """Fit the tenant's candidate on its training window and evaluate it
    against its baseline and its reference on the same holdout rows. Never
    raises: a failure is the tenant's, with the reason."""
    t0 = time.perf_counter()
    s = job.settings
    try:
        days = labelled_days(job.frame, s)
        if (why := cold_start_reason(job.frame, s, job.min_history_days)) is not None:
            return TenantFit(job.tenant, "cold_start", f"{why}: not enough for its own model", labelled_days=days)
        usable = frames_lib.drop_warmup(job.frame.dropna(subset=[s.target]), s)
        train, holdout = modeling_lib.time_split(usable, s.timestamp, s.split)
        # A feature with no value in this tenant's training window (e.g. a
        # short history) cannot be binned: the tenant's model goes without it.
        features = [f for f in job.features if train[f].notna().any()]
        model = modeling_lib.train(train, features, s.model, s.timestamp)
        if len(features) < len(job.features):
            model.metadata["dropped_features"] = sorted(set(job.features) - set(features))
        report = evaluation_lib.evaluate_candidate(s, model, holdout, job.history, production=job.reference, production_version=job.reference_version)
        return TenantFit(job.tenant, "fitted", model=model, evaluation=report.to_dict(), seconds=time.perf_counter() - t0, labelled_days=days)
    except Exception as exc:  # noqa: BLE001 - one tenant's failure is reported, never raised into the fleet
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)[1:][-6:]
        where = " > ".join(f"{os.path.basename(f.filename)}:{f.lineno}" for f in frames)
        reason = f"{type(exc).__name__}: {exc} (at {where})"
        return TenantFit(job.tenant, "failed", reason, seconds=time.perf_counter() - t0)


# ------------------------------------------------------------------- pool --

_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


def _init_worker() -> None:
    # One process per core: keep each one's native thread pools to one thread.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    limit_native_threads()


def limit_native_threads() -> None:
    """One OpenMP/BLAS thread: threadpoolctl only reaches libraries already
    loaded, so load the estimators' OpenMP runtime first."""
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime HistGradientBoosting uses
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    threadpool_limits(1)


def pool(workers: int) -> ProcessPoolExecutor | None:
    """A process pool kept for the life of the process (chunk steps of one
    local run reuse it); None for one worker. Workers are forked from a
    clean server process (forkserver), never from the step's threads."""
    global _POOL, _POOL_SIZE
    if workers <= 1:
        return None
    if _POOL is None or workers != _POOL_SIZE:
        if _POOL is not None:
            _POOL.shutdown(cancel_futures=True)
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["runway.fleet.work"])
        _POOL, _POOL_SIZE = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker), workers
    return _POOL


def shutdown_pool() -> None:
    global _POOL, _POOL_SIZE
    if _POOL is not None:
        _POOL.shutdown()
    _POOL, _POOL_SIZE = None, 0


def run_jobs(fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int) -> Iterator[Any]:
    """``fn(job)`` for every job, in a process pool of ``workers`` (results as they finish)."""
    ex = pool(workers)
    if ex is None:
        for j in jobs:
            yield fn(j)
        return
    from concurrent.futures import as_completed

    futures: list[Future] = [ex.submit(fn, j) for j in jobs]
    for f in as_completed(futures):
        yield f.result()
