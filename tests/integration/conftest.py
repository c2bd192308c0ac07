from __future__ import annotations

import pytest

import usecases.retail_demand as retail
from runway.config import Settings


def write_history(settings: Settings):
    retail.ensure_history(settings.raw_dir, settings)
    return sorted((settings.raw_dir / settings.streams.history).glob("batch=*.parquet"))


def write_live_week(settings: Settings):
    """The first live week (scoring rows + late labels); returns its date."""
    week = retail.live_batch_dates(settings, 1)[0]
    retail.write_live_batches(settings.raw_dir, settings, [week])
    return week


@pytest.fixture
def trained(settings: Settings):
    """Settings whose model already has a first training run (v1 production)."""
    from pipelines.training import run_training

    write_history(settings)
    result = run_training(settings)
    return settings, result
