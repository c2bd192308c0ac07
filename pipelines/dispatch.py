"""The one table of pipelines: names, aliases, pipeline objects, run helpers.

Every caller (the CLI, compilation, remote runs) resolves a pipeline here,
so a new pipeline is added in one place.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# key -> (module, pipeline object, run helper)
PIPELINES: dict[str, tuple[str, str, str]] = {
    "training": ("pipelines.training", "training_pipeline", "run_training"),
    "batch_inference": ("pipelines.batch_inference", "batch_inference_pipeline", "run_batch_inference"),
    "monitoring": ("pipelines.monitoring", "monitoring_pipeline", "run_monitoring"),
    "fleet_training": ("pipelines.fleet", "fleet_training_pipeline", "run_fleet_training"),
    "fleet_inference": ("pipelines.fleet", "fleet_inference_pipeline", "run_fleet_inference"),
    "fleet_monitoring": ("pipelines.fleet", "fleet_monitoring_pipeline", "run_fleet_monitoring"),
}
ALIASES = {
    "train": "training",
    "training_pipeline": "training",
    "infer": "batch_inference",
    "batch_inference_pipeline": "batch_inference",
    "monitor": "monitoring",
    "monitoring_pipeline": "monitoring",
    "fleet": "fleet_training",
    "fleet_training_pipeline": "fleet_training",
    "fleet_inference_pipeline": "fleet_inference",
    "fleet_monitoring_pipeline": "fleet_monitoring",
}


def pipeline_key(name: str) -> str:
    """``training``/``train``/``training_pipeline`` -> ``training`` (and so on)."""
    key = ALIASES.get(name, name)
    if key not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
    return key


def pipeline_name(key: str) -> str:
    """The ZenML pipeline name (what its runs are listed under)."""
    return PIPELINES[pipeline_key(key)][1]


def pipeline_objects() -> dict[str, Any]:
    return {key: getattr(importlib.import_module(mod), obj) for key, (mod, obj, _) in PIPELINES.items()}


def run_helper(key: str) -> Callable[..., dict]:
    mod, _, helper = PIPELINES[pipeline_key(key)]
    return getattr(importlib.import_module(mod), helper)


def run_on_stack(settings, kind: str, name: str, *, kubeconfig: str | None = None, **params: Any) -> dict:
    """Run one pipeline on the Kubeflow or Kubernetes stack (preflight first)
    and return what its run helper returns. ``params`` go to the helper:
    ``batches``/``as_of`` (training), ``batch`` (batch_inference, required),
    ``weeks``/``as_of``/``on_demand`` (monitoring, ``weeks`` required)."""
    from runway.platform.stacks import _check_kind, remote_session

    _check_kind(kind)
    key = pipeline_key(name)
    if key == "batch_inference" and "batch" not in params:
        raise ValueError("batch_inference needs batch=<date>")
    if key == "monitoring" and "weeks" not in params:
        raise ValueError("monitoring needs weeks=[<date>, ...]")
    with remote_session(settings, kind, list(pipeline_objects().values()), kubeconfig=kubeconfig) as ready:  # type: ignore[arg-type]
        return run_helper(key)(ready, **params)
