"""Retail demand plug-in: the hooks of ``runway.plugins`` for ``retail_demand``.

The YAML (``configs/use_cases/retail_demand.yaml``) declares the data, the
features and the model; this module adds what YAML cannot say:

* a seeded simulator of daily store x item sales (``simulate.py``), typed by
  ``SimulationConfig`` (the ``simulation:`` section); the batch length and
  label delay are the use case's ``schedule``, the stream folders its
  ``streams`` (``sales``: actuals with ``recorded_at``; ``plan``: rows to
  forecast);
* the replenishment KPI (``kpi.py``): lost sales and overstock cost of
  forecast error, typed by ``kpi.KpiParams`` (``monitoring.kpi.params``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from usecases.retail_demand.kpi import KPI_HEADLINE, kpi_frame
from usecases.retail_demand.simulate import SCENARIOS, SimulationConfig, has_history, history_end, write_history, write_live_week

if TYPE_CHECKING:
    from runway.config.schema import Settings

SIMULATION_CONFIG = SimulationConfig

__all__ = [
    "KPI_HEADLINE",
    "SCENARIOS",
    "SIMULATION_CONFIG",
    "SimulationConfig",
    "ensure_fleet_history",
    "ensure_history",
    "kpi_frame",
    "live_batch_dates",
    "write_fleet_live_batches",
    "write_live_batches",
]


def simulation(settings: Settings) -> SimulationConfig:
    """The typed ``simulation`` section of ``settings``."""
    return SimulationConfig.model_validate(settings.simulation or {})


def ensure_history(raw_dir: Path, settings: Settings) -> bool:
    """Write the simulated sales history unless the history stream has batches; True if it wrote."""
    if has_history(raw_dir, settings.streams):
        return False
    write_history(Path(raw_dir), simulation(settings), settings.schedule, settings.streams)
    return True


def live_batch_dates(settings: Settings, n: int | None = None) -> list[date]:
    """The first ``n`` batch dates after the history (default ``simulation.live_weeks``)."""
    cfg = simulation(settings)
    n = cfg.live_weeks if n is None else n
    first = history_end(cfg)
    return [first + timedelta(days=settings.schedule.batch_days * k) for k in range(n)]


def write_live_batches(raw_dir: Path, settings: Settings, starts: Sequence[date], scenario: str = "none") -> list[date]:
    """Write plans and their late actuals for the batch dates in ``starts``.

    Batches whose plan already exists are left alone; the scenario applies
    from ``starts[0]`` on. Returns the batch dates written.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    starts = list(starts)
    if not starts:
        return []
    cfg, raw = simulation(settings), Path(raw_dir)
    written = []
    for w in starts:
        if (raw / settings.streams.scoring / f"batch={w.isoformat()}.parquet").exists():
            continue
        write_live_week(raw, cfg, settings.schedule, settings.streams, w, scenario, drift_from=starts[0], target=settings.model.target)  # type: ignore[arg-type]
        written.append(w)
    return written


def ensure_fleet_history(raw_dir: Path, settings: Settings) -> bool:
    """Fleet mode (``simulation.tenants: N``): every tenant's history unless present; True if it wrote."""
    from usecases.retail_demand import fleet

    cfg = simulation(settings)
    if cfg.tenants < 1:
        raise ValueError("the retail fleet simulator needs simulation.tenants >= 1")
    if fleet.has_fleet_history(Path(raw_dir), settings):
        return False
    fleet.write_fleet_history(Path(raw_dir), settings, cfg)
    return True


def write_fleet_live_batches(raw_dir: Path, settings: Settings, starts: Sequence[date]) -> list[date]:
    """Every tenant's plan and late actuals for the batch dates in ``starts``."""
    from usecases.retail_demand import fleet

    return fleet.write_fleet_live_batches(Path(raw_dir), settings, simulation(settings), starts)


def fleet_behaviours(settings: Settings) -> dict[str, dict]:
    """What the simulator made of each tenant (size, drifting, bad batch, cold start)."""
    from usecases.retail_demand import fleet

    return fleet.behaviours(simulation(settings))
