"""`python run.py --env staging` on the running services, end to end.

The real configs/environments/staging.yaml, with every URL from the
environment as in a staging deployment: run.py starts a local ZenML server on
its own MariaDB database (a user with a password), Feast keeps its SQL
registry in its own PostgreSQL database and its online rows in Redis under a
unique project, predictions and the decision log go to a second PostgreSQL
database, the promotion lock is MariaDB's GET_LOCK. The loop trains, scores
two batches and monitors them; then the test reads every store directly.
Everything is removed afterwards, also on failure."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from runway.config import PROJECT_ROOT, use_case_file
from tests.conftest import SMALL_SIMULATION, free_port
from tests.integration import services

pytestmark = [pytest.mark.integration, pytest.mark.services]

BATCHES = 2
TIMEOUT_S = 900


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _small_use_case(path: Path) -> Path:
    """retail_demand as the test suite trains it (small simulation, short fit)."""
    uc = yaml.safe_load(use_case_file("retail_demand").read_text())
    uc["simulation"] = {**uc.get("simulation", {}), **SMALL_SIMULATION}
    uc["model"] = {**uc["model"], "params": {**uc["model"].get("params", {}), "max_iter": 60}}
    uc["evaluation"] = {**uc.get("evaluation", {}), "bootstrap_samples": 100}
    path.write_text(yaml.safe_dump(uc, sort_keys=False))
    return path


@contextlib.contextmanager
def _redis_project(redis_url: str, project: str):
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        # Feast's Redis keys end with the project name; no prefix to set.
        for key in client.scan_iter(match=b"*" + project.encode() + b"*"):
            client.delete(key)
        client.close()


@contextlib.contextmanager
def _server_stopped(zenml_dir: Path, port: int):
    """Make sure no ZenML server daemon of this test outlives it."""
    try:
        yield
    finally:
        if _port_open(port):
            code = "from zenml.zen_server.deploy.deployer import LocalServerDeployer; LocalServerDeployer().remove_server(timeout=30)"
            subprocess.run([sys.executable, "-c", code], env={**os.environ, "ZENML_CONFIG_PATH": str(zenml_dir)}, timeout=120, check=False)


def test_staging_loop_on_the_real_services(tmp_path, postgres_url, mysql_url, redis_url):
    repo = tmp_path / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    use_case = _small_use_case(tmp_path / "retail_demand.yaml")
    workspace = tmp_path / "ws"
    project = services.unique("runway_stg")
    port = free_port()
    key = secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        zenml_url = stack.enter_context(services.mysql_database(mysql_url, with_user=True))
        lock_url = stack.enter_context(services.mysql_database(mysql_url))
        feast_url = stack.enter_context(services.pg_database(postgres_url))
        gov_url = stack.enter_context(services.pg_database(postgres_url))
        redis_client = stack.enter_context(_redis_project(redis_url, project))
        stack.enter_context(_server_stopped(workspace / "zenml", port))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_STORE_", "RUNWAY_ZENML_CONFIGURED", "ZENML_CONFIG_PATH"))}
        env.update(
            {
                "PYTHONPATH": str(PROJECT_ROOT),
                "RUNWAY_WORKSPACE": str(workspace),
                "RUNWAY_FEATURE_REPO": str(repo),
                "RUNWAY_FEAST_REGISTRY_URL": feast_url,
                "RUNWAY_REDIS_CONNECTION": redis_url,
                "RUNWAY_FEAST_PROJECT": project,
                "RUNWAY_ZENML_STORE_URL": zenml_url,
                "RUNWAY_ZENML_SERVER_PORT": str(port),
                "RUNWAY_ZENML_SERVER_URL": "",
                "RUNWAY_LOCK_URL": lock_url,
                "RUNWAY_DECISION_LOG_URL": gov_url,
                "RUNWAY_PREDICTIONS_URL": gov_url,
                "RUNWAY_DECISION_LOG_KEY": key,
                # Staging requires a human approval by default; the approval path
                # has its own tests (tests/integration/test_approval_flow.py), this one
                # checks the services, so the gate's pass goes straight to production.
                "RUNWAY_APPROVAL_REQUIRED": "false",
            }
        )

        def run(*args: str, timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
            cmd = [sys.executable, "run.py", *args, "--env", "staging", "--config", str(use_case)]
            return subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)

        started = time.monotonic()
        out = run("all", "--batches", str(BATCHES))
        seconds = time.monotonic() - started
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-6000:]
        print(f"staging loop: {seconds:.0f} s")
        assert not _port_open(port), "run.py left its ZenML server running"
        for url in (zenml_url, feast_url, gov_url):
            password = sa.engine.make_url(url).password
            if password:
                assert password not in log, "a connection password reached the output"

        # ZenML: the server's MariaDB store holds the run and a production version.
        model = yaml.safe_load(use_case.read_text())["model"]["name"]
        engine = sa.create_engine(zenml_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            stages = conn.execute(
                sa.text("SELECT mv.name, mv.stage FROM model_version mv JOIN model m ON mv.model_id = m.id WHERE m.name = :m"), {"m": model}
            ).all()
            runs = conn.execute(sa.text("SELECT COUNT(*) FROM pipeline_run")).scalar()
        engine.dispose()
        assert [s for _v, s in stages].count("production") == 1, stages
        assert runs and runs >= 1 + 2 * BATCHES, runs  # training, then inference + monitoring per batch

        # Predictions and decisions in PostgreSQL.
        engine = sa.create_engine(gov_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            batches = conn.execute(sa.text("SELECT batch, COUNT(*) FROM runway_predictions WHERE use_case = 'retail_demand' GROUP BY batch")).all()
            actions = [r[0] for r in conn.execute(sa.text("SELECT action FROM runway_decision_log ORDER BY seq"))]
            head = conn.execute(sa.text("SELECT count FROM runway_decision_log_head")).scalar()
        engine.dispose()
        assert len(batches) == BATCHES and all(n > 0 for _b, n in batches), batches
        assert "promote" in actions and head == len(actions), (actions, head)
        from runway.governance.decision_log import DecisionLog
        from runway.governance.decision_log_sql import SqlStore

        assert DecisionLog(SqlStore(gov_url), key.encode()).verify() == []
        verified = run("decisions", "--verify", timeout=300)
        assert verified.returncode == 0 and f"{len(actions)} entries" in verified.stdout, verified.stdout + verified.stderr

        # Feast: the registry in PostgreSQL, online rows in Redis.
        engine = sa.create_engine(feast_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            views = conn.execute(sa.text("SELECT feature_view_name FROM feature_views WHERE project_id LIKE :p"), {"p": f"{project}%"}).all()
        engine.dispose()
        assert views, "no feature views in the SQL registry"
        assert any(True for _ in redis_client.scan_iter(match=b"*" + project.encode() + b"*", count=1000)), "no online rows in Redis"

        # A command that fails after the server started still stops it.
        failed = run("infer", "--week", "2099-01-05", timeout=300)
        assert failed.returncode == 1 and "error: " in failed.stderr, failed.stdout + failed.stderr
        assert not _port_open(port), "a failed command left the ZenML server running"

        # Monitoring output: one report per monitored batch.
        reports = sorted((workspace / "retail_demand" / "reports").glob("monitoring-*.html"))
        assert len(reports) == BATCHES, reports
        assert "=== monitoring" in out.stdout
