"""Shared fixtures. ZenML is pointed at a temporary config folder *before* it
is imported anywhere, so the suite never touches a user's global ZenML store."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

_ZENML_HOME = Path(tempfile.mkdtemp(prefix="runway-zenml-"))
os.environ["ZENML_CONFIG_PATH"] = str(_ZENML_HOME)
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_ENABLE_RICH_TRACEBACK"] = "false"
os.environ["AUTO_OPEN_DASHBOARD"] = "false"
os.environ["WHYLOGS_NO_ANALYTICS"] = "1"
os.environ["RUNWAY_ZENML_CONFIGURED"] = "1"  # the suite configured ZenML itself
os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
# The local decision-log key files go here, never into the user's ~/.config.
os.environ["XDG_CONFIG_HOME"] = str(_ZENML_HOME / "xdg")
os.environ.pop("RUNWAY_DECISION_LOG_KEY", None)

from runway.config import PROJECT_ROOT, Settings, load_settings  # noqa: E402


def pytest_configure(config):
    # ZenML resolves step sources against the main module's folder, as it does
    # for `python run.py`; pytest-xdist workers have no main file, so name the
    # project root, the folder run.py lives in.
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))

# Small enough for a test to train in seconds, big enough for real structure.
SMALL_SIMULATION = {"stores": 3, "items": 4, "history_days": 196}


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_ZENML_HOME, ignore_errors=True)


@pytest.fixture
def feature_repo_copy(tmp_path: Path) -> Path:
    """A throwaway copy of the Feast repo (never the real one)."""
    dst = tmp_path / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", dst, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return dst


def make_settings(tmp_path: Path, feature_repo: Path, **overrides) -> Settings:
    base = {
        "simulation": SMALL_SIMULATION,
        "model": {"name": f"test-{uuid.uuid4().hex[:10]}", "params": {"max_iter": 60}},
        "evaluation": {"bootstrap_samples": 100},
        "environment": {"workspace": str(tmp_path / "ws"), "feature_repo": str(feature_repo), "zenml": {"config_dir": None}},
    }
    for k, v in overrides.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return load_settings(overrides=base)


@pytest.fixture
def settings(tmp_path: Path, feature_repo_copy: Path) -> Settings:
    return make_settings(tmp_path, feature_repo_copy)


def free_port() -> int:
    """A port nothing listens on right now (for servers a test starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _url_or_skip(var: str) -> str:
    url = os.environ.get(var)
    if not url:
        pytest.skip(f"{var} is not set; set it to run tests against the real service (.ci/run does)")
    return url


@pytest.fixture
def postgres_url() -> str:
    return _url_or_skip("RUNWAY_TEST_POSTGRES_URL")


@pytest.fixture
def mysql_url() -> str:
    return _url_or_skip("RUNWAY_TEST_MYSQL_URL")


@pytest.fixture
def redis_url() -> str:
    return _url_or_skip("RUNWAY_TEST_REDIS_URL")
