"""Exactly one production version, even when promotions race."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from zenml.client import Client
from zenml.enums import ModelStages

from runway.config import PROJECT_ROOT
from runway.governance import registry

pytestmark = pytest.mark.integration


def _second_version(settings):
    """Register v2 with a recorded hash by training on fewer batches."""
    from pipelines.training import run_training

    names = sorted(p.name.split(".")[0].removeprefix("batch=") for p in (settings.raw_dir / "sales").glob("*.parquet"))
    run_training(settings, batches=names[:-1])
    return registry.version(settings.model.name, "2")


def test_two_processes_promoting_at_once_leave_one_production(trained, tmp_path):
    settings, _ = trained
    v2 = _second_version(settings)
    assert v2.artifact_sha256
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("promote_worker.py")),
                str(settings.workspace),
                str(settings.feature_repo),
                settings.model.name,
                v,
                str(go),
            ],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in ("1", "2")
    ]
    import time

    time.sleep(6)  # both workers imported and waiting
    go.touch()
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    prods = registry.list_versions(settings.model.name, stage="production")
    assert len(prods) == 1
    # The log's last promotion is the version that holds production.
    last = registry.decision_log(settings).latest(settings.model.name, action="promote")
    assert last["version"] == prods[0].version


def test_store_with_two_production_versions_is_repaired(trained):
    settings, _ = trained
    v2 = _second_version(settings)
    # Force the broken state ZenML's unlocked set_stage can produce.
    from sqlmodel import Session, update
    from zenml.zen_stores.schemas import ModelVersionSchema

    store = Client().zen_store
    with Session(store.engine) as s:
        s.exec(update(ModelVersionSchema).where(ModelVersionSchema.id == UUID(v2.id)).values(stage=ModelStages.PRODUCTION.value))
        s.commit()
    with pytest.raises(registry.MultipleProductionError, match="2 production versions"):
        registry.production(settings.model.name)
    actions = registry.enforce_single_production(settings, settings.model.name, repair=True)
    assert actions == ["archived duplicate production version 2 (kept 1)"]
    assert registry.production(settings.model.name).version == "1"
