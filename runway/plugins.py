"""A use case's plug-in: the small module its YAML names under ``plugin:``.

The core never imports a use case; it loads the module by name and calls
only these optional hooks:

``SIMULATION_CONFIG``
    a pydantic model that types the use case's ``simulation:`` section.
``ensure_history(raw_dir, settings) -> bool``
    write sample history if absent (True if written).
``write_live_batches(raw_dir, settings, starts, scenario) -> list[date]``
    write scoring batches (and their late labels) for the given batch dates.
``live_batch_dates(settings, n) -> list[date]``
    the first ``n`` batch dates after the simulated history.
``SCENARIOS``
    names of the drift scenarios ``write_live_batches`` understands.
``kpi_frame(frame, actual, prediction, segment_cols, kpi) -> DataFrame``
    business KPIs per segment and in total (``level``, ``segment`` columns
    plus the KPI's numbers; ``kpi`` is the ``monitoring.kpi`` section).
``KPI_HEADLINE``
    column names of the KPI frame to show in summaries, in order.
``build_feature_tables(rows, settings) -> dict[str, DataFrame]``
    only when ``features.builder`` names it: tables the declarations cannot express.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runway.config.schema import Settings


class PluginError(ValueError):
    """The use case's plug-in module is missing or lacks a hook it was asked for."""


@dataclass(frozen=True)
class Plugin:
    name: str | None
    module: ModuleType | None

    def has(self, hook: str) -> bool:
        return self.module is not None and hasattr(self.module, hook)

    def hook(self, hook: str) -> Any:
        if not self.has(hook):
            where = f"plug-in module '{self.name}'" if self.name else "this use case (it names no plugin)"
            raise PluginError(f"{where} has no '{hook}'")
        return getattr(self.module, hook)

    @property
    def simulates(self) -> bool:
        return self.has("ensure_history")

    def simulation_config(self, settings: Settings) -> Any:
        """The typed ``simulation`` section (None when the use case has none)."""
        if settings.simulation is None and not self.simulates:
            return None
        model = getattr(self.module, "SIMULATION_CONFIG", None)
        data = settings.simulation or {}
        return model.model_validate(data) if model is not None else data


_CACHE: dict[str, ModuleType] = {}


def load_plugin(settings: Settings) -> Plugin:
    name = settings.plugin
    if name is None:
        return Plugin(None, None)
    if name not in _CACHE:
        try:
            _CACHE[name] = importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"key 'plugin': cannot import module '{name}': {exc}") from None
    return Plugin(name, _CACHE[name])
