"""The whole operating loop, as `python run.py` runs it, in simulated time.

Each job only knows what had been recorded by its time:

    train (as of the first live week)
    for each live week k:  score week k  ->  monitor week k-1 (its labels are
    due now)  ->  if the policy fires, retrain as of now and let the gate decide
    finally monitor the last week.

Every step is a ZenML pipeline run; this module only sequences them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from runway import simulate
from runway.config import Settings

SCENARIO_ALIASES = {"drift": "price_shift"}
SCENARIO_WEEKS = 8  # long enough for drifted weeks to reach the training set


def live_weeks(settings: Settings, n: int | None = None) -> list[date]:
    start = simulate.history_end(settings.simulation)
    n = n or settings.simulation.live_weeks
    return [start + timedelta(days=settings.simulation.batch_days * k) for k in range(n)]


def labels_due(settings: Settings, week: date) -> date:
    return week + timedelta(days=settings.simulation.batch_days + settings.simulation.label_delay_days)


def ensure_live_data(settings: Settings, weeks: list[date], scenario: str = "none") -> list[date]:
    """Write plans + actuals for ``weeks`` that are not there yet; returns the written ones."""
    scenario = SCENARIO_ALIASES.get(scenario, scenario)
    raw = settings.workspace_path(settings.environment.source.location)
    written = []
    for w in weeks:
        if not (raw / "plan" / f"batch={w.isoformat()}.parquet").exists():
            simulate.write_live_week(raw, settings.simulation, w, scenario, drift_from=weeks[0])  # type: ignore[arg-type]
            written.append(w)
    return written


def pending_monitoring(settings: Settings, today: date | None = None) -> list[date]:
    """Scored weeks whose labels are due and that have no monitoring report yet."""
    today = today or date.today()
    scored = sorted(date.fromisoformat(p.name.removeprefix("batch=")) for p in settings.workspace_path("predictions").glob("batch=*") if p.is_dir())
    reports = settings.workspace_path("reports")
    return [w for w in scored if labels_due(settings, w) <= today and not (reports / f"monitoring-{w.isoformat()}.html").exists()]


def _iso(d: date) -> str:
    return pd.Timestamp(d, tz="UTC").isoformat()


def run_loop(settings: Settings, scenario: str = "none", weeks: int | None = None, progress=print) -> dict:
    from pipelines.batch_inference import run_batch_inference
    from pipelines.monitoring import run_monitoring
    from pipelines.training import run_training

    raw = settings.workspace_path(settings.environment.source.location)
    if simulate.ensure_sample_data(raw, settings.simulation):
        progress(f"sample history written to {raw}")
    live = live_weeks(settings, weeks or (SCENARIO_WEEKS if scenario != "none" else None))
    ensure_live_data(settings, live, scenario)
    progress(f"[train] as of {live[0]} (history only)")
    out: dict = {"scenario": scenario, "training": run_training(settings, as_of=_iso(live[0])), "inference": [], "monitoring": [], "retraining": []}

    def monitor(week: date) -> None:
        due = labels_due(settings, week)
        progress(f"[monitor] week {week} (labels due {due})")
        m = run_monitoring(settings, [week], as_of=due)
        out["monitoring"].append(m)
        if m["decision"]["retrain"]["retrain"]:
            progress(f"[retrain] as of {due}: {'; '.join(m['decision']['retrain']['reasons'])}")
            out["retraining"].append({"window": m["window"], **run_training(settings, as_of=_iso(due))})

    for k, week in enumerate(live):
        progress(f"[infer] week {week} ({k + 1}/{len(live)})")
        out["inference"].append(run_batch_inference(settings, week))
        if k:
            monitor(live[k - 1])
    monitor(live[-1])
    return out
