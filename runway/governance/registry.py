"""Model stages on ZenML's Model Control Plane, made safe for concurrent use.

ZenML owns the versions and their stages; Runway adds what it lacks:

* every stage change runs under a promotion lock (file or SQL),
* a store with two production versions is repaired (to the one the decision
  log promoted last) or refused, never silently used,
* every change is written to the append-only decision log, and
* a model is loaded only after its artifact bytes match the recorded sha256.

This module imports ZenML; the rest of ``runway`` does not need it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from zenml.client import Client
from zenml.enums import ModelStages
from zenml.io import fileio

from runway.config import Settings
from runway.governance.approvals import AWAIT_APPROVAL
from runway.governance.decision_log import DecisionLog, git_commit, open_log
from runway.governance.locks import promotion_lock
from runway.modeling.artifact import ArtifactIntegrityError, ModelArtifact, deserialize_verified, sha256_bytes

MODEL_ARTIFACT = "model"
MODEL_FILE = "model.pkl"
SHA_KEY = "artifact_sha256"
FLEET_URI_KEY = "model_uri"
# A fleet tenant's version keeps its facts (sha256, artifact location, baseline,
# evaluation) under one metadata key: ZenML commits every key twice, which
# was most of a tenant's registration time. Its primary metric stays a key of
# its own, so the registry can be filtered by it.
FLEET_FACTS_KEY = "fleet"


def flat_metadata(run_metadata: Any) -> dict[str, Any]:
    """A version's run metadata with a fleet version's packed facts
    (``FLEET_FACTS_KEY``) spread to the top level; other versions as they are."""
    raw = dict(run_metadata or {})
    packed = raw.get(FLEET_FACTS_KEY)
    return {**packed, **raw} if isinstance(packed, dict) else raw


class RegistryError(RuntimeError):
    pass


class MultipleProductionError(RegistryError):
    pass


@dataclass(frozen=True)
class VersionInfo:
    model: str
    version: str  # version name (ZenML numbers them "1", "2", ...)
    number: int
    stage: str | None
    id: str
    artifact_sha256: str | None


def decision_log(settings: Settings) -> DecisionLog:
    return open_log(settings)


def _info(mv: Any) -> VersionInfo:
    sha = None
    try:
        sha = flat_metadata(mv.run_metadata).get(SHA_KEY)
    except Exception:  # noqa: BLE001 - metadata is optional for versions never evaluated
        sha = None
    return VersionInfo(model=mv.model.name, version=str(mv.name), number=int(mv.number), stage=mv.stage, id=str(mv.id), artifact_sha256=sha)


def _model_exists(model: str) -> bool:
    try:
        Client().get_model(model)
        return True
    except KeyError:
        return False


def list_versions(model: str, stage: str | None = None) -> list[VersionInfo]:
    if not _model_exists(model):
        return []
    out: list[VersionInfo] = []
    page = 1
    while True:
        resp = Client().list_model_versions(model=model, stage=stage, page=page, size=100, hydrate=True)
        out.extend(_info(mv) for mv in resp.items)
        if page >= resp.total_pages:
            return out
        page += 1


def production(model: str) -> VersionInfo | None:
    prods = list_versions(model, stage=ModelStages.PRODUCTION.value)
    if len(prods) > 1:
        raise MultipleProductionError(
            f"model '{model}' has {len(prods)} production versions ({', '.join(p.version for p in prods)}); run `python run.py registry check --repair`"
        )
    return prods[0] if prods else None


def version(model: str, name: str) -> VersionInfo:
    try:
        return _info(Client().get_model_version(model, name))
    except KeyError:
        raise RegistryError(f"model '{model}' has no version '{name}'") from None


def enforce_single_production(settings: Settings, model: str, repair: bool = True) -> list[str]:
    """Repair (or refuse) a store with more than one production version.

    The version the decision log promoted last stays; the others are archived.
    Call under the promotion lock.
    """
    prods = list_versions(model, stage=ModelStages.PRODUCTION.value)
    if len(prods) <= 1:
        return []
    history = decision_log(settings).production_history(model)
    keep = next((v for v in reversed(history) if v in {p.version for p in prods}), None)
    if keep is None:
        keep = max(prods, key=lambda p: p.number).version
    if not repair:
        raise MultipleProductionError(f"model '{model}' has production versions {', '.join(p.version for p in prods)}; the decision log says {keep}")
    actions = []
    for p in prods:
        if p.version != keep:
            Client().update_model_version(model, UUID(p.id), stage=ModelStages.ARCHIVED, force=True)
            actions.append(f"archived duplicate production version {p.version} (kept {keep})")
    decision_log(settings).append({"model": model, "version": keep, "action": "repair", "reason": "; ".join(actions), "env": settings.environment.name})
    return actions


INTENT_DIR = "promotion-intents"


def _intent_path(settings: Settings, model: str) -> Path:
    return settings.workspace_path(INTENT_DIR, f"{model}.json")


def _write_intent(settings: Settings, model: str, intent: dict) -> Path:
    path = _intent_path(settings, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(intent, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def set_production(
    settings: Settings,
    model: str,
    version_name: str,
    *,
    action: str,
    reason: str,
    extra: dict | None = None,
    check: Callable[[], None] | None = None,
) -> dict:
    """Make ``version_name`` the one production version, under the lock, and log it.

    ``check`` runs under the lock before anything changes (an approval's
    preconditions), so nothing can change them between the check and the stage.

    Crash-consistent: an intent record is written (fsync'd) before the stage
    changes and removed after the decision is logged, so a process killed in
    between leaves a record ``recover`` finishes (the stage changed: log it)
    or undoes (it did not: drop it) on the next start.
    """
    with promotion_lock(settings.environment.lock, settings.workspace, model):
        _recover_locked(settings, model)
        enforce_single_production(settings, model)
        if check is not None:
            check()
        before = production(model)
        target = version(model, version_name)
        if not target.artifact_sha256:
            raise RegistryError(f"model '{model}' version {version_name} has no recorded {SHA_KEY}; it was never evaluated and cannot serve")
        entry = {
            "model": model,
            "version": version_name,
            "action": action,
            "previous_production": before.version if before else None,
            "reason": reason,
            "artifact_sha256": target.artifact_sha256,
            "git_commit": git_commit(),
            "env": settings.environment.name,
            "intent_id": uuid.uuid4().hex,
            **(extra or {}),
        }
        intent = _write_intent(settings, model, {"entry": entry, "written_at": datetime.now(UTC).isoformat()})
        Client().update_model_version(model, UUID(target.id), stage=ModelStages.PRODUCTION, force=True)
        after = list_versions(model, stage=ModelStages.PRODUCTION.value)
        if [p.version for p in after] != [version_name]:
            raise MultipleProductionError(f"after promoting {version_name}, production is {[p.version for p in after]}")
        record = decision_log(settings).append(entry)
        intent.unlink()
        return record


def recover(settings: Settings, model: str) -> list[str]:
    """Finish or undo a promotion a killed process left half done (every command's start)."""
    if not _intent_path(settings, model).exists():
        return []
    with promotion_lock(settings.environment.lock, settings.workspace, model):
        return _recover_locked(settings, model)


def _recover_locked(settings: Settings, model: str) -> list[str]:
    path = _intent_path(settings, model)
    if not path.exists():
        return []
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))["entry"]
    except (ValueError, KeyError, TypeError):
        path.unlink()
        return [f"dropped an unreadable promotion intent {path}"]
    log = decision_log(settings)
    if any(e.get("intent_id") == entry["intent_id"] for e in log.verified_entries()):
        path.unlink()  # logged; only the clean-up was interrupted
        return []
    prods = list_versions(model, stage=ModelStages.PRODUCTION.value)
    if [p.version for p in prods] == [entry["version"]]:
        log.append({**entry, "reason": f"{entry['reason']} (completed on restart: the stage had changed, the process died before logging it)"})
        path.unlink()
        return [f"finished the interrupted {entry['action']} of {model} v{entry['version']}"]
    # The stage did not change (or not cleanly): put back what the log says.
    previous = entry.get("previous_production")
    for p in prods:
        if p.version != previous:
            Client().update_model_version(model, UUID(p.id), stage=ModelStages.ARCHIVED, force=True)
    if previous and previous not in {p.version for p in prods}:
        Client().update_model_version(model, UUID(version(model, previous).id), stage=ModelStages.PRODUCTION, force=True)
    path.unlink()
    return [f"undid the interrupted {entry['action']} of {model} v{entry['version']} (production stays {previous or 'none'})"]


def logged_production(settings: Settings, model: str) -> str | None:
    """The version the verified decision log last made production."""
    for rec in reversed(decision_log(settings).verified_entries()):
        if rec.get("model") == model and rec.get("action") in ("promote", "rollback", "repair"):
            return str(rec["version"]) if rec.get("action") != "repair" or rec.get("version") else None
    return None


def reconcile(settings: Settings, model: str, repair: bool) -> list[str]:
    """Problems (or, with ``repair``, fixes) where ZenML's production disagrees with the log.

    A production version the decision log never recorded (a killed promotion
    without its intent, or a stage set outside Runway) is archived and the
    logged version restored.
    """
    with promotion_lock(settings.environment.lock, settings.workspace, model):
        out = _recover_locked(settings, model)
        out += enforce_single_production(settings, model, repair=repair)
        prod = production(model)
        logged = logged_production(settings, model)
        if (prod.version if prod else None) == logged:
            return out
        problem = f"production is {'v' + prod.version if prod else 'none'} but the decision log last promoted {'v' + logged if logged else 'none'}"
        if not repair:
            raise RegistryError(f"model '{model}': {problem}; run `python run.py registry check --repair`")
        if prod is not None:
            Client().update_model_version(model, UUID(prod.id), stage=ModelStages.ARCHIVED, force=True)
        if logged is not None:
            Client().update_model_version(model, UUID(version(model, logged).id), stage=ModelStages.PRODUCTION, force=True)
        decision_log(settings).append(
            {"model": model, "version": logged, "action": "repair", "reason": f"{problem}: archived the unlogged one", "env": settings.environment.name}
        )
        return [*out, f"{problem}: archived {'v' + prod.version if prod else 'nothing'}, production is {'v' + logged if logged else 'none'}"]


def set_candidate_stage(settings: Settings, model: str, version_name: str, stage: str) -> None:
    """Park a rejected candidate in staging (shadow-scorable) or archived, under the lock."""
    if stage not in (ModelStages.STAGING.value, ModelStages.ARCHIVED.value):
        raise ValueError(f"a candidate can only be parked in staging or archived, not {stage!r}; use set_production")
    with promotion_lock(settings.environment.lock, settings.workspace, model):
        Client().update_model_version(model, UUID(version(model, version_name).id), stage=stage, force=True)


def park_and_log(settings: Settings, model: str, version_name: str, stage: str, entry: dict, check: Callable[[], None] | None = None) -> dict:
    """``set_candidate_stage`` and a decision-log entry under one lock hold;
    ``check`` runs first (an approval's preconditions)."""
    if stage not in (ModelStages.STAGING.value, ModelStages.ARCHIVED.value):
        raise ValueError(f"a candidate can only be parked in staging or archived, not {stage!r}; use set_production")
    with promotion_lock(settings.environment.lock, settings.workspace, model):
        if check is not None:
            check()
        Client().update_model_version(model, UUID(version(model, version_name).id), stage=stage, force=True)
        return decision_log(settings).append(entry)


def await_approval(settings: Settings, model: str, version_name: str, *, reason: str, sha: str, extra: dict | None = None) -> dict:
    """The gate passed but the environment requires a human approval: stage
    staging, "awaiting approval" in the signed log and in the version's
    metadata; production is not touched (``run.py approve`` sets it)."""
    entry = {
        "model": model,
        "version": version_name,
        "action": AWAIT_APPROVAL,
        "reason": f"awaiting approval: {reason}",
        "artifact_sha256": sha,
        "git_commit": git_commit(),
        "env": settings.environment.name,
        **(extra or {}),
    }
    record = park_and_log(settings, model, version_name, ModelStages.STAGING.value, entry)
    log_version_metadata(model, version_name, {"approval": {"status": "awaiting", "since": record["time"], "env": settings.environment.name}})
    return record


def log_version_metadata(model: str, version_name: str, metadata: dict) -> None:
    from zenml import log_metadata

    log_metadata(metadata=metadata, model_name=model, model_version=version_name)


def version_metadata(model: str, version_name: str) -> dict[str, Any]:
    """The version's run metadata as plain JSON values (latest value per key)."""
    mv = Client().get_model_version(model, version_name)
    return json.loads(json.dumps(flat_metadata(mv.run_metadata), default=str))


def record_rejection(settings: Settings, model: str, version_name: str, reason: str, extra: dict | None = None, sha: str | None = None) -> dict:
    return decision_log(settings).append(
        {
            "model": model,
            "version": version_name,
            "action": "reject",
            "reason": reason,
            "artifact_sha256": sha,
            "git_commit": git_commit(),
            "env": settings.environment.name,
            **(extra or {}),
        }
    )


def rollback(settings: Settings, model: str, to_version: str | None = None, reason: str = "manual rollback") -> dict:
    """Make the previous production version (or ``to_version``) production again."""
    current = production(model)
    if to_version is None:
        history = decision_log(settings).production_history(model)
        earlier = [v for v in history if current is None or v != current.version]
        if not earlier:
            raise RegistryError(f"no earlier production version of '{model}' in the decision log to roll back to")
        to_version = earlier[-1]
    if current is not None and current.version == to_version:
        raise RegistryError(f"version {to_version} is already production")
    return set_production(settings, model, to_version, action="rollback", reason=reason)


def discard_failed_versions(model: str) -> list[str]:
    """Delete the model versions failed trainings left behind.

    A version is created when a training run starts; when the run fails it
    holds no model artifact and no stage. Deleted only when every run that
    made it has finished failed, so a training in flight keeps its version.
    """
    from zenml.enums import ExecutionStatus

    removed = []
    for v in list_versions(model):
        if v.stage or v.artifact_sha256:
            continue
        runs = Client().list_pipeline_runs(model_version_id=UUID(v.id), size=100).items
        if runs and all(r.status == ExecutionStatus.FAILED for r in runs):
            Client().delete_model_version(UUID(v.id))
            removed.append(f"deleted model '{model}' version {v.version}: its training failed")
    return removed


def read_model_bytes(model: str, version_name: str) -> bytes:
    """The version's artifact bytes (callers hash them against the decision log)."""
    mv = Client().get_model_version(model, version_name)
    try:
        art = mv.get_model_artifact(MODEL_ARTIFACT)
    except Exception as exc:  # noqa: BLE001
        raise RegistryError(f"model '{model}' version {version_name} has no '{MODEL_ARTIFACT}' artifact: {exc}") from None
    # A fleet tenant's version keeps its artifact's location in its metadata
    # (runway.governance.fleet_registry.URI_KEY): one artifact name per tenant.
    uri = art.uri if art is not None else flat_metadata(mv.run_metadata).get(FLEET_URI_KEY)
    if not uri:
        raise RegistryError(f"model '{model}' version {version_name} has no '{MODEL_ARTIFACT}' artifact")
    path = os.path.join(str(uri), MODEL_FILE)
    if not fileio.exists(path):
        raise RegistryError(f"model artifact file {path} is missing")
    with fileio.open(path, "rb") as fh:
        return fh.read()


def load_verified(settings: Settings, model: str, version_name: str) -> ModelArtifact:
    """Load a version only if its bytes hash to what the decision log recorded.

    The expected sha256 comes only from a verified log (every MAC, the chain
    and the head record check out); a log that does not verify refuses every
    load (DecisionLogError), so a forged ``rollback`` entry never serves.
    """
    expected = decision_log(settings).promoted_sha(model, version_name, verified=True)
    if expected is None:
        raise ArtifactIntegrityError(f"decision log has no sha256 for '{model}' version {version_name}: it was never promoted")
    return deserialize_verified(read_model_bytes(model, version_name), expected)


def artifact_sha(model: str, version_name: str) -> str:
    return sha256_bytes(read_model_bytes(model, version_name))
