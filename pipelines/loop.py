"""The whole operating loop, as `python run.py` runs it, in simulated time.

Each job only knows what had been recorded by its time:

    train (as of the first scoring batch)
    for each scoring batch k:  score batch k  ->  monitor every scored batch
    whose labels are due before batch k+1  ->  if the policy fires, retrain
    as of then and let the gate decide
    finally monitor the batches still open.

The batches are the scoring stream's own (``batch=<date>`` files): a use case
with a simulator gets them written first, any other use case brings its own.
Every step is a ZenML pipeline run; this module only sequences them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from runway.config import Settings
from runway.data import sources
from runway.data.labels import labels_due
from runway.plugins import PluginError, load_plugin

SCENARIO_BATCHES = 8  # long enough for drifted batches to reach the training set


def raw_dir(settings: Settings):
    return settings.raw_dir


def scenarios(settings: Settings) -> list[str]:
    plugin = load_plugin(settings)
    return list(plugin.hook("SCENARIOS")) if plugin.has("SCENARIOS") else ["none"]


def resolve_scenario(settings: Settings, scenario: str) -> str:
    """The plug-in's scenario name for ``scenario`` (aliases allowed), or ValueError."""
    known = scenarios(settings)
    # "drift" is every simulator's main drift scenario (its second one).
    name = known[1] if scenario == "drift" and len(known) > 1 else scenario
    if name not in known:
        raise ValueError(f"--scenario: unknown scenario {scenario!r} for use case '{settings.use_case}'; choose one of drift, {', '.join(known)}")
    return name


def ensure_data(settings: Settings, scenario: str = "none", batches: int | None = None, progress=print) -> list[date]:
    """With a simulator: sample history and ``batches`` scoring batches (written
    only where absent). Without one: nothing is written. Returns the scoring
    batch dates to run, in order."""
    plugin = load_plugin(settings)
    raw = raw_dir(settings)
    if plugin.simulates:
        if plugin.hook("ensure_history")(raw, settings):
            progress(f"sample history written to {raw}")
        n = batches or (SCENARIO_BATCHES if scenario != "none" else None)
        starts = plugin.hook("live_batch_dates")(settings, n)
        plugin.hook("write_live_batches")(raw, settings, starts, resolve_scenario(settings, scenario))
        return list(starts)
    if scenario != "none":
        raise PluginError(f"--scenario needs a simulator; use case '{settings.use_case}' has none")
    found = scoring_batches(settings)
    return found[:batches] if batches else found


def scoring_batches(settings: Settings) -> list[date]:
    """Dates of the scoring stream's batches, in order."""
    files = sources.list_batches(settings.environment.source, settings.raw_dir, settings.streams.scoring)
    return sorted(d for d in (sources.batch_date(p) for p in files) if d is not None)


def scoring_batches_fleet(settings: Settings, tenant_ids: list[str]) -> list[str]:
    """Dates (ISO) of the scoring batches any of the fleet's tenants has, in order."""
    from runway.fleet import data as fleet_data

    found: set[str] = set()
    for t in tenant_ids if settings.tenants and settings.tenants.source == "folders" else [None]:
        for p in fleet_data._files(settings, settings.streams.scoring, t):  # noqa: SLF001
            if (d := sources.batch_date(p)) is not None:
                found.add(d.isoformat())
    return sorted(found)


def pending_monitoring(settings: Settings, today: date | None = None) -> list[date]:
    """Scored batches whose labels are due and that have no monitoring report yet."""
    from runway.serving.predictions import scored_batches

    today = today or datetime.now(UTC).date()
    reports = settings.use_case_path("reports")
    return [b for b in scored_batches(settings) if labels_due(b, settings.schedule) <= today and not (reports / f"monitoring-{b.isoformat()}.html").exists()]


def _iso(d: date) -> str:
    return pd.Timestamp(d, tz="UTC").isoformat()


def run_loop(settings: Settings, scenario: str = "none", batches: int | None = None, progress=print) -> dict:
    from pipelines.batch_inference import run_batch_inference
    from pipelines.monitoring import run_monitoring
    from pipelines.training import run_training

    live = ensure_data(settings, scenario, batches, progress)
    if not live:
        raise sources.SourceError(
            f"no scoring batches under {raw_dir(settings) / settings.streams.scoring}: nothing to score (see docs/onboarding.md for the layout)"
        )
    progress(f"[train] as of {live[0]} (history only)")
    out: dict = {"scenario": scenario, "training": run_training(settings, as_of=_iso(live[0])), "inference": [], "monitoring": [], "retraining": []}

    def monitor(batch: date) -> None:
        due = labels_due(batch, settings.schedule)
        progress(f"[monitor] batch {batch} (labels due {due})")
        m = run_monitoring(settings, [batch], as_of=due)
        out["monitoring"].append(m)
        if m["decision"]["retrain"]["retrain"]:
            progress(f"[retrain] as of {due}: {'; '.join(m['decision']['retrain']['reasons'])}")
            out["retraining"].append({"window": m["window"], **run_training(settings, as_of=_iso(due))})

    # Monitor a scored batch once its labels are due before the next batch is
    # scored (retraining then only learns labels recorded by that time), and
    # every batch still open at the end.
    open_batches: list[date] = []
    for k, batch in enumerate(live):
        progress(f"[infer] batch {batch} ({k + 1}/{len(live)})")
        out["inference"].append(run_batch_inference(settings, batch))
        open_batches.append(batch)
        clock = batch + timedelta(days=settings.schedule.batch_days)
        for due_batch in [b for b in open_batches if labels_due(b, settings.schedule) <= clock]:
            monitor(due_batch)
            open_batches.remove(due_batch)
    for batch in open_batches:
        monitor(batch)
    return out
