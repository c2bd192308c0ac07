"""Fleet mode of the retail simulator: N tenants, each a few stores x items.

``simulation.tenants: N`` turns it on. Tenant ``t<k>`` (``t0000`` ...) gets
its own seed, size (``tenant_stores`` x ``tenant_items``, drawn from the
ranges) and behaviour:

* drifting (a ``drifting_share`` of tenants, chosen by seed): prices up 30%
  from the first live week on;
* a bad batch (the last ``bad_batch_tenants``): the latest history week has
  negative prices, so the contract quarantines it and that tenant fails;
* cold start (``t0001`` .. for ``cold_start_tenants``): only
  ``cold_start_days`` of history, too little for its own model.

Layout (``tenants.source``): ``folders`` writes
``raw/<tenant>/<stream>/batch=<date>.parquet``; ``column`` writes every
tenant into ``raw/<stream>/batch=<date>.parquet`` with the tenant column.
A tenant's history is one backfill batch (plus its last week on its own for
a bad-batch tenant), then one batch per live week.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from runway.data.io import write_parquet_atomic
from usecases.retail_demand.simulate import SimulationConfig, generate, history_end

if TYPE_CHECKING:
    from runway.config.schema import Settings


def tenant_ids(cfg: SimulationConfig) -> list[str]:
    return [f"t{k:04d}" for k in range(cfg.tenants)]


def _draw(lo_hi: tuple[int, int], rng: np.random.Generator) -> int:
    lo, hi = lo_hi
    return int(rng.integers(lo, max(lo, hi) + 1))


def tenant_config(cfg: SimulationConfig, k: int) -> tuple[SimulationConfig, dict]:
    """The tenant's own simulator settings and behaviour."""
    rng = np.random.default_rng([cfg.seed, 4242, k])
    stores, items = _draw(cfg.tenant_stores, rng), _draw(cfg.tenant_items, rng)
    cold = 1 <= k <= cfg.cold_start_tenants
    bad = k >= cfg.tenants - cfg.bad_batch_tenants
    drifting = (not cold and not bad and k > 0) and bool(rng.random() < cfg.drifting_share)
    days = cfg.cold_start_days if cold else cfg.history_days
    start = history_end(cfg) - timedelta(days=days)
    own = cfg.model_copy(update={"stores": stores, "items": items, "seed": cfg.seed * 100_003 + k, "start": start, "history_days": days, "tenants": 0})
    return own, {"stores": stores, "items": items, "cold_start": cold, "bad_batch": bad, "drifting": drifting}


def behaviours(cfg: SimulationConfig) -> dict[str, dict]:
    return {t: tenant_config(cfg, k)[1] for k, t in enumerate(tenant_ids(cfg))}


def _recorded(df: pd.DataFrame, settings: Settings, anchor: date) -> pd.DataFrame:
    """Actuals become known ``label_delay_days`` after their batch (week) closes."""
    sch, a = settings.schedule, pd.Timestamp(anchor, tz="UTC")
    week = (df[settings.timestamp] - a).dt.days // sch.batch_days
    start = a + pd.to_timedelta(week * sch.batch_days, unit="D")
    return df.assign(recorded_at=start + pd.Timedelta(days=sch.batch_days + sch.label_delay_days))


def _path(raw: Path, settings: Settings, tenant: str, stream: str, batch: date) -> Path:
    t = settings.tenants
    if t is not None and t.source == "column":
        return raw / stream / f"batch={batch.isoformat()}.parquet"  # every tenant in one file
    return raw / tenant / stream / f"batch={batch.isoformat()}.parquet"


def _write(frames: dict[Path, list[pd.DataFrame]], settings: Settings) -> None:
    col = settings.tenants.tenant_column if settings.tenants else "tenant"
    for path, parts in frames.items():
        df = pd.concat(parts, ignore_index=True)
        if settings.tenants is None or settings.tenants.source != "column":
            df = df.drop(columns=[col], errors="ignore")  # the folder names the tenant
        write_parquet_atomic(df, path)


def has_fleet_history(raw_dir: Path, settings: Settings) -> bool:
    raw = Path(raw_dir)
    return any(raw.glob(f"*/{settings.streams.history}/batch=*.parquet")) or any(raw.glob(f"{settings.streams.history}/batch=*.parquet"))


def write_fleet_history(raw_dir: Path, settings: Settings, cfg: SimulationConfig) -> list[str]:
    """Every tenant's history; returns the tenant ids."""
    raw, col = Path(raw_dir), settings.tenants.tenant_column if settings.tenants else "tenant"
    out: dict[Path, list[pd.DataFrame]] = {}
    ids = tenant_ids(cfg)
    for k, tenant in enumerate(ids):
        own, how = tenant_config(cfg, k)
        truth = _recorded(generate(own, own.start, own.history_days), settings, history_end(cfg)).assign(**{col: tenant})
        if how["bad_batch"]:
            last = pd.Timestamp(history_end(cfg) - timedelta(days=settings.schedule.batch_days), tz="UTC")
            head, tail = truth[truth[settings.timestamp] < last], truth[truth[settings.timestamp] >= last].copy()
            tail["price"] = -tail["price"]  # breaks contract.columns.price.min
            out.setdefault(_path(raw, settings, tenant, settings.streams.history, own.start), []).append(head)
            out.setdefault(_path(raw, settings, tenant, settings.streams.history, last.date()), []).append(tail)
        else:
            out.setdefault(_path(raw, settings, tenant, settings.streams.history, own.start), []).append(truth)
    _write(out, settings)
    return ids


def write_fleet_live_batches(raw_dir: Path, settings: Settings, cfg: SimulationConfig, starts: Sequence[date]) -> list[date]:
    """Plans and late actuals of every tenant for the batch dates in ``starts``
    (batches already written are left alone)."""
    raw, col, target = Path(raw_dir), settings.tenants.tenant_column if settings.tenants else "tenant", settings.model.target
    written = []
    ids = tenant_ids(cfg)
    for w in starts:
        if _path(raw, settings, ids[0], settings.streams.scoring, w).exists() or (raw / settings.streams.scoring / f"batch={w.isoformat()}.parquet").exists():
            continue
        plans: dict[Path, list[pd.DataFrame]] = {}
        sales: dict[Path, list[pd.DataFrame]] = {}
        for k, tenant in enumerate(ids):
            own, how = tenant_config(cfg, k)
            scenario = "price_shift" if how["drifting"] else "none"
            truth = generate(own, w, settings.schedule.batch_days, scenario=scenario, drift_from=history_end(cfg)).assign(**{col: tenant})  # type: ignore[arg-type]
            plans.setdefault(_path(raw, settings, tenant, settings.streams.scoring, w), []).append(truth.assign(**{target: np.nan}))
            sales.setdefault(_path(raw, settings, tenant, settings.streams.history, w), []).append(_recorded(truth, settings, w))
        _write(plans, settings)
        _write(sales, settings)
        written.append(w)
    return written
