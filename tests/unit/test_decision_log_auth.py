"""The decision log is authenticated: without the key nothing can be appended,
edited (the last line included), reordered or cut off unnoticed."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from runway.config import ConfigError
from runway.governance.decision_log import GENESIS, DecisionLog, DecisionLogError, key_file, log_key

pytestmark = pytest.mark.unit

KEY = b"a" * 32


def _log(tmp_path, n=3) -> DecisionLog:
    log = DecisionLog(tmp_path / "d.jsonl", KEY)
    for v in range(1, n + 1):
        log.append({"model": "m", "version": str(v), "action": "promote", "artifact_sha256": f"sha{v}"})
    return log


def _lines(log):
    return log.path.read_text().splitlines()


def _write(log, lines):
    log.path.write_text("".join(ln + "\n" for ln in lines))


def test_an_intact_log_verifies_and_a_head_record_anchors_it(tmp_path):
    log = _log(tmp_path)
    assert log.verify() == []
    head = json.loads(log.head_path.read_text())
    assert head["count"] == 3 and head["last_mac"] == json.loads(_lines(log)[-1])["mac"]


def test_an_appended_forged_rollback_with_a_valid_chain_fails(tmp_path):
    log = _log(tmp_path)
    last = _lines(log)[-1]
    forged = {"model": "m", "version": "1", "action": "rollback", "artifact_sha256": "evil", "prev_sha256": hashlib.sha256(last.encode()).hexdigest()}
    forged["mac"] = "0" * 64
    _write(log, [*_lines(log), json.dumps(forged, sort_keys=True)])
    assert any("line 4: MAC does not match" in p for p in log.verify())
    with pytest.raises(DecisionLogError, match="does not verify"):
        log.promoted_sha("m", "1")
    with pytest.raises(DecisionLogError, match="refusing to append"):
        log.append({"model": "m", "version": "2", "action": "promote"})


def test_a_forged_entry_without_any_mac_fails(tmp_path):
    log = _log(tmp_path)
    last = _lines(log)[-1]
    forged = {"model": "m", "version": "1", "action": "rollback", "artifact_sha256": "evil", "prev_sha256": hashlib.sha256(last.encode()).hexdigest()}
    _write(log, [*_lines(log), json.dumps(forged, sort_keys=True)])
    assert any("line 4: no MAC" in p for p in log.verify())


def test_editing_the_last_line_fails(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    rec = json.loads(lines[-1])
    rec["artifact_sha256"] = "evil"
    lines[-1] = json.dumps(rec, sort_keys=True)
    _write(log, lines)
    assert any("line 3: MAC does not match" in p for p in log.verify())


def test_editing_an_earlier_line_fails(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    rec = json.loads(lines[0])
    rec["reason"] = "edited"
    lines[0] = json.dumps(rec, sort_keys=True)
    _write(log, lines)
    problems = log.verify()
    assert any("line 1: MAC" in p for p in problems) and any("line 2: chain broken" in p for p in problems)


def test_reordering_fails(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    _write(log, [lines[1], lines[0], lines[2]])
    assert log.verify() != []


def test_truncation_is_caught_by_the_head_record(tmp_path):
    log = _log(tmp_path)
    _write(log, _lines(log)[:2])
    assert any("truncated" in p for p in log.verify())
    log.path.write_text("")
    assert any("truncated" in p for p in log.verify())


def test_a_forged_head_fails_and_a_missing_head_fails(tmp_path):
    log = _log(tmp_path)
    _write(log, _lines(log)[:2])
    head = json.loads(log.head_path.read_text())
    head["count"], head["last_mac"] = 2, json.loads(_lines(log)[1])["mac"]
    log.head_path.write_text(json.dumps(head))
    assert any("head record" in p for p in log.verify())
    log.head_path.unlink()
    assert any("missing" in p for p in log.verify())


def test_a_crash_between_append_and_head_update_still_verifies_and_heals(tmp_path):
    log = _log(tmp_path)
    old_head = log.head_path.read_text()
    log.append({"model": "m", "version": "4", "action": "reject"})
    log.head_path.write_text(old_head)  # as if killed before the head was replaced
    assert log.verify() == []
    log.append({"model": "m", "version": "5", "action": "reject"})
    assert json.loads(log.head_path.read_text())["count"] == 5 and log.verify() == []


def test_another_key_rejects_every_entry(tmp_path):
    _log(tmp_path)
    other = DecisionLog(tmp_path / "d.jsonl", b"b" * 32)
    assert len([p for p in other.verify() if "MAC does not match" in p]) >= 3


def test_first_entry_links_to_genesis(tmp_path):
    log = _log(tmp_path, 1)
    assert json.loads(_lines(log)[0])["prev_sha256"] == GENESIS


def test_local_key_file_is_created_0600_outside_the_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNWAY_DECISION_LOG_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    ws = tmp_path / "ws"
    key = log_key("local", ws)
    path = key_file(ws)
    assert path.is_relative_to(tmp_path / "cfg" / "runway") and not path.is_relative_to(ws)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert log_key("local", ws) == key, "the same workspace keeps its key"
    assert log_key("local", tmp_path / "other") != key, "one key per workspace"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        log_key("local", ws)


def test_non_local_environments_refuse_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNWAY_DECISION_LOG_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    with pytest.raises(ConfigError, match="environment 'staging' needs RUNWAY_DECISION_LOG_KEY"):
        log_key("staging", tmp_path)
    assert not (tmp_path / "cfg").exists(), "no key file is made for a non-local environment"
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        log_key("staging", tmp_path)
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY", "x" * 40)
    assert log_key("staging", tmp_path) == b"x" * 40
