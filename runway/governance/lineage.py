"""Lineage of a trained model version: everything needed to reproduce it.

Built once per training run, where the gate's decision is written, and
stored *inside* that decision-log entry (key ``lineage``), so it is covered
by the log's HMAC chain: an edited lineage does not verify. Together with
the entry's own fields (``metrics``, ``checks``, ``reason``, ``action``,
``artifact_sha256``, ``git_commit``) it records

* the ingested batches, each with the sha256 of the raw file's bytes (or, for
  a SQL source, of the frame), the stream, the ``as_of`` cut-off and the
  combined fingerprint ingestion used, re-checked here;
* the feature service (name and version), the content hash of the computed
  feature tables, a hash of the feature declarations and the model's feature
  list;
* the code commit and whether the tree was dirty;
* the resolved configuration with secrets redacted, and its sha256;
* the training and holdout windows;
* the evaluation facts the entry does not already hold: the bootstrap
  intervals of the gain over the baseline and production, the slices;
* permutation feature importance on the holdout and, for classification,
  the decision threshold (and how it was chosen) and the calibration.

Secrets: ``Settings`` keeps credentials as ``{env:VAR}`` references (see
``runway.config.loader``); a reference is kept as is (it names a variable, it
is not a secret), a literal password inside a URL is masked, any key named
like a credential is masked, and as a last guard the value of every variable
a reference names (and of every secret-looking environment variable) is
scrubbed from every string. ``reveal`` is never called here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runway.config import Settings

LINEAGE_VERSION = 1
LINEAGE_KEY = "lineage"
REDACTED = "<redacted>"
# Actions that end a training run; the one carrying ``lineage`` is the version's training entry.
TRAINING_ACTIONS = ("promote", "reject", "await_approval")  # await_approval: the gate passed, a human signs off later

_REF = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
_SECRET_NAME = re.compile(r"(password|passwd|pwd|secret|token|api_?key|credential|webhook|private_?key|auth)", re.I)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
_KV_PASSWORD = re.compile(r"((?:password|passwd|pwd|token|secret)=)([^,&;\s]+)", re.I)
_MIN_SCRUB_CHARS = 4


class LineageError(LookupError):
    """No lineage for the asked model version (or the log holds none)."""

    def __str__(self) -> str:  # LookupError would repr() the message
        return str(self.args[0]) if self.args else ""


# ------------------------------------------------------------------ hashing --


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -------------------------------------------------------------------- data --


def batch_files(settings: Settings, stream: str, batches: list[str] | None) -> list[Path]:
    """The raw files an ingestion of ``stream`` (``batches`` or all) reads, as ``sources.read_batches`` selects them."""
    from runway.data import sources

    files = sources.list_batches(settings.environment.source, settings.raw_dir, stream)
    if batches is not None:
        wanted = {b if b.startswith("batch=") else f"batch={b}" for b in batches}
        files = [p for p in files if p.name.split(".")[0] in wanted]
    return files


def data_lineage(settings: Settings, stream: str, batches: list[str] | None, as_of: str | None, fingerprint: str | None) -> dict:
    """The ingested batches with their content fingerprints.

    ``fingerprint`` is the combined fingerprint ingestion ran with; the files
    are re-hashed here and ``fingerprint_verified`` says whether they are
    still exactly what it read.
    """
    from runway.data import sources

    src = settings.environment.source
    out: dict[str, Any] = {"stream": stream, "source_kind": src.kind, "batches_requested": batches, "as_of": as_of, "fingerprint": fingerprint}
    if src.kind == "sql":
        batch = sources.read_batches(settings, stream)
        out |= {
            "batches": [{"table": batch.label, "sha256": batch.fingerprint, "rows": len(batch.frame)}],
            "fingerprint_verified": batch.fingerprint == fingerprint,
        }
        return out
    files = batch_files(settings, stream, batches)
    out["batches"], combined = file_entries(settings, files)
    out["fingerprint_verified"] = bool(files) and combined == fingerprint
    return out


def file_entries(settings: Settings, files: list[Path]) -> tuple[list[dict], str]:
    """Each raw file's ``{batch, file, sha256, bytes}`` (sorted, as ingestion
    reads them) and the files' combined fingerprint, the one ingestion records
    (``sources.fingerprint_files``): one read of each file for both. The single
    model's lineage and a fleet tenant's use it alike."""
    from runway.data import sources

    combined, each = sources.hash_files(files)
    entries = [
        {"batch": p.name.split(".")[0], "file": p.relative_to(settings.raw_dir).as_posix(), "sha256": sha, "bytes": p.stat().st_size} for p, sha in each.items()
    ]
    return entries, combined


# ---------------------------------------------------------------- features --


def feature_definitions_sha256(settings: Settings) -> str:
    """A hash of what defines the Feast objects: the feature declarations, the entities and the timestamp."""
    return sha256_json(
        {
            "features": settings.features.model_dump(mode="json"),
            "entities": [e.model_dump(mode="json") for e in settings.entities],
            "timestamp": settings.contract.timestamp,
        }
    )


# ------------------------------------------------------------------ config --


def _secret_values(refs: Iterable[str]) -> list[str]:
    names = set(refs) | {n for n in os.environ if _SECRET_NAME.search(n)}
    values = {os.environ[n] for n in names if n in os.environ and len(os.environ[n]) >= _MIN_SCRUB_CHARS}
    return sorted(values, key=len, reverse=True)  # longest first: a value containing another is scrubbed whole


def _references(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {a or b for a, b in _REF.findall(value)}
    return set()


def _only_references(value: str) -> bool:
    return bool(_REF.search(value)) and not _REF.sub("", value).strip()


def redact_string(value: str, secrets: Iterable[str] = ()) -> str:
    """Mask a literal password in a URL or ``password=`` pair (references stay) and any of ``secrets``."""

    def mask(m: re.Match[str]) -> str:
        return m.group(0) if _only_references(m.group(2)) else f"{m.group(1)}{REDACTED}{m.group(3) if m.lastindex == 3 else ''}"

    out = _URL_PASSWORD.sub(mask, value)
    out = _KV_PASSWORD.sub(lambda m: m.group(0) if _only_references(m.group(2)) else f"{m.group(1)}{REDACTED}", out)
    for s in secrets:
        out = out.replace(s, REDACTED)
    return out


def _redact(value: Any, secrets: list[str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets, key) for v in value]
    if isinstance(value, str):
        if _SECRET_NAME.search(key) and value and not _only_references(value):
            return REDACTED
        return redact_string(value, secrets)
    return value


def redact(data: dict) -> dict:
    """``data`` (a config dump) with every secret masked; references kept."""
    return _redact(data, _secret_values(_references(data)))


def resolved_config(settings: Settings) -> dict:
    """The resolved settings, secrets redacted (never revealed)."""
    return redact(settings.model_dump(mode="json"))


# -------------------------------------------------------------------- code --


def code_version() -> dict:
    from runway.governance.decision_log import git_commit

    commit = git_commit()
    dirty = commit.endswith("-dirty")
    return {"commit": commit.removesuffix("-dirty"), "dirty": dirty}


# ------------------------------------------------------------------- build --


def build(
    settings: Settings,
    evaluation: dict,
    *,
    data: dict,
    feature_version: str | None,
    run: dict | None = None,
    code: dict | None = None,
    config: dict | None = None,
) -> dict:
    """The lineage record of one training run (stored as the decision entry's ``lineage``).

    ``evaluation`` is the evaluation step's output (the report's dict plus
    ``importance`` and ``training``); ``data`` is ``data_lineage``'s answer;
    ``config``: ``resolved_config(settings)`` when the caller already has it.
    """
    config = config if config is not None else resolved_config(settings)
    training = evaluation.get("training") or {}
    holdout = evaluation.get("holdout") or [None, None]
    record: dict[str, Any] = {
        "lineage_version": LINEAGE_VERSION,
        "use_case": settings.use_case,
        "task": settings.model.task,
        "data": data,
        "features": {
            "service": settings.features.service_name,
            "service_version": settings.features.version,
            "feature_version": feature_version,
            "definitions_sha256": feature_definitions_sha256(settings),
            "model_features": training.get("features"),
        },
        "code": code or code_version(),  # a fleet passes it once per chunk (git runs twice per call)
        "config": {"sha256": sha256_json(config), "resolved": config},
        "windows": {
            "training": [training.get("start"), training.get("end")],
            "training_rows": training.get("rows"),
            "holdout": list(holdout),
            "holdout_rows": evaluation.get("rows"),
        },
        # params as ordered pairs: the log stores objects with sorted keys, and
        # the order is part of the artifact's bytes (its metadata keeps the dict).
        "estimator": {
            "name": settings.model.estimator,
            "params": [[k, v] for k, v in settings.model.params.items()],
            "random_state": settings.model.random_state,
        },
        "evaluation": {
            k: evaluation.get(k)
            for k in ("primary_metric", "direction", "baseline_label", "gain_vs_baseline", "gain_vs_production", "production_version", "slice_by", "slices")
        },
        "importance": evaluation.get("importance"),
        "classification": None,
        "run": run or {},
    }
    if settings.model.task == "binary_classification":
        record["classification"] = {
            "threshold": evaluation.get("threshold"),
            "threshold_source": evaluation.get("threshold_source"),
            "threshold_detail": training.get("threshold_detail"),
            "production_threshold": evaluation.get("production_threshold"),
            "calibration": evaluation.get("calibration"),
        }
    return record


# -------------------------------------------------------------------- read --


def version_entries(entries: list[dict], model: str, version: str) -> list[dict]:
    return [e for e in entries if e.get("model") == model and str(e.get("version")) == str(version)]


def training_entry(entries: list[dict], model: str, version: str) -> dict:
    """The decision entry that ended ``version``'s training and carries its lineage."""
    mine = version_entries(entries, model, version)
    found = [e for e in mine if e.get("action") in TRAINING_ACTIONS and isinstance(e.get(LINEAGE_KEY), dict)]
    if found:
        return found[0]
    if not any(e.get("model") == model for e in entries):
        known = sorted({str(e.get("model")) for e in entries if e.get(LINEAGE_KEY)})
        raise LineageError(f"the decision log has no model '{model}'" + (f"; models with lineage: {', '.join(known)}" if known else ""))
    versions = sorted({str(e.get("version")) for e in entries if e.get("model") == model and e.get(LINEAGE_KEY)}, key=lambda v: (len(v), v))
    if mine:
        raise LineageError(f"model '{model}' version {version} has decisions but no lineage (trained before lineage was recorded)")
    raise LineageError(
        f"model '{model}' has no version {version} in the decision log" + (f"; versions with lineage: {', '.join(versions)}" if versions else "")
    )


def later_decisions(entries: list[dict], model: str, version: str, after: dict) -> list[dict]:
    """Every decision about ``version`` logged after its training entry (approvals, rejections, rollbacks, promotions)."""
    mine = version_entries(entries, model, version)
    idx = next(i for i, e in enumerate(mine) if e is after)
    return mine[idx + 1 :]


def version_lineage(entries: list[dict], model: str, version: str) -> dict:
    """Lineage of ``version`` as one document: the training entry's facts, its
    lineage, and the decisions made about it since (from *verified* entries)."""
    entry = training_entry(entries, model, version)
    lineage = entry[LINEAGE_KEY]
    return {
        **lineage,
        "model": model,
        "version": str(version),
        "decision": {
            "action": entry.get("action"),
            "time": entry.get("time"),
            "reason": entry.get("reason"),
            "checks": entry.get("checks"),
            "previous_production": entry.get("previous_production"),
            "env": entry.get("env"),
        },
        "artifact_sha256": entry.get("artifact_sha256"),
        "git_commit": entry.get("git_commit"),
        "metrics": entry.get("metrics"),
        "decisions_since": [{k: e.get(k) for k in e if k not in ("mac", "prev_sha256", LINEAGE_KEY)} for e in later_decisions(entries, model, version, entry)],
        "log_entry_mac": entry.get("mac"),
    }


def verify_config(lineage: dict) -> dict:
    """The logged resolved config, after checking it against its logged sha256."""
    cfg = lineage["config"]
    if sha256_json(cfg["resolved"]) != cfg["sha256"]:
        raise LineageError("the logged resolved config does not hash to the logged config sha256; refusing to use it")
    return cfg["resolved"]


# ------------------------------------------------------------------ format --


def _num(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return "–" if v is None else str(v)


def _interval(g: dict | None) -> str:
    if not g:
        return "–"
    return f"{_num(g.get('point'), 3)} [{_num(g.get('low'), 3)}, {_num(g.get('high'), 3)}]"


def _verified(flag: bool | None) -> str:
    if flag is None:  # a fleet tenant's files are hashed at its gate, not against ingestion's fingerprint
        return "hashed at the gate"
    return "verified" if flag else "NOT verified: files changed during the run"


def format_text(doc: dict) -> str:
    """A readable rendering of ``version_lineage``'s answer."""
    d, data, feats, code, win = doc["decision"], doc["data"], doc["features"], doc["code"], doc["windows"]
    ev = doc.get("evaluation") or {}
    m = ev.get("primary_metric")
    metrics = doc.get("metrics") or {}
    lines = [
        f"model {doc['model']} v{doc['version']}  ({doc.get('use_case')}, {doc.get('task')})",
        f"decision      {d['action']} at {str(d['time'])[:19]} in {d.get('env')}: {d.get('reason')}",
        f"artifact      sha256 {doc.get('artifact_sha256')}",
        f"code          {code['commit']}{' (dirty tree)' if code['dirty'] else ''}",
        f"config        sha256 {doc['config']['sha256']}",
        f"features      service {feats['service']} (version {feats['service_version']}), tables {str(feats['feature_version'])[:16]}, "
        f"definitions {feats['definitions_sha256'][:16]}",
        f"              model features: {', '.join(feats.get('model_features') or [])}",
        f"data          {data['stream']} ({data['source_kind']}), as of {data.get('as_of') or 'all recorded'}, fingerprint {str(data.get('fingerprint'))[:16]}"
        f" ({_verified(data.get('fingerprint_verified'))})",
    ]
    for b in data.get("batches") or []:
        lines.append(f"              {b.get('file') or b.get('table')}  sha256 {b['sha256']}")
    lines += [
        f"windows       training {win['training'][0]} .. {win['training'][1]} ({win.get('training_rows')} rows); "
        f"holdout {win['holdout'][0]} .. {win['holdout'][1]} ({win.get('holdout_rows')} rows)",
    ]
    if m:
        for who in ("candidate", "baseline", "production"):
            if metrics.get(who):
                values = {k: v for k, v in metrics[who].items() if k != "rows"}
                lines.append(f"{'metrics' if who == 'candidate' else '':14s}{who:10s} " + "  ".join(f"{k} {_num(v)}" for k, v in values.items()))
        lines.append(
            f"gain ({m})     vs {ev.get('baseline_label')}: {_interval(ev.get('gain_vs_baseline'))}; vs production: {_interval(ev.get('gain_vs_production'))}"
        )
    for c in d.get("checks") or []:
        lines.append(f"gate          {'pass' if c.get('passed') else 'FAIL'}  {c.get('name')}: {c.get('detail', '')}")
    if ev.get("slices"):
        lines.append(f"slices        by {ev.get('slice_by')}: {len(ev['slices'])} slices")
    imp = doc.get("importance")
    if imp:
        top = ", ".join(f"{f['feature']} {_num(f['importance'], 4)}" for f in imp["features"][:8])
        lines.append(f"importance    (loss increase in {imp['metric']}, {imp['rows']} holdout rows x {imp['repeats']}): {top}")
    clf = doc.get("classification")
    if clf:
        cal = clf.get("calibration") or {}
        lines.append(f"threshold     {_num(clf.get('threshold'))} ({clf.get('threshold_source')}); calibration ECE {_num(cal.get('ece'))}")
    for e in doc.get("decisions_since") or []:
        who = e.get("approved_by") or e.get("rejected_by") or e.get("triggered_by") or ""
        lines.append(f"since         {str(e.get('time'))[:19]}  {e.get('action')}{' by ' + str(who) if who else ''}: {e.get('reason')}")
    return "\n".join(lines)
