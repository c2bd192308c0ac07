"""Corrupt stores are refused with the file and the restore; hostile paths
are refused at load; unreadable raw files are quarantined; two first-use
processes on one fresh workspace both succeed (guarantee 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runway.config import PROJECT_ROOT
from runway.platform.runtime import ZENML_DB, StoreError, check_zenml_db
from tests.conftest import make_settings
from tests.reliability.conftest import run_cli, snapshot

pytestmark = pytest.mark.reliability


def _ws_settings(tmp_path, config_dir="zenml"):
    repo = tmp_path / "feature_repo"
    if not repo.exists():
        shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return make_settings(tmp_path, repo, environment={"workspace": str(tmp_path / "ws"), "feature_repo": str(repo), "zenml": {"config_dir": config_dir}})


def _first_use(tmp_path) -> Path:
    """A workspace whose own embedded ZenML store was created by the real CLI."""
    ws = tmp_path / "ws"
    out = run_cli("registry", "list", "--workspace", str(ws), env={"ZENML_CONFIG_PATH": ""})
    assert out.returncode == 0, out.stderr
    db = ws / "zenml" / ZENML_DB
    assert db.stat().st_size > 0
    return db


def test_two_concurrent_first_use_processes_both_succeed(tmp_path):
    import subprocess
    import sys

    ws = tmp_path / "ws"
    env_cmd = [sys.executable, str(PROJECT_ROOT / "run.py"), "registry", "list", "--workspace", str(ws)]
    import os

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("RUNWAY_ZENML_CONFIGURED", None)
    env.pop("ZENML_CONFIG_PATH", None)
    procs = [subprocess.Popen(env_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT_ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert (ws / "zenml" / ZENML_DB).stat().st_size > 0


def test_a_zeroed_zenml_db_with_logged_decisions_is_refused_not_recreated(tmp_path):
    db = _first_use(tmp_path)
    settings = _ws_settings(tmp_path)
    from runway.governance.decision_log import open_log

    open_log(settings).append({"model": "m", "version": "1", "action": "promote", "artifact_sha256": "x"})
    db.write_bytes(b"")
    out = run_cli("registry", "list", "--workspace", str(settings.workspace), env={"ZENML_CONFIG_PATH": ""})
    assert out.returncode == 1
    assert str(db) in out.stderr and "empty" in out.stderr and "restore" in out.stderr, out.stderr
    assert db.stat().st_size == 0, "ZenML did not silently re-create it"


def test_a_truncated_zenml_db_names_the_file_and_the_restore(tmp_path):
    db = _first_use(tmp_path)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    before = snapshot(tmp_path / "ws")
    out = run_cli("registry", "list", "--workspace", str(tmp_path / "ws"), env={"ZENML_CONFIG_PATH": ""})
    assert out.returncode == 1
    assert str(db) in out.stderr and "corrupt" in out.stderr and "restore" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert snapshot(tmp_path / "ws", skip=(".zenml-init.lock",)) == {k: v for k, v in before.items() if k != ".zenml-init.lock"}
    with pytest.raises(StoreError, match="corrupt"):
        check_zenml_db(_ws_settings(tmp_path))


@pytest.mark.parametrize("how", ["truncate", "garbage"])
def test_a_corrupt_feast_registry_names_the_file_and_the_restore(tmp_path, how):
    from runway.features import store as fs_lib

    settings = _ws_settings(tmp_path, config_dir=None)
    reg = settings.workspace / settings.environment.feast.registry
    reg.parent.mkdir(parents=True)
    from feast.protos.feast.core.Registry_pb2 import Registry

    good = Registry(registry_schema_version="1", version_id="a" * 200).SerializeToString()
    reg.write_bytes(good[: len(good) // 2] if how == "truncate" else b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(fs_lib.FeatureStoreError, match=rf"{reg}.*corrupt.*restore"):
        fs_lib.open_store(settings)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("feast: {registry: ../../../escaped.db}\n", "environment.feast.registry"),
        ("source: {kind: parquet, location: ../../../escaped}\n", "environment.source.location"),
        ("zenml: {config_dir: ../../escaped}\n", "environment.zenml.config_dir"),
        ("feast: {registry: /tmp/elsewhere/registry.db}\n", "environment.feast.registry"),
    ],
)
def test_hostile_config_paths_are_refused_before_anything_is_written(tmp_path, body, key):
    env = tmp_path / "hostile.yaml"
    env.write_text(f"name: local\nworkspace: {tmp_path / 'a' / 'b' / 'ws'}\n{body}")
    out = run_cli("registry", "list", "--env", str(env))
    assert out.returncode == 2
    assert f"key '{key}'" in out.stderr and "hostile.yaml" in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["hostile.yaml"], "nothing written, inside or outside"


def test_an_unreadable_raw_file_is_quarantined_and_named(tmp_path):
    from pipelines.training import run_training
    from runway.data.contract import ContractViolation
    from tests.integration.conftest import write_history

    settings = _ws_settings(tmp_path, config_dir=None)
    files = write_history(settings)
    victim = files[len(files) // 2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    before = snapshot(settings.raw_dir)
    with pytest.raises(ContractViolation, match="unreadable") as err:
        run_training(settings)
    assert str(victim) in str(err.value) and "quarantined to" in str(err.value)
    q = [p for p in settings.use_case_path("quarantine").iterdir() if not p.name.startswith(".")]
    assert len(q) == 1 and (q[0] / victim.name).read_bytes() == victim.read_bytes() and (q[0] / "report.json").exists()
    assert snapshot(settings.raw_dir) == before, "the source is copied, never changed"
