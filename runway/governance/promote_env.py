"""Carry one model version from one environment to the next, byte for byte.

``promote-env --from staging --to prod MODEL VERSION`` does not retrain: it
moves the exact artifact (same bytes, same sha256) and its lineage (the
version's signed decision-log entries, metrics and metadata) from the source
environment's registry and decision log into the target's.

1. **Export** (a process configured for the source environment): the
   source's decision log must verify and hold the entry that released the
   version (``promote``; naming an approver when the source requires
   approval, so a never-approved version stops here); the artifact bytes
   must hash to that entry's sha256. Bytes and a manifest go to a bundle
   folder: what is "in transit".
2. **Import** (a child process configured for the target: ZenML's client is
   process-global, and each environment has its own ZenML store, workspace
   and decision-log key): the sha256 expected is read again from the
   *source's authenticated decision log*, never from the manifest beside the
   bytes; a bundle whose bytes do not match (a flipped byte in transit) is
   refused before anything is written. The version is created in the
   target's registry as ``<source env>-<version>`` (e.g. ``staging-3``: ZenML
   refuses custom numeric names, and the name says where it came from; a
   second promotion of the same version is refused), the bytes registered as
   its ``model`` artifact, read back and hashed again, the source metadata
   copied, and the target's log gets an ``import`` entry carrying the
   source's signed entries.
3. **Landing stage**: where the target requires approval, stage staging with
   an ``await_approval`` entry (its own approvers decide; ``triggered_by``
   is the source training's, so four-eyes holds across environments); where
   it does not, production through the locked ``set_production`` path.

Two decision-log keys in one command: ``RUNWAY_DECISION_LOG_KEY_<ENV>`` per
environment, falling back to ``RUNWAY_DECISION_LOG_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from runway.config import PROJECT_ROOT, Settings, load_settings
from runway.data.io import atomic_write_bytes, write_text_atomic
from runway.governance import approvals
from runway.modeling.artifact import sha256_bytes

BUNDLE_MODEL = "model.pkl"
BUNDLE_MANIFEST = "manifest.json"
IMPORT_ACTION = "import"
# Environment variables the child must not inherit: it configures ZenML for the target.
_ZENML_VARS = ("ZENML_CONFIG_PATH", "ZENML_STORE_URL", "RUNWAY_ZENML_CONFIGURED")


class PromotionError(RuntimeError):
    """A cross-environment promotion that is refused (one line: what and why)."""


def settings_from_spec(spec: dict[str, Any]) -> Settings:
    """A spec names how to load an environment's settings in another process:
    ``{"use_case": ..., "env": ..., "overrides": {...}}`` (no secrets: those
    stay in the process environment the child inherits)."""
    return load_settings(spec["use_case"], spec["env"], spec.get("overrides"))


def _store_identity(s: Settings) -> tuple:
    z = s.environment.zenml
    return (str(s.zenml_config_dir) if s.zenml_config_dir else os.environ.get("ZENML_CONFIG_PATH"), z.store_url, z.server_url)


def check_distinct(src: Settings, dst: Settings, *, stores: bool = True) -> None:
    """Two environments, two workspaces (decision logs) and (``stores``: in the
    parent, before either is configured) two ZenML stores."""
    if src.environment.name == dst.environment.name:
        raise PromotionError(f"--from and --to are both '{src.environment.name}': promote-env moves a version between two environments")
    if src.workspace == dst.workspace:
        raise PromotionError(f"'{src.environment.name}' and '{dst.environment.name}' share the workspace {src.workspace}; each environment needs its own")
    if stores and _store_identity(src) == _store_identity(dst):
        raise PromotionError(f"'{src.environment.name}' and '{dst.environment.name}' resolve to the same ZenML store; each environment needs its own")


def release_entry(src: Settings, model: str, version: str) -> dict[str, Any]:
    """The source log's entry that released ``version`` (verified log only)."""
    from runway.governance.decision_log import open_log

    entries = open_log(src).verified_entries()  # DecisionLogError when it does not verify
    required = approvals.requires_approval(src)
    found = approvals.approved_entry(entries, model, version, approval_required=required)
    if found is None:
        state = approvals.approval_state(entries, model, version)
        what = "approved" if required else "promoted"
        raise PromotionError(
            f"model '{model}' version {version} was never {what} in '{src.environment.name}' ({state}); "
            f"{'approve it there first' if required else 'only a version its gate promoted can move on'}"
        )
    return found


def lineage(src: Settings, model: str, version: str) -> list[dict[str, Any]]:
    from runway.governance.decision_log import open_log

    return approvals.version_entries(open_log(src).verified_entries(), model, version)


# ------------------------------------------------------------------ export --


def export_version(src: Settings, model: str, version: str, bundle: Path) -> dict[str, Any]:
    """Write the version's exact bytes and manifest to ``bundle`` (ZenML configured for ``src``)."""
    from runway.governance import registry

    release = release_entry(src, model, version)
    blob = registry.read_model_bytes(model, version)
    sha = sha256_bytes(blob)
    if sha != release["artifact_sha256"]:
        raise PromotionError(
            f"model '{model}' version {version} in '{src.environment.name}': artifact sha256 {sha[:12]} is not the "
            f"{release['artifact_sha256'][:12]} its decision log released; refusing to carry it"
        )
    meta = registry.version_metadata(model, version)
    manifest = {"model": model, "version": version, "source_env": src.environment.name, "artifact_sha256": sha, "metadata": meta}
    atomic_write_bytes(bundle / BUNDLE_MODEL, blob)
    write_text_atomic(bundle / BUNDLE_MANIFEST, json.dumps(manifest, sort_keys=True, default=str))
    return manifest


# ------------------------------------------------------------------ import --


def verify_bundle(bundle: Path, expected_sha: str, source_env: str) -> bytes:
    """The bundle's bytes, only if they hash to ``expected_sha`` (from the source's log)."""
    path = bundle / BUNDLE_MODEL
    if not path.is_file():
        raise PromotionError(f"bundle {bundle} has no {BUNDLE_MODEL}")
    blob = path.read_bytes()
    got = sha256_bytes(blob)
    if got != expected_sha:
        raise PromotionError(
            f"the artifact changed in transit: {path} hashes to {got[:12]}, '{source_env}''s decision log recorded {expected_sha[:12]}; "
            "refusing it (nothing was written to the target)"
        )
    return blob


def target_version_name(source_env: str, version: str) -> str:
    return f"{source_env}-{version}"


def _existing_target_version(model: str, version: str, sha: str, env: str) -> None:
    """Refuse a version name the target already holds; clear an unfinished import's leftover."""
    from uuid import UUID

    from zenml.client import Client

    from runway.governance import registry

    try:
        info = registry.version(model, version)
    except registry.RegistryError:
        return
    if info.artifact_sha256 is None and info.stage is None:
        Client().delete_model_version(UUID(info.id))  # an import that died before its metadata: nothing recorded it
        return
    same = "the same artifact" if info.artifact_sha256 == sha else f"a different artifact (sha256 {str(info.artifact_sha256)[:12]})"
    raise PromotionError(f"'{env}' already has model '{model}' version {version} with {same} (stage {info.stage or 'none'}); nothing to do")


def _register_bytes(model: str, version: str, blob: bytes, description: str) -> str:
    """Create the version in the active (target) store with ``blob`` as its model artifact; the sha256 read back."""
    import uuid

    from zenml import register_artifact
    from zenml.client import Client
    from zenml.enums import ArtifactType
    from zenml.io import fileio
    from zenml.model.utils import link_artifact_version_to_model_version

    from runway.governance import registry

    client = Client()
    try:
        client.get_model(model)
    except KeyError:
        client.create_model(name=model, description=description)
    mv = client.create_model_version(model_name_or_id=model, name=version, description=description)
    store = client.active_stack.artifact_store
    uri = os.path.join(store.path, "promoted", model, version, uuid.uuid4().hex)
    fileio.makedirs(uri)
    with fileio.open(os.path.join(uri, registry.MODEL_FILE), "wb") as fh:
        fh.write(blob)
    art = register_artifact(uri, name=registry.MODEL_ARTIFACT, artifact_type=ArtifactType.MODEL, artifact_metadata={registry.SHA_KEY: sha256_bytes(blob)})
    link_artifact_version_to_model_version(art, mv)
    return registry.artifact_sha(model, version)


def import_version(src: Settings, dst: Settings, bundle: Path, promoted_by: str) -> dict[str, Any]:
    """Land the bundle in ``dst`` (ZenML configured for ``dst``); refuses before writing when it does not verify."""
    from runway.governance import registry
    from runway.governance.decision_log import git_commit

    check_distinct(src, dst, stores=False)
    manifest = json.loads((bundle / BUNDLE_MANIFEST).read_text(encoding="utf-8"))
    model, version = str(manifest["model"]), str(manifest["version"])
    release = release_entry(src, model, version)  # authoritative: the source's verified log, not the manifest
    sha = str(release["artifact_sha256"])
    blob = verify_bundle(bundle, sha, src.environment.name)
    carried = lineage(src, model, version)
    registry.decision_log(dst).verified_entries()  # a target log that does not verify refuses before anything is written
    tv = target_version_name(src.environment.name, version)
    _existing_target_version(model, tv, sha, dst.environment.name)

    origin = f"carried from '{src.environment.name}' v{version}" + (f" (approved there by {release['approved_by']})" if release.get("approved_by") else "")
    landed_sha = _register_bytes(model, tv, blob, origin)
    if landed_sha != sha:
        raise PromotionError(f"the artifact registered in '{dst.environment.name}' hashes to {landed_sha[:12]}, not {sha[:12]}; its stage was not set")
    meta = {k: v for k, v in manifest.get("metadata", {}).items() if k != "approval"}
    promoted_from = {"env": src.environment.name, "version": version, "approved_by": release.get("approved_by"), "released_at": release.get("time")}
    registry.log_version_metadata(model, tv, {**meta, registry.SHA_KEY: sha, "promoted_from": promoted_from})
    common = {
        "artifact_sha256": sha,
        "source_env": src.environment.name,
        "source_version": version,
        "source_approved_by": release.get("approved_by"),
        "triggered_by": release.get("triggered_by"),
        "promoted_by": promoted_by,
        "metrics": next((e["metrics"] for e in reversed(carried) if e.get("metrics")), None),
    }
    imported = registry.decision_log(dst).append(
        {
            "model": model,
            "version": tv,
            "action": IMPORT_ACTION,
            "reason": origin,
            "git_commit": git_commit(),
            "env": dst.environment.name,
            "lineage": carried,
            **common,
        }
    )
    if approvals.requires_approval(dst):
        record = registry.await_approval(dst, model, tv, reason=origin, sha=sha, extra=common)
        stage = "staging"
    else:
        record = registry.set_production(dst, model, tv, action="promote", reason=origin, extra=common)
        stage = "production"
    return {
        "model": model,
        "version": version,
        "target_version": tv,
        "from": src.environment.name,
        "to": dst.environment.name,
        "stage": stage,
        "awaiting_approval": stage == "staging",
        "artifact_sha256": landed_sha,
        "lineage_entries": len(carried),
        "import_logged_at": imported["time"],
        "logged_at": record["time"],
    }


# ------------------------------------------------------------ orchestrate --


def run_import(src_spec: dict[str, Any], dst_spec: dict[str, Any], bundle: Path, promoted_by: str, timeout: float = 600) -> dict[str, Any]:
    """Import ``bundle`` in a child process configured for the target."""
    job = {"source": src_spec, "target": dst_spec, "bundle": str(bundle), "promoted_by": promoted_by}
    job_file = bundle / "job.json"
    write_text_atomic(job_file, json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k not in _ZENML_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-m", "runway.governance.promote_env", str(job_file)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
        raise PromotionError(lines[-1].removeprefix("error: ") if lines else f"the import into the target failed: {proc.stderr.strip()[-500:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def promote_env(src: Settings, src_spec: dict[str, Any], dst_spec: dict[str, Any], model: str, version: str, promoted_by: str) -> dict[str, Any]:
    """Export from ``src`` (this process, ZenML configured for it) and import into the target (a child process)."""
    dst = settings_from_spec(dst_spec)
    check_distinct(src, dst)
    with tempfile.TemporaryDirectory(prefix="runway-promote-") as tmp:
        bundle = Path(tmp)
        export_version(src, model, version, bundle)
        return run_import(src_spec, dst_spec, bundle, promoted_by)


def _child(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    try:
        src, dst = settings_from_spec(job["source"]), settings_from_spec(job["target"])
        from runway.platform import runtime

        runtime.configure(dst)
        from runway.governance import registry

        registry.recover(dst, str(json.loads((Path(job["bundle"]) / BUNDLE_MANIFEST).read_text())["model"]))
        result = import_version(src, dst, Path(job["bundle"]), job["promoted_by"])
    except Exception as exc:  # noqa: BLE001 - one line for the parent
        from runway.errors import describe

        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="import a promote-env bundle into the target environment (run by promote_env)")
    ap.add_argument("job", help="the job file promote_env wrote")
    sys.exit(_child(ap.parse_args().job))
