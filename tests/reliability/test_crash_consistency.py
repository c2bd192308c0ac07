"""kill -9 in the middle of a promotion, then restart: ZenML and the decision
log agree again; runs a killed process left 'running' are failed on the next
start (guarantee 5)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runway.config import PROJECT_ROOT
from runway.governance import registry
from runway.platform.runtime import ZENML_DB
from tests.reliability.conftest import run_cli

pytestmark = pytest.mark.reliability


def _second_version(settings) -> str:
    from pipelines.training import run_training

    names = sorted(p.name.split(".")[0].removeprefix("batch=") for p in (settings.raw_dir / settings.streams.history).glob("*.parquet"))
    return run_training(settings, batches=names[:-2])["decision"]["version"]


def _kill_mid_promotion(settings, version: str, tmp_path: Path) -> None:
    go = tmp_path / "stalled"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("kill_worker.py")),
            str(settings.workspace),
            str(settings.feature_repo),
            settings.model.name,
            version,
            str(go),
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not go.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the worker never reached the decision log"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_sigkill_between_stage_change_and_log_is_finished_on_restart(trained_module, tmp_path):
    settings, _ = trained_module
    model = settings.model.name
    v2 = _second_version(settings)
    assert registry.production(model).version == "1"
    _kill_mid_promotion(settings, v2, tmp_path)

    # The half-done state the issue found: ZenML says v2, the log never recorded it.
    assert registry.production(model).version == v2
    assert registry.logged_production(settings, model) == "1"
    assert registry._intent_path(settings, model).exists()

    actions = registry.recover(settings, model)  # what every command runs at start
    assert actions and "finished" in actions[0]
    assert registry.logged_production(settings, model) == v2 == registry.production(model).version
    assert registry.decision_log(settings).verify() == []
    assert not registry._intent_path(settings, model).exists()
    assert registry.reconcile(settings, model, repair=False) == []


def test_a_production_version_the_log_never_recorded_is_found_and_archived(trained_module, tmp_path):
    """Without an intent record (a stage set outside Runway, or an old crash):
    `registry check` fails, `registry check --repair` restores the logged version."""
    from uuid import UUID

    from zenml.client import Client
    from zenml.enums import ModelStages

    settings, _ = trained_module
    model = settings.model.name
    logged = registry.logged_production(settings, model)
    other = next(v for v in registry.list_versions(model) if v.version != logged)
    Client().update_model_version(model, UUID(other.id), stage=ModelStages.PRODUCTION, force=True)
    with pytest.raises(registry.RegistryError, match=rf"production is v{other.version} but the decision log last promoted v{logged}"):
        registry.reconcile(settings, model, repair=False)
    fixed = registry.reconcile(settings, model, repair=True)
    assert fixed and registry.production(model).version == logged
    assert registry.reconcile(settings, model, repair=False) == []
    assert registry.decision_log(settings).verify() == []


def test_a_run_left_running_by_kill_9_is_marked_failed_on_the_next_start(tmp_path):
    ws = tmp_path / "ws"
    env = {"ZENML_CONFIG_PATH": ""}
    out = run_cli("simulate", "--workspace", str(ws), env=env)
    assert out.returncode == 0, out.stderr
    full = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}
    full.pop("RUNWAY_ZENML_CONFIGURED", None)
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "run.py"), "train", "--workspace", str(ws)],
        env=full,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = ws / "zenml" / ZENML_DB

    def statuses() -> list[str]:
        if not db.exists():
            return []
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
                return [r[0] for r in con.execute("select status from pipeline_run")]
        except sqlite3.Error:
            return []

    deadline = time.monotonic() + 240
    while "running" not in statuses():
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert "running" in statuses(), "the killed run is stuck in 'running'"

    out = run_cli("registry", "list", "--workspace", str(ws), env=env)
    assert out.returncode == 0, out.stderr
    assert "left running by a killed process: marked failed" in out.stderr
    assert "running" not in statuses() and "failed" in statuses()


def test_a_failed_training_leaves_no_empty_model_version(tmp_path):
    """A batch the contract rejects inside the pipeline (ingest step): the run fails, its model version is deleted."""
    import shutil

    import pandas as pd

    from pipelines.training import run_training
    from runway.data.contract import ContractViolation
    from tests.conftest import make_settings
    from tests.integration.conftest import write_history

    repo = tmp_path / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = make_settings(tmp_path, repo)
    files = write_history(settings)
    bad = pd.read_parquet(files[-1])
    bad[settings.target] = -1.0  # below the contract's minimum, readable
    bad.to_parquet(files[-1])
    with pytest.raises(Exception, match="rejected by the data contract|Pipeline run has failed"):
        run_training(settings)
    assert registry.list_versions(settings.model.name) == [], "no empty version is left behind"
    del ContractViolation
