from __future__ import annotations

import numpy as np
import pandas as pd
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


def tiny_sales(days: int, seed: int, items: list[str], holiday_every: int, holiday_offset: int, day0: pd.Timestamp) -> pd.DataFrame:
    """A hand-sized raw sales frame (2 stores) for Feast tests."""
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product([["S000", "S001"], items, range(days)], names=["store_id", "item_id", "d"]).to_frame(index=False)
    n = len(idx)
    return pd.DataFrame(
        {
            "date": day0 + pd.to_timedelta(idx["d"], unit="D"),
            "store_id": idx["store_id"],
            "item_id": idx["item_id"],
            "region": "north",
            "price": rng.uniform(1, 5, n).round(2),
            "on_promotion": rng.random(n) < 0.2,
            "is_holiday": (idx["d"] % holiday_every == holiday_offset).to_numpy(),
            "stockout": rng.random(n) < 0.05,
            "units_sold": rng.poisson(8, n).astype(float),
        }
    )
