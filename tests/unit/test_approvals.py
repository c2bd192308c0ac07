"""Approval policy and the promote-env checks that need no ZenML: config,
per-environment keys, approvers, four-eyes, the approval state read from a
real signed log, and the bundle's bytes against the source log's sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runway.config import ApprovalConfig, ConfigError, load_settings
from runway.governance import approvals, promote_env
from runway.governance.decision_log import DecisionLogError, env_key_var, log_key, open_log
from tests.conftest import make_settings

pytestmark = pytest.mark.unit
KEY = "k" * 40
SHA = "a" * 64


def _services(monkeypatch):
    for var, value in {
        "RUNWAY_FEAST_REGISTRY_URL": "postgresql+psycopg2://u@h/db",
        "RUNWAY_REDIS_CONNECTION": "h:6379",
        "RUNWAY_LOCK_URL": "mysql+pymysql://u@h/db",
        "RUNWAY_SOURCE_URL": "postgresql+psycopg2://u@h/db",
        "RUNWAY_ZENML_SERVER_URL": "http://zenml:8080",
        "RUNWAY_PREDICTIONS_URL": "postgresql+psycopg2://u@h/db",
        "RUNWAY_DECISION_LOG_URL": "postgresql+psycopg2://u@h/gov",
    }.items():
        monkeypatch.setenv(var, value)


def test_local_needs_no_approval_staging_and_prod_do(monkeypatch):
    _services(monkeypatch)
    monkeypatch.setenv("RUNWAY_APPROVERS", "alice, bob")
    assert load_settings(env="local").environment.approval.required is False
    for env in ("staging", "prod"):
        a = load_settings(env=env).environment.approval
        assert a.required and a.four_eyes and a.approvers == ["alice", "bob"], env


def test_approval_can_be_switched_off_by_the_deployment(monkeypatch):
    _services(monkeypatch)
    monkeypatch.setenv("RUNWAY_APPROVAL_REQUIRED", "false")
    monkeypatch.delenv("RUNWAY_APPROVERS", raising=False)
    a = load_settings(env="staging").environment.approval
    assert a.required is False and a.approvers == []


def test_unknown_approval_key_names_it(tmp_path, feature_repo_copy):
    with pytest.raises(ConfigError, match="approval"):
        make_settings(tmp_path, feature_repo_copy, environment={"approval": {"requried": True}})


def test_per_environment_key_wins_then_the_plain_one(monkeypatch, tmp_path):
    assert env_key_var("prod") == "RUNWAY_DECISION_LOG_KEY_PROD"
    assert env_key_var("eu-prod") == "RUNWAY_DECISION_LOG_KEY_EU_PROD"
    monkeypatch.delenv("RUNWAY_DECISION_LOG_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs RUNWAY_DECISION_LOG_KEY_PROD or RUNWAY_DECISION_LOG_KEY"):
        log_key("prod", tmp_path)
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY", "p" * 40)
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY_PROD", "q" * 40)
    assert log_key("prod", tmp_path) == b"q" * 40
    assert log_key("staging", tmp_path) == b"p" * 40
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY_STAGING", "short")
    with pytest.raises(ConfigError, match="RUNWAY_DECISION_LOG_KEY_STAGING must be at least"):
        log_key("staging", tmp_path)


CFG = ApprovalConfig(required=True, approvers=["alice", "bob"], four_eyes=True)


def test_only_configured_approvers_may_approve():
    approvals.check_approver(CFG, "staging", "bob")
    with pytest.raises(approvals.ApprovalError, match="'carol' is not an approver in environment 'staging' \\(approvers: alice, bob\\)"):
        approvals.check_approver(CFG, "staging", "carol")
    with pytest.raises(approvals.ApprovalError, match="lists no approvers"):
        approvals.check_approver(ApprovalConfig(required=True), "prod", "bob")
    with pytest.raises(approvals.ApprovalError, match="does not require approval"):
        approvals.check_approver(ApprovalConfig(), "local", "bob")


def test_four_eyes_refuses_the_trainer_and_an_unknown_trigger():
    pending = {"version": "3", "triggered_by": "alice"}
    approvals.check_four_eyes(CFG, pending, "bob")
    with pytest.raises(approvals.ApprovalError, match="four-eyes: 'alice' triggered the training of version 3"):
        approvals.check_four_eyes(CFG, pending, "alice")
    with pytest.raises(approvals.ApprovalError, match="does not say who triggered"):
        approvals.check_four_eyes(CFG, {"version": "3"}, "bob")
    approvals.check_four_eyes(ApprovalConfig(required=True, approvers=["alice"], four_eyes=False), pending, "alice")


def _e(action, version="1", **kw):
    return {"model": "m", "version": version, "action": action, "artifact_sha256": SHA, **kw}


def test_approval_state_follows_the_log():
    log = [_e("await_approval", triggered_by="alice"), _e("reject", "2")]
    assert approvals.awaiting_entry(log, "m", "1")["triggered_by"] == "alice"
    assert approvals.awaiting_entry(log, "m", "2") is None
    assert approvals.approval_state(log, "m", "2") == "refused by the gate"
    assert approvals.approval_state(log, "m", "9").startswith("never reached the gate")
    assert approvals.approved_entry(log, "m", "1", approval_required=True) is None

    approved = [*log, _e("promote", approved_by="bob")]
    assert approvals.awaiting_entry(approved, "m", "1") is None
    assert approvals.approval_state(approved, "m", "1") == "already approved by bob"
    assert approvals.approved_entry(approved, "m", "1", approval_required=True)["approved_by"] == "bob"

    rejected = [*log, _e("reject_approval", rejected_by="bob")]
    assert approvals.awaiting_entry(rejected, "m", "1") is None
    assert approvals.approval_state(rejected, "m", "1") == "rejected by bob"
    # A gate promotion without an approver counts only where none is required.
    gate_only = [_e("promote")]
    assert approvals.approved_entry(gate_only, "m", "1", approval_required=True) is None
    assert approvals.approved_entry(gate_only, "m", "1", approval_required=False) is not None


@pytest.fixture
def staging(tmp_path, feature_repo_copy, monkeypatch):
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY_STAGING", KEY)
    return make_settings(tmp_path, feature_repo_copy, environment={"name": "staging", "approval": {"required": True, "approvers": ["bob"]}})


def test_release_entry_comes_only_from_the_verified_source_log(staging):
    log = open_log(staging)
    log.append(_e("await_approval", triggered_by="alice"))
    with pytest.raises(promote_env.PromotionError, match="version 1 was never approved in 'staging' \\(awaiting approval\\); approve it there first"):
        promote_env.release_entry(staging, "m", "1")
    log.append(_e("promote", approved_by="bob"))
    assert promote_env.release_entry(staging, "m", "1")["approved_by"] == "bob"
    # An edited log refuses every release (a forged approval cannot carry a version on).
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[1].replace('"bob"', '"mallory"')]) + "\n")
    with pytest.raises(DecisionLogError, match="does not verify"):
        promote_env.release_entry(staging, "m", "1")


def test_a_flipped_byte_in_the_bundle_is_refused(tmp_path):
    blob = b"model bytes " * 100
    (tmp_path / promote_env.BUNDLE_MODEL).write_bytes(blob)
    good = hashlib.sha256(blob).hexdigest()
    assert promote_env.verify_bundle(tmp_path, good, "staging") == blob
    flipped = bytearray(blob)
    flipped[len(flipped) // 2] ^= 0x01
    (tmp_path / promote_env.BUNDLE_MODEL).write_bytes(bytes(flipped))
    with pytest.raises(promote_env.PromotionError, match="changed in transit.*'staging''s decision log recorded"):
        promote_env.verify_bundle(tmp_path, good, "staging")


def test_two_environments_need_two_workspaces(staging, tmp_path: Path):
    same_name = staging.model_copy()
    with pytest.raises(promote_env.PromotionError, match="both 'staging'"):
        promote_env.check_distinct(staging, same_name)
    prod_env = staging.environment.model_copy(update={"name": "prod"})
    with pytest.raises(promote_env.PromotionError, match="share the workspace"):
        promote_env.check_distinct(staging, staging.model_copy(update={"environment": prod_env}))
    other_ws = prod_env.model_copy(update={"workspace": str(tmp_path / "prod")})
    with pytest.raises(promote_env.PromotionError, match="same ZenML store"):
        promote_env.check_distinct(staging, staging.model_copy(update={"environment": other_ws}))
    own_store = other_ws.model_copy(update={"zenml": other_ws.zenml.model_copy(update={"config_dir": "zenml"})})
    promote_env.check_distinct(staging, staging.model_copy(update={"environment": own_store}))
