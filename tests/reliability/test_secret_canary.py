"""No secret in ZenML's store (guarantee 3): a real training run and a KFP
compile with credential-bearing connection strings in the environment; the
canary password is found nowhere ZenML or Runway wrote."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from runway.config import PROJECT_ROOT, load_settings, reveal
from tests.conftest import SMALL_SIMULATION, free_port
from tests.integration.conftest import write_history

pytestmark = pytest.mark.reliability

CANARY = "CanaryPw-7f3a9c1e"


def _grep(path: Path) -> list[str]:
    hits = []
    for p in [path] if path.is_file() else path.rglob("*"):
        if p.is_file() and CANARY.encode() in p.read_bytes():
            hits.append(str(p))
    return hits


def test_the_canary_password_never_reaches_zenml_the_workspace_logs_or_specs(tmp_path, monkeypatch, capfd, caplog):
    repo = tmp_path / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    # Staging-like: connection strings with a password come from the
    # environment. The run itself uses local stores; the predictions sink is
    # referenced (a SECRET_KEYS value) but training never needs it.
    monkeypatch.setenv("RUNWAY_CANARY_SINK_URL", f"sqlite:///{tmp_path / 'sink.db'}?user=runway&password={CANARY}")
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY", "k" * 40)
    env = {
        "name": "canary",
        "workspace": str(tmp_path / "ws"),
        "feature_repo": str(repo),
        "source": {"kind": "parquet", "location": "raw"},
        "feast": {"registry": "feast/registry.db", "online_store": "sqlite"},
        "zenml": {"config_dir": None},
        "lock": {"backend": "file"},
        "predictions_sink": "${RUNWAY_CANARY_SINK_URL}",
        "stack": {"parent_image": "registry.example.com/runway:1", "kubeflow_host": "https://kfp.example.com/pipeline", "kubernetes_context": "staging-eu"},
        "overrides": {
            "simulation": SMALL_SIMULATION,
            "model": {"name": f"canary-{os.getpid()}", "params": {"max_iter": 60}},
            "evaluation": {"bootstrap_samples": 100},
        },
    }
    env_file = tmp_path / "canary.yaml"
    env_file.write_text(yaml.safe_dump(env))
    settings = load_settings(env=str(env_file))
    assert CANARY not in settings.model_dump_json()
    assert CANARY in reveal(settings.environment.predictions_sink), "the reference still resolves at use time"

    from pipelines.training import run_training

    write_history(settings)
    result = run_training(settings)
    assert result["decision"]["promote"]

    from pipelines.compile import compile_all

    specs = compile_all(settings, "kubeflow", tmp_path / "compiled", pipelines=["training"], port=free_port())
    captured = capfd.readouterr()

    zenml_home = Path(os.environ["ZENML_CONFIG_PATH"])
    stores = sorted(zenml_home.rglob("zenml.db*"))
    assert stores, "the run wrote ZenML's SQLite store"
    hits = [h for s in stores for h in _grep(s)]
    hits += _grep(settings.workspace)
    hits += [h for p in specs.values() for h in _grep(Path(p))]
    hits += _grep(zenml_home / "local_stores") if (zenml_home / "local_stores").exists() else []  # artifacts and step logs
    assert CANARY not in captured.out + captured.err
    assert CANARY not in caplog.text
    assert not hits, f"the canary password leaked into {sorted(set(hits))}"
