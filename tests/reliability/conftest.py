"""The reliability tier: each guarantee of the README's "Reliability and
security" section, proved by a real fault on a temporary local stack."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runway.config import PROJECT_ROOT, Settings
from tests.conftest import make_settings
from tests.integration.conftest import write_history


@pytest.fixture(scope="module")
def trained_module(tmp_path_factory) -> tuple[Settings, dict]:
    """One trained workspace (v1 production) shared by a module's tests."""
    from pipelines.training import run_training

    tmp = tmp_path_factory.mktemp("rel")
    repo = tmp / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    settings = make_settings(tmp, repo)
    write_history(settings)
    return settings, run_training(settings)


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_file() and not any(rel.startswith(s) for s in skip):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python run.py ARGS`` in a child process (the real CLI, its own ZenML import)."""
    full = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    full.pop("RUNWAY_ZENML_CONFIGURED", None)  # the child configures ZenML itself, like a user's shell
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run.py"), *args], capture_output=True, text=True, env=full, timeout=timeout, cwd=PROJECT_ROOT)
