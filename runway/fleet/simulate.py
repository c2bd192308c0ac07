"""Simulated data for a fleet, for any plug-in that simulates one use case.

A plug-in with fleet hooks (``ensure_fleet_history``,
``write_fleet_live_batches``; the retail plug-in) writes its own tenants of
different sizes and behaviours. Any other plug-in that simulates
(``ensure_history``, ``live_batch_dates``, ``write_live_batches``) gets a
fleet from its single-use-case simulator, run once per declared tenant into
the tenant's raw folder (``tenants.source: folders``): tenant ``k`` of the
sorted ids uses ``simulation.seed + k`` (when the section has a seed), and
every third tenant (k = 2, 5, ...) gets the plug-in's main drift scenario
(``SCENARIOS[1]``) from the first live batch on.
"""

from __future__ import annotations

from datetime import date

from runway.config import Settings
from runway.fleet import tenants as tenants_lib
from runway.plugins import load_plugin

DRIFT_EVERY = 3


class FleetSimulationError(ValueError):
    """The fleet's data cannot be simulated for this use case's config."""


def _tenant_settings(settings: Settings, k: int) -> Settings:
    sim = dict(settings.simulation or {})
    if isinstance(sim.get("seed"), int):
        sim["seed"] = sim["seed"] + k
    return settings.model_copy(update={"simulation": sim})


def _scenario(plugin, k: int) -> str:
    scenarios = tuple(plugin.hook("SCENARIOS")) if plugin.has("SCENARIOS") else ()
    return scenarios[1] if len(scenarios) > 1 and k % DRIFT_EVERY == DRIFT_EVERY - 1 else "none"


def ensure_fleet_data(settings: Settings, weeks: int | None = None) -> tuple[bool, list[date]]:
    """Every tenant's history (unless present) and the live batches; returns
    (history written, live batch dates). No simulator: (False, [])."""
    plugin = load_plugin(settings)
    if plugin.has("ensure_fleet_history"):
        wrote = bool(plugin.hook("ensure_fleet_history")(settings.raw_dir, settings))
        starts = list(plugin.hook("live_batch_dates")(settings, weeks))
        plugin.hook("write_fleet_live_batches")(settings.raw_dir, settings, starts)
        return wrote, starts
    if not plugin.simulates:
        return False, []
    cfg = tenants_lib.config(settings)
    if cfg.source != "folders":
        raise FleetSimulationError(
            f"use case '{settings.use_case}': simulating a fleet with plug-in '{settings.plugin}' needs tenants.source 'folders' (one raw folder per tenant)"
        )
    ids = tenants_lib.discover(settings) if (cfg.ids or cfg.file) else []
    if not ids:
        raise FleetSimulationError(f"use case '{settings.use_case}': list the tenants to simulate in tenants.ids (or tenants.file)")
    wrote = False
    starts = list(plugin.hook("live_batch_dates")(settings, weeks))
    for k, t in enumerate(ids):
        s_t = _tenant_settings(settings, k)
        raw = settings.raw_dir / t
        wrote = bool(plugin.hook("ensure_history")(raw, s_t)) or wrote
        plugin.hook("write_live_batches")(raw, s_t, starts, _scenario(plugin, k))
    return wrote, starts
