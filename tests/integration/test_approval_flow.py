"""Approval to production on a temporary local stack: the gate's pass waits,
the wrong approver and the trainer are refused, a changed artifact is
refused, approve goes through the locked path, reject archives; the signed
log holds every step and verifies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from zenml.client import Client

from run import main
from runway.config import CONFIG_DIR, Settings
from runway.governance import approvals, registry
from tests.conftest import make_settings
from tests.integration.conftest import write_history

pytestmark = pytest.mark.integration
APPROVAL = {"required": True, "approvers": ["alice", "bob"], "four_eyes": True}


@pytest.fixture
def gated(tmp_path, feature_repo_copy, monkeypatch) -> Settings:
    """A v1 that passed the gate in an environment requiring approval, trained by alice."""
    from pipelines.training import run_training

    settings = make_settings(tmp_path, feature_repo_copy, environment={"approval": APPROVAL})
    monkeypatch.setenv(approvals.USER_ENV, "alice")
    write_history(settings)
    result = run_training(settings)
    d = result["decision"]
    assert d["promote"], d["reason"]
    assert d["stage"] == "staging" and d["awaiting_approval"] is True
    return settings


def _model_file(settings: Settings, version: str) -> Path:
    art = Client().get_model_version(settings.model.name, version).get_model_artifact(registry.MODEL_ARTIFACT)
    return Path(os.path.join(art.uri, registry.MODEL_FILE))


def _actions(settings: Settings) -> list[str]:
    return [e["action"] for e in registry.decision_log(settings).entries() if e.get("model") == settings.model.name]


def test_without_approval_no_production_then_only_a_second_approver_promotes(gated):
    s, model = gated, gated.model.name
    assert registry.production(model) is None, "a gate pass alone must not reach production"
    pending = registry.decision_log(s).latest(model, action="await_approval")
    assert pending["triggered_by"] == "alice" and pending["artifact_sha256"] == registry.artifact_sha(model, "1")
    assert registry.version_metadata(model, "1")["approval"]["status"] == "awaiting"

    with pytest.raises(approvals.ApprovalError, match="'carol' is not an approver"):
        approvals.approve(s, model, "1", "looks fine", who="carol")
    with pytest.raises(approvals.ApprovalError, match="four-eyes: 'alice' triggered the training"):
        approvals.approve(s, model, "1", "my own model is great")  # RUNWAY_USER=alice

    path = _model_file(s, "1")
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    with pytest.raises(approvals.ApprovalError, match="no longer matches"):
        approvals.approve(s, model, "1", "ok", who="bob")
    path.write_bytes(original)
    assert registry.production(model) is None and registry.version(model, "1").stage == "staging"

    rec = approvals.approve(s, model, "1", "holdout and slices reviewed", who="bob")
    assert rec["action"] == "promote" and rec["approved_by"] == "bob" and rec["approval_reason"] == "holdout and slices reviewed"
    assert rec["triggered_by"] == "alice" and rec["time"]
    assert registry.production(model).version == "1"
    assert registry.load_verified(s, model, "1").features, "the approved version loads through the verified path"
    approval = registry.version_metadata(model, "1")["approval"]
    assert approval["status"] == "approved" and approval["by"] == "bob" and approval["at"] == rec["time"]

    with pytest.raises(approvals.ApprovalError, match="not awaiting approval .*already approved by bob"):
        approvals.approve(s, model, "1", "again", who="bob")
    with pytest.raises(approvals.ApprovalError, match="not awaiting approval"):
        approvals.reject(s, model, "1", "too late", who="bob")
    assert _actions(s) == ["await_approval", "promote"]
    assert registry.decision_log(s).verify() == []


def _env_yaml(tmp_path: Path, name: str, approval: dict, zenml_dir: str | None) -> Path:
    data = yaml.safe_load((CONFIG_DIR / "environments" / "local.yaml").read_text())
    data |= {"name": name, "approval": approval, "zenml": {"config_dir": zenml_dir}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


V = "staging-1"  # as promote-env names an arrival


@pytest.fixture
def awaiting(settings: Settings) -> Settings:
    """A version awaiting approval without a training run: registered the way
    promote-env lands one (exact bytes, sha256 metadata, await_approval entry)."""
    from runway.governance.promote_env import _register_bytes

    blob = b"not a real model: reject never unpickles it " * 50
    sha = _register_bytes(settings.model.name, V, blob, "test")
    registry.log_version_metadata(settings.model.name, V, {registry.SHA_KEY: sha})
    registry.await_approval(settings, settings.model.name, V, reason="gate passed", sha=sha, extra={"triggered_by": "alice"})
    return settings


def test_reject_through_the_cli_archives_and_logs(awaiting, tmp_path, monkeypatch, capsys):
    s, model = awaiting, awaiting.model.name
    env = _env_yaml(tmp_path, "local", APPROVAL, None)
    argv = ["reject", model, V, "--reason", "slice S002 regressed", "--env", str(env), "--workspace", str(s.workspace)]
    monkeypatch.setenv(approvals.USER_ENV, "carol")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: 'carol' is not an approver in environment 'local' (approvers: alice, bob); set RUNWAY_USER or ask one of them"
    assert registry.version(model, V).stage == "staging"

    monkeypatch.setenv(approvals.USER_ENV, "alice")  # four-eyes guards approvals only: the trainer may withdraw her own model
    assert main(argv) == 0
    assert "rejected by alice, archived" in capsys.readouterr().out
    assert registry.version(model, V).stage == "archived" and registry.production(model) is None
    rejected = registry.decision_log(s).latest(model, action="reject_approval")
    assert rejected["rejected_by"] == "alice" and rejected["reason"] == "rejected by alice: slice S002 regressed"
    assert registry.version_metadata(model, V)["approval"]["status"] == "rejected"

    monkeypatch.setenv(approvals.USER_ENV, "bob")
    assert main(["approve", model, V, "--reason", "changed my mind", "--env", str(env), "--workspace", str(s.workspace)]) == 1
    assert "not awaiting approval in 'local' (rejected by alice)" in capsys.readouterr().err
    assert _actions(s) == ["await_approval", "reject_approval"]
    assert registry.decision_log(s).verify() == []
