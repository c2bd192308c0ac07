"""environment.decision_log: the typed section, its secret URL kept as a
reference, and open_log picking the store it names."""

from __future__ import annotations

import pytest

from runway.config import ConfigError, load_settings, reveal
from runway.governance.decision_log import FileStore, location, open_log


def _env(tmp_path, body: str) -> str:
    path = tmp_path / "e.yaml"
    path.write_text(f"name: local\nworkspace: {tmp_path / 'ws'}\nzenml: {{config_dir: null}}\n{body}")
    return str(path)


def test_default_is_the_file_log_in_the_workspace(tmp_path):
    s = load_settings(env=_env(tmp_path, ""))
    assert s.environment.decision_log.backend == "file" and s.environment.decision_log.url is None
    log = open_log(s)
    assert isinstance(log._store, FileStore) and log.path == s.workspace_path("decisions.jsonl")
    assert location(s) == str(s.workspace_path("decisions.jsonl"))


def test_sql_url_is_a_reference_never_the_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNWAY_TEST_DL_URL", "postgresql+psycopg2://runway:s3cr3t@db.internal:5432/gov")
    s = load_settings(env=_env(tmp_path, "decision_log: {backend: sql, url: '${RUNWAY_TEST_DL_URL}', table: gov_log}\n"))
    dl = s.environment.decision_log
    assert dl.url == "{env:RUNWAY_TEST_DL_URL}" and "s3cr3t" not in s.model_dump_json()
    assert reveal(dl.url) == "postgresql+psycopg2://runway:s3cr3t@db.internal:5432/gov"
    where = location(s)
    assert "s3cr3t" not in where and "db.internal" in where and where.endswith("table gov_log")


def test_sql_without_url_names_key_and_file(tmp_path):
    with pytest.raises(ConfigError, match=r"e.yaml: key 'environment.decision_log': .*needs decision_log.url"):
        load_settings(env=_env(tmp_path, "decision_log: {backend: sql}\n"))


def test_url_with_the_file_backend_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"decision_log.url is set but decision_log.backend is 'file'"):
        load_settings(env=_env(tmp_path, "decision_log: {url: 'postgresql://x@y/z'}\n"))


def test_unset_variable_names_key_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNWAY_TEST_DL_URL", raising=False)
    with pytest.raises(ConfigError, match=r"key 'environment.decision_log.url' needs environment variable RUNWAY_TEST_DL_URL"):
        load_settings(env=_env(tmp_path, "decision_log: {backend: sql, url: '${RUNWAY_TEST_DL_URL}'}\n"))


@pytest.mark.parametrize("table", ["Bad-Name", "1log", "x" * 60, "log; DROP TABLE y"])
def test_table_name_must_be_a_plain_identifier(tmp_path, table):
    with pytest.raises(ConfigError, match=r"environment.decision_log.table"):
        load_settings(env=_env(tmp_path, f"decision_log: {{backend: sql, url: 'postgresql://x@y/z', table: '{table}'}}\n"))


def test_unknown_key_is_a_typo(tmp_path):
    with pytest.raises(ConfigError, match=r"environment.decision_log.backnd"):
        load_settings(env=_env(tmp_path, "decision_log: {backnd: sql}\n"))


def test_a_non_sql_dialect_is_refused_with_one_line(tmp_path, monkeypatch):
    from runway.governance.decision_log_sql import DecisionStoreError

    monkeypatch.setenv("RUNWAY_TEST_DL_URL", f"sqlite:///{tmp_path}/x.db")
    s = load_settings(env=_env(tmp_path, "decision_log: {backend: sql, url: '${RUNWAY_TEST_DL_URL}'}\n"))
    with pytest.raises(DecisionStoreError, match="PostgreSQL or MySQL/MariaDB, not sqlite"):
        open_log(s).verify()
