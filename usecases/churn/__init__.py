"""Churn plug-in: the hooks of ``runway.plugins`` for the ``churn`` use case.

``configs/use_cases/churn.yaml`` declares the weekly customer snapshots, the
features and the classifier; this module adds the simulator of a
subscription business (``simulate.py``, typed by ``SimulationConfig``) and
the retention KPI (``kpi.py``, typed by ``kpi.KpiParams``).

Raw layout: ``<raw>/<streams.history>/batch=<snapshot date>.parquet`` holds a
week's snapshot with its label ``churned_30d`` and ``recorded_at`` (snapshot
+ ``schedule.label_delay_days``); ``<raw>/<streams.scoring>/batch=...`` the
same rows to score, label NaN. The history is written once, under the
undrifted process; the labels of its last weeks are therefore those of a
world without the live weeks' scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from runway.data.io import write_parquet_atomic
from usecases.churn import simulate as sim  # usecases.churn.simulate stays the module
from usecases.churn.kpi import KPI_HEADLINE, kpi_frame
from usecases.churn.simulate import SCENARIOS, SimulationConfig

if TYPE_CHECKING:
    import pandas as pd

    from runway.config.schema import Settings

SIMULATION_CONFIG = SimulationConfig

__all__ = [
    "KPI_HEADLINE",
    "SCENARIOS",
    "SIMULATION_CONFIG",
    "SimulationConfig",
    "ensure_history",
    "kpi_frame",
    "live_batch_dates",
    "write_live_batches",
]


def simulation(settings: Settings) -> SimulationConfig:
    """The typed ``simulation`` section, checked against the schedule."""
    cfg = SimulationConfig.model_validate(settings.simulation or {})
    sim.check_schedule(cfg, settings.schedule)
    return cfg


def _path(raw_dir: Path, stream: str, day: date) -> Path:
    return Path(raw_dir) / stream / f"batch={day.isoformat()}.parquet"


def _week(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    import pandas as pd

    return frame[frame[sim.TIMESTAMP] == pd.Timestamp(day, tz="UTC")].reset_index(drop=True)


def ensure_history(raw_dir: Path, settings: Settings) -> bool:
    """Write ``history_weeks`` labelled snapshots unless the history stream has batches; True if it wrote."""
    if any((Path(raw_dir) / settings.streams.history).glob("batch=*.parquet")):
        return False
    cfg = simulation(settings)
    truth = sim.with_recorded_at(sim.simulate(cfg, cfg.history_weeks), settings.schedule)
    for k in range(cfg.history_weeks):
        day = sim.snapshot_date(cfg, k)
        write_parquet_atomic(_week(truth, day), _path(raw_dir, settings.streams.history, day))
    return True


def live_batch_dates(settings: Settings, n: int | None = None) -> list[date]:
    """The first ``n`` weekly snapshot dates after the history (default ``simulation.live_weeks``)."""
    cfg = simulation(settings)
    n = cfg.live_weeks if n is None else n
    return [sim.history_end(cfg) + timedelta(days=7 * k) for k in range(n)]


def write_live_batches(raw_dir: Path, settings: Settings, starts: Sequence[date], scenario: str = "none") -> list[date]:
    """Write the snapshots to score for ``starts`` and, separately, their late labels.

    Batches whose scoring file exists are left alone; the scenario applies
    from ``starts[0]`` on. Returns the batch dates written.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    starts = list(starts)
    cfg = simulation(settings)
    todo = [d for d in starts if not _path(raw_dir, settings.streams.scoring, d).exists()]
    if not todo:
        return []
    weeks = [sim.week_index(cfg, d) for d in starts]
    truth = sim.simulate(cfg, max(weeks) + 1, scenario, drift_week=weeks[0])  # type: ignore[arg-type]
    for day in todo:
        rows = _week(truth, day)
        write_parquet_atomic(sim.scoring_rows(rows), _path(raw_dir, settings.streams.scoring, day))
        write_parquet_atomic(sim.with_recorded_at(rows, settings.schedule), _path(raw_dir, settings.streams.history, day))
    return todo
