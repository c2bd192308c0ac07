from __future__ import annotations

import pytest

from runway import simulate
from runway.config import Settings


def write_history(settings: Settings):
    return simulate.write_history(settings.workspace_path(settings.environment.source.location), settings.simulation)


@pytest.fixture
def trained(settings: Settings):
    """Settings whose model already has a first training run (v1 production)."""
    from pipelines.training import run_training

    write_history(settings)
    result = run_training(settings)
    return settings, result
