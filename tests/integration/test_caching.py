"""Caching is never stale: a new batch or changed library code re-runs what depends on it."""

from __future__ import annotations

import importlib
import linecache
import sys
import tempfile
from pathlib import Path

import pytest
from zenml import pipeline, step

from steps import train as train_steps
from steps.caching import depends_on
from tests.integration.conftest import write_live_week

pytestmark = pytest.mark.integration

# A throwaway "library" module, written fresh for each session: the test edits
# its source and checks which steps notice. ZenML resolves steps by import
# path, so the steps below live at module level.
_PKG_ROOT = Path(tempfile.mkdtemp(prefix="runway-cachelib-"))
(_PKG_ROOT / "runway_cache_probe").mkdir()
(_PKG_ROOT / "runway_cache_probe" / "__init__.py").write_text("")
_HELPER_FILE = _PKG_ROOT / "runway_cache_probe" / "helper.py"
_HELPER_FILE.write_text("def value():\n    return 1\n")
sys.path.insert(0, str(_PKG_ROOT))
import runway_cache_probe.helper as _helper  # noqa: E402


@step(cache_policy=depends_on(_helper))
def declared() -> int:
    return _helper.value()


@step
def undeclared() -> int:
    return _helper.value()


@pipeline(enable_cache=True)
def _cache_probe_pipeline() -> None:
    declared()
    undeclared()


def test_new_batch_reruns_ingestion_and_everything_downstream(trained):
    settings, first = trained
    from pipelines.training import run_training

    write_live_week(settings)
    again = run_training(settings)
    assert "ingest_batch" not in again["cached_steps"]
    assert "train_model" not in again["cached_steps"]
    assert again["evaluation"]["holdout"][1] > first["evaluation"]["holdout"][1]


def test_library_steps_declare_their_modules():
    deps = {s.import_path for s in train_steps.train_model.configuration.cache_policy.source_dependencies}
    assert {"runway.modeling.artifact", "runway.features.frames", "runway.features.store"} <= deps


def test_changing_a_library_function_reruns_the_step():
    """A step that calls a helper module re-runs after the helper's code changes;
    the same step without the declared dependency is served from cache."""

    def run():
        r = _cache_probe_pipeline()
        return {n: (s.status.value, s.outputs["output"][0].load()) for n, s in r.steps.items()}

    first = run()
    assert first["declared"] == ("completed", 1)
    _HELPER_FILE.write_text("def value():\n    return 22\n")
    linecache.checkcache(str(_HELPER_FILE))
    importlib.reload(_helper)
    second = run()
    assert second["declared"] == ("completed", 22), "declared dependency must bust the cache"
    assert second["undeclared"] == ("cached", 1), "ZenML's default key does not see helper modules"
