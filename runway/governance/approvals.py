"""Human approval between the gate's pass and production, per environment.

When ``environment.approval.required`` is on, the gate's pass leaves the
version in stage staging with an ``await_approval`` entry in the signed
decision log (``registry.await_approval``). Only then:

* ``approve`` makes it production through the locked ``set_production``
  path; the ``promote`` entry names the approver, the reason and the time;
* ``reject`` archives it with a ``reject_approval`` entry.

Both are refused, with one line saying why, when the identity is not one of
the environment's approvers, when the version is not awaiting approval, or
when its artifact bytes no longer hash to the sha256 the log recorded at the
gate. Under ``four_eyes`` the identity that triggered the training (recorded
as ``triggered_by`` in the training decision) may not approve it. Every
precondition is checked again under the promotion lock, so a concurrent
approve/reject cannot slip in between the check and the stage change.

The identity is ``$RUNWAY_USER`` when set, else the active ZenML user.
"""

from __future__ import annotations

import os
from typing import Any

from runway.config import ApprovalConfig, Settings

USER_ENV = "RUNWAY_USER"
AWAIT_APPROVAL = "await_approval"
REJECT_APPROVAL = "reject_approval"
# Entries that settle (or reopen) a version's approval state, in log order.
_STATE_ACTIONS = {AWAIT_APPROVAL, REJECT_APPROVAL, "promote", "rollback", "reject"}


class ApprovalError(RuntimeError):
    """An approve / reject that the environment's policy refuses."""


def identity() -> str:
    """Who is acting: ``$RUNWAY_USER``, else the active ZenML user's name."""
    who = os.environ.get(USER_ENV, "").strip()
    if who:
        return who
    from zenml.client import Client

    return str(Client().active_user.name)


def requires_approval(settings: Settings) -> bool:
    return settings.environment.approval.required


# ------------------------------------------------------- pure (log entries) --


def version_entries(entries: list[dict[str, Any]], model: str, version: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("model") == model and str(e.get("version")) == str(version)]


def awaiting_entry(entries: list[dict[str, Any]], model: str, version: str) -> dict[str, Any] | None:
    """The ``await_approval`` entry of a version still awaiting approval, else None."""
    last = None
    for e in version_entries(entries, model, version):
        if e.get("action") in _STATE_ACTIONS:
            last = e
    return last if last is not None and last.get("action") == AWAIT_APPROVAL else None


def approval_state(entries: list[dict[str, Any]], model: str, version: str) -> str:
    """One word for messages: awaiting, approved, rejected, promoted, never gated."""
    last = None
    for e in version_entries(entries, model, version):
        if e.get("action") in _STATE_ACTIONS:
            last = e
    if last is None:
        return "never reached the gate in this environment's log"
    action = last.get("action")
    if action == AWAIT_APPROVAL:
        return "awaiting approval"
    if action == "promote":
        return f"already approved by {last['approved_by']}" if last.get("approved_by") else "already promoted by the gate"
    if action == REJECT_APPROVAL:
        return f"rejected by {last.get('rejected_by')}"
    return {"reject": "refused by the gate", "rollback": "rolled back to production"}.get(str(action), str(action))


def approved_entry(entries: list[dict[str, Any]], model: str, version: str, *, approval_required: bool) -> dict[str, Any] | None:
    """The entry that released the version to production in this log: a
    ``promote`` naming an approver (or, where no approval is required, any
    ``promote``), or None."""
    found = None
    for e in version_entries(entries, model, version):
        if e.get("action") == "promote" and e.get("artifact_sha256") and (e.get("approved_by") or not approval_required):
            found = e
    return found


def check_approver(cfg: ApprovalConfig, env: str, who: str) -> None:
    if not cfg.required:
        raise ApprovalError(f"environment '{env}' does not require approval (approval.required is false): the gate promotes on its own")
    if not cfg.approvers:
        raise ApprovalError(f"environment '{env}' lists no approvers: set approval.approvers (or RUNWAY_APPROVERS) in its config")
    if who not in cfg.approvers:
        raise ApprovalError(f"'{who}' is not an approver in environment '{env}' (approvers: {', '.join(cfg.approvers)}); set {USER_ENV} or ask one of them")


def check_four_eyes(cfg: ApprovalConfig, pending: dict[str, Any], who: str) -> None:
    if not cfg.four_eyes:
        return
    trigger = pending.get("triggered_by")
    if not trigger:
        raise ApprovalError(f"four-eyes is on but the decision log does not say who triggered version {pending.get('version')}'s training; refusing to approve")
    if trigger == who:
        raise ApprovalError(f"four-eyes: '{who}' triggered the training of version {pending.get('version')} and may not approve it; another approver must")


# ------------------------------------------------------ against the registry --


def _pending(settings: Settings, model: str, version: str, who: str, *, approving: bool) -> dict[str, Any]:
    """Every precondition of approve / reject, from the verified log and the registry."""
    from runway.governance import registry

    env = settings.environment.name
    entries = registry.decision_log(settings).verified_entries()  # a log that does not verify refuses
    pending = awaiting_entry(entries, model, version)
    if pending is None:
        raise ApprovalError(f"model '{model}' version {version} is not awaiting approval in '{env}' ({approval_state(entries, model, version)})")
    if approving:
        check_four_eyes(settings.environment.approval, pending, who)
    info = registry.version(model, version)
    if info.stage != "staging":
        raise ApprovalError(
            f"model '{model}' version {version} is in stage {info.stage or 'none'}, not staging, though the log says it awaits approval; refusing"
        )
    expected = pending.get("artifact_sha256")
    actual = registry.artifact_sha(model, version)
    if not expected or actual != expected or info.artifact_sha256 != expected:
        raise ApprovalError(
            f"model '{model}' version {version}: artifact sha256 {actual[:12]} no longer matches the {str(expected)[:12]} the decision log "
            "recorded at the gate; refusing (the artifact changed since it was evaluated)"
        )
    return pending


def _recheck(settings: Settings, model: str, version: str, who: str, *, approving: bool) -> None:
    _pending(settings, model, version, who, approving=approving)


def _tenant_fields(pending: dict[str, Any], serving: str | None = None) -> dict[str, Any]:
    """A fleet tenant's keys carried from its ``await_approval`` entry, so the
    fleet's serving index follows the approval (``serving``: its own model
    once approved); nothing for a single model."""
    if not pending.get("tenant"):
        return {}
    out = {"tenant": pending["tenant"], "use_case": pending.get("use_case")}
    return out | ({"serving": serving, "stage": "production"} if serving else {})


def approve(settings: Settings, model: str, version: str, reason: str, who: str | None = None) -> dict[str, Any]:
    """Approve a version awaiting approval: production, via the locked path."""
    from runway.governance import registry

    who = who or identity()
    reason = reason.strip()
    if not reason:
        raise ApprovalError("--reason is empty: say why the version may serve")
    cfg = settings.environment.approval
    check_approver(cfg, settings.environment.name, who)
    pending = _pending(settings, model, version, who, approving=True)
    record = registry.set_production(
        settings,
        model,
        version,
        action="promote",
        reason=f"approved by {who}: {reason}",
        extra={
            "approved_by": who,
            "approval_reason": reason,
            "triggered_by": pending.get("triggered_by"),
            "awaiting_since": pending.get("time"),
            "gate_reason": pending.get("reason"),
            **_tenant_fields(pending, serving="own"),
        },
        check=lambda: _recheck(settings, model, version, who, approving=True),
    )
    registry.log_version_metadata(model, version, {"approval": {"status": "approved", "by": who, "reason": reason, "at": record["time"]}})
    return record


def reject(settings: Settings, model: str, version: str, reason: str, who: str | None = None) -> dict[str, Any]:
    """Reject a version awaiting approval: archived, and logged."""
    from runway.governance import registry
    from runway.governance.decision_log import git_commit

    who = who or identity()
    reason = reason.strip()
    if not reason:
        raise ApprovalError("--reason is empty: say why the version may not serve")
    check_approver(settings.environment.approval, settings.environment.name, who)
    pending = _pending(settings, model, version, who, approving=False)
    entry = {
        "model": model,
        "version": version,
        "action": REJECT_APPROVAL,
        "reason": f"rejected by {who}: {reason}",
        "rejected_by": who,
        "artifact_sha256": pending.get("artifact_sha256"),
        "triggered_by": pending.get("triggered_by"),
        "git_commit": git_commit(),
        "env": settings.environment.name,
        **_tenant_fields(pending),
    }
    record = registry.park_and_log(settings, model, version, "archived", entry, check=lambda: _recheck(settings, model, version, who, approving=False))
    registry.log_version_metadata(model, version, {"approval": {"status": "rejected", "by": who, "reason": reason, "at": record["time"]}})
    return record
