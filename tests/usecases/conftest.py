"""Every use case, one contract: the retail and churn YAMLs shipped in
configs/use_cases, and the onboarding document's YAML-only dataset."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from runway.config import CONFIG_DIR, Settings, load_settings
from tests.usecases import bikes

# Small enough for the whole loop in well under a minute per use case.
SMALL = {
    "retail_demand": {"simulation": {"stores": 3, "items": 4, "history_days": 196, "live_weeks": 2}},
    "churn": {"simulation": {"customers": 800, "live_weeks": 2}},
    "bike_rentals": {},
}
USE_CASES = sorted(SMALL)


def use_case_settings(name: str, tmp_path: Path, **extra) -> Settings:
    """Settings of use case ``name`` on a throwaway workspace and ZenML store."""
    if name == "bike_rentals":
        source = tmp_path / "bike_rentals.yaml"
        source.write_text(bikes.USE_CASE_YAML)
    else:
        source = CONFIG_DIR / "use_cases" / f"{name}.yaml"
    overrides = {
        **SMALL[name],
        "model": {"name": f"test-{name.replace('_', '-')}-{uuid.uuid4().hex[:8]}"},
        "evaluation": {"bootstrap_samples": 100},
        "environment": {"workspace": str(tmp_path / "ws"), "zenml": {"config_dir": None}},
        **extra,
    }
    settings = load_settings(source, "local", overrides)
    if name == "bike_rentals":
        bikes.write_dataset(settings.raw_dir)
    return settings


@pytest.fixture(params=USE_CASES)
def use_case(request, tmp_path: Path) -> Settings:
    return use_case_settings(request.param, tmp_path)
