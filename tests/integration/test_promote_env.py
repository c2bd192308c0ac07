"""promote-env between two temporary environments, each with its own
workspace, ZenML store and decision-log key: a never-approved version is
refused by the target, a flipped byte in transit is refused, and an approved
version arrives with the same sha256 and its lineage, awaiting the target's
own approval; the target's approver then makes it production there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from runway.config import CONFIG_DIR, DEFAULT_USE_CASE, PROJECT_ROOT
from runway.governance import approvals, promote_env, registry
from runway.governance.decision_log import open_log
from tests.conftest import SMALL_SIMULATION
from tests.integration.conftest import write_history

pytestmark = pytest.mark.integration


def _env_file(tmp_path: Path, name: str, approvers: list[str], zenml_dir: str | None) -> Path:
    data = yaml.safe_load((CONFIG_DIR / "environments" / "local.yaml").read_text())
    data |= {"name": name, "approval": {"required": True, "approvers": approvers, "four_eyes": True}, "zenml": {"config_dir": zenml_dir}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def envs(tmp_path, feature_repo_copy, monkeypatch):
    """staging (this process's ZenML store) and prod (its own store in its workspace), distinct keys."""
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY_STAGING", "s" * 64)
    monkeypatch.setenv("RUNWAY_DECISION_LOG_KEY_PROD", "p" * 64)
    model = f"test-{uuid.uuid4().hex[:10]}"

    def spec(name, approvers, zenml_dir):
        overrides = {
            "simulation": SMALL_SIMULATION,
            "model": {"name": model, "params": {"max_iter": 60}},
            "evaluation": {"bootstrap_samples": 100},
            "environment": {"workspace": str(tmp_path / name), "feature_repo": str(feature_repo_copy)},
        }
        return {"use_case": DEFAULT_USE_CASE, "env": str(_env_file(tmp_path, name, approvers, zenml_dir)), "overrides": overrides}

    src_spec, dst_spec = spec("staging", ["bob"], None), spec("prod", ["carol"], "zenml")
    return promote_env.settings_from_spec(src_spec), src_spec, dst_spec


def _bundle(tmp_path: Path, src, model: str, version: str) -> Path:
    """What an export would write, without its checks (to test the target's own)."""
    d = tmp_path / f"bundle-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    (d / promote_env.BUNDLE_MODEL).write_bytes(registry.read_model_bytes(model, version))
    (d / promote_env.BUNDLE_MANIFEST).write_text(json.dumps({"model": model, "version": version, "metadata": {}}))
    return d


def test_promote_env_carries_the_exact_artifact_and_refuses_what_it_must(envs, tmp_path, monkeypatch):
    from pipelines.training import run_training

    src, src_spec, dst_spec = envs
    dst = promote_env.settings_from_spec(dst_spec)
    model = src.model.name
    monkeypatch.setenv(approvals.USER_ENV, "alice")
    write_history(src)
    d = run_training(src)["decision"]
    assert d["promote"] and d["stage"] == "staging", d["reason"]
    sha = d["artifact_sha256"]

    # Never approved in staging: export refuses, and so does the target on its own.
    with pytest.raises(promote_env.PromotionError, match="never approved in 'staging' \\(awaiting approval\\)"):
        promote_env.promote_env(src, src_spec, dst_spec, model, "1", "alice")
    with pytest.raises(promote_env.PromotionError, match="never approved in 'staging'"):
        promote_env.run_import(src_spec, dst_spec, _bundle(tmp_path, src, model, "1"), "alice")
    assert open_log(dst).entries() == []

    approvals.approve(src, model, "1", "reviewed", who="bob")

    # A flipped byte in transit: refused against staging's signed log, nothing written in prod.
    bundle = tmp_path / "transit"
    bundle.mkdir()
    promote_env.export_version(src, model, "1", bundle)
    blob = bytearray((bundle / promote_env.BUNDLE_MODEL).read_bytes())
    blob[len(blob) // 3] ^= 0x01
    (bundle / promote_env.BUNDLE_MODEL).write_bytes(bytes(blob))
    with pytest.raises(promote_env.PromotionError, match="changed in transit"):
        promote_env.run_import(src_spec, dst_spec, bundle, "alice")
    # A manifest claiming the flipped bytes' hash changes nothing: the manifest is not trusted.
    manifest = json.loads((bundle / promote_env.BUNDLE_MANIFEST).read_text())
    manifest["artifact_sha256"] = registry.sha256_bytes(bytes(blob))
    (bundle / promote_env.BUNDLE_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(promote_env.PromotionError, match="changed in transit"):
        promote_env.run_import(src_spec, dst_spec, bundle, "alice")
    assert open_log(dst).entries() == []

    out = promote_env.promote_env(src, src_spec, dst_spec, model, "1", "alice")
    assert out["target_version"] == "staging-1" and out["stage"] == "staging" and out["awaiting_approval"]
    assert out["artifact_sha256"] == sha, "the bytes read back from prod's registry hash to staging's sha256"
    assert registry.production(model).version == "1", "staging keeps its own production"

    log = open_log(dst)
    assert log.verify() == [], "prod's log verifies under prod's key"
    imported, pending = log.entries()
    assert imported["action"] == "import" and pending["action"] == "await_approval"
    assert imported["artifact_sha256"] == pending["artifact_sha256"] == sha
    assert imported["source_env"] == "staging" and imported["source_approved_by"] == "bob" and pending["triggered_by"] == "alice"
    src_entries = [e for e in open_log(src).entries() if e.get("model") == model]
    assert imported["lineage"] == src_entries, "staging's signed entries of v1 travel verbatim"
    assert [e["action"] for e in imported["lineage"]] == ["await_approval", "promote"]
    assert imported["metrics"]["candidate"] == src_entries[0]["metrics"]["candidate"]

    with pytest.raises(promote_env.PromotionError, match="already has model .* version staging-1 with the same artifact"):
        promote_env.promote_env(src, src_spec, dst_spec, model, "1", "alice")

    # Prod's own approver makes it production there, through the CLI.
    env = {k: v for k, v in os.environ.items() if k not in ("ZENML_CONFIG_PATH", "RUNWAY_ZENML_CONFIGURED")}
    env |= {approvals.USER_ENV: "carol", "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "run.py", "approve", model, "staging-1", "--reason", "staging ran clean", "--env", dst_spec["env"]]
    done = subprocess.run([*cmd, "--workspace", str(dst.workspace)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "approved by carol, now production" in done.stdout and sha in done.stdout
    assert log.verify() == []
    final = log.entries()[-1]
    assert final["action"] == "promote" and final["approved_by"] == "carol" and final["artifact_sha256"] == sha
    assert log.promoted_sha(model, "staging-1") == sha, "prod's inference loads it against prod's own log"
