"""The decision log in SQL, for real, on PostgreSQL and MariaDB (each test in
its own database, dropped afterwards): the same chain as the file log
verifies; an edited row, a deleted newest row and a deleted head are caught;
the database refuses UPDATE / DELETE through triggers; two processes
appending at once land in one valid chain; `run.py decisions --verify`
reads it through the environment config."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from runway.config import PROJECT_ROOT
from runway.governance.decision_log import DecisionLog, DecisionLogError
from runway.governance.decision_log_sql import SqlStore
from tests.integration import services

pytestmark = [pytest.mark.integration, pytest.mark.services]

KEY = b"k" * 32
TABLE = "runway_decision_log"


@pytest.fixture(params=["postgresql", "mariadb"])
def db_url(request):
    var = {"postgresql": "RUNWAY_TEST_POSTGRES_URL", "mariadb": "RUNWAY_TEST_MYSQL_URL"}[request.param]
    admin = os.environ.get(var)
    if not admin:
        pytest.skip(f"{var} is not set; set it to run tests against the real service (.ci/run does)")
    make = services.pg_database if request.param == "postgresql" else services.mysql_database
    with make(admin) as url:
        yield url


def _log(url: str, n: int = 3) -> DecisionLog:
    log = DecisionLog(SqlStore(url, TABLE), KEY)
    for i in range(n):
        log.append({"model": "m", "version": str(i + 1), "action": "promote", "artifact_sha256": f"{i:064d}", "reason": "test"})
    return log


def _raw(url: str, *statements: str) -> None:
    """Run statements as the database's admin, with the refusing triggers out of the way."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            pg = engine.dialect.name == "postgresql"
            if pg:
                conn.exec_driver_sql("SET session_replication_role = replica")  # superuser: triggers do not fire
            else:
                for name in (f"{TABLE}_no_update", f"{TABLE}_no_delete", f"{TABLE}_head_no_delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
            for s in statements:
                conn.exec_driver_sql(s)
    finally:
        engine.dispose()


def test_chain_verifies_and_matches_the_file_format(db_url, tmp_path):
    log = _log(db_url)
    assert log.verify() == []
    entries = log.entries()
    assert [e["version"] for e in entries] == ["1", "2", "3"]
    assert log.promoted_sha("m", "2") == f"{1:064d}"
    # the same lines a file log would hold: the chain is one implementation
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT seq, model, action, line FROM {TABLE} ORDER BY seq")).all()
        head = conn.execute(sa.text(f"SELECT count, last_mac FROM {TABLE}_head")).one()
    engine.dispose()
    assert [r[0] for r in rows] == [1, 2, 3] and {r[1] for r in rows} == {"m"} and {r[2] for r in rows} == {"promote"}
    assert head[0] == 3 and head[1] == entries[-1]["mac"]
    (tmp_path / "d.jsonl").write_text("".join(r[3] + "\n" for r in rows))
    (tmp_path / "d.jsonl.head").write_text(json.dumps({"count": 3, "last_mac": head[1], "mac": log._head_mac(3, head[1])}))
    assert DecisionLog(tmp_path / "d.jsonl", KEY).verify() == []
    # another key rejects every entry
    assert DecisionLog(SqlStore(db_url, TABLE), b"x" * 32).verify()


def test_the_database_refuses_update_and_delete(db_url):
    log = _log(db_url, 2)
    store = log._store
    assert isinstance(store, SqlStore)
    assert len(store.triggers()) == 3
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        for stmt in (f"UPDATE {TABLE} SET action = 'reject' WHERE seq = 1", f"DELETE FROM {TABLE} WHERE seq = 2", f"DELETE FROM {TABLE}_head"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.exec_driver_sql(stmt)
        if engine.dialect.name == "postgresql":
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {TABLE}")
    finally:
        engine.dispose()
    assert log.verify() == [] and len(log.entries()) == 2


def test_an_edited_row_is_detected_and_blocks_appends(db_url):
    log = _log(db_url)
    line = log._store.read()[0][1]
    edited = line.replace('"promote"', '"rollback"')
    assert edited != line
    _raw(db_url, f"UPDATE {TABLE} SET line = '{edited}' WHERE seq = 2")
    problems = log.verify()
    assert any("line 2: MAC does not match" in p for p in problems), problems
    with pytest.raises(DecisionLogError, match="refusing to append"):
        log.append({"model": "m", "version": "9", "action": "promote"})
    with pytest.raises(DecisionLogError, match="does not verify"):
        log.promoted_sha("m", "2")


def test_a_deleted_newest_row_is_detected(db_url):
    log = _log(db_url)
    _raw(db_url, f"DELETE FROM {TABLE} WHERE seq = 3")
    assert log.verify() == ["log truncated: the head record names 3 entries, the log has 2"]
    # ...and rewinding the head as well cannot be done without the key
    _raw(db_url, f"UPDATE {TABLE}_head SET count = 2, last_mac = '{log.entries()[-1]['mac']}'")
    assert any("MAC does not match" in p for p in log.verify())


def test_a_deleted_head_is_detected(db_url):
    log = _log(db_url)
    _raw(db_url, f"DELETE FROM {TABLE}_head")
    assert log.verify() == [f"head record {TABLE}_head is missing but the log has 3 entries"]


def test_two_processes_appending_at_once_make_one_valid_chain(db_url):
    n = 15
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    SqlStore(db_url, TABLE).ensure()  # both workers start on the same, ready tables
    worker = [sys.executable, "-m", "tests.integration.decision_log_worker", db_url, TABLE]
    procs = [subprocess.Popen([*worker, w, str(n)], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE) for w in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()[-2000:]
    log = DecisionLog(SqlStore(db_url, TABLE), KEY)
    assert log.verify() == []
    entries = log.entries()
    assert len(entries) == 2 * n
    for w in ("a", "b"):
        assert [e["version"] for e in entries if e["model"] == f"m-{w}"] == [str(i) for i in range(n)]


def test_run_py_decisions_verify_reads_the_sql_log(db_url, tmp_path):
    var = "RUNWAY_TEST_DECISION_LOG_URL"
    env_file = tmp_path / "env.yaml"
    env_file.write_text(
        f"name: staging\nworkspace: {tmp_path / 'ws'}\nzenml: {{config_dir: null}}\ndecision_log: {{backend: sql, url: '${{{var}}}', table: {TABLE}}}\n"
    )
    env = {**os.environ, var: db_url, "RUNWAY_DECISION_LOG_KEY": KEY.decode(), "PYTHONPATH": str(PROJECT_ROOT)}

    def run(*args):
        return subprocess.run([sys.executable, "run.py", *args, "--env", str(env_file)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)

    out = run("decisions", "--verify")
    assert out.returncode == 0 and "0 entries" in out.stdout, out.stdout + out.stderr
    _log(db_url, 2)
    out = run("decisions", "--verify")
    assert out.returncode == 0 and "2 entries" in out.stdout, out.stdout + out.stderr
    listed = run("decisions")
    assert listed.stdout.count(" promote ") == 2
    password = sa.engine.make_url(db_url).password
    if password:
        assert password not in listed.stdout + listed.stderr
    _raw(db_url, f"DELETE FROM {TABLE} WHERE seq = 2")
    out = run("decisions", "--verify")
    assert out.returncode == 1 and "log truncated" in out.stdout, out.stdout + out.stderr
