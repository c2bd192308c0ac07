"""Fleet training: prepare once for the fleet, then train chunk by chunk.

``prepare`` reads every tenant's history (a bad batch fails that tenant
only), computes the fleet's features in one pass and retrieves them in one
Feast call, trains and gates the pooled fleet model, and writes one frame
per chunk. ``train_chunk`` fits, evaluates and gates each tenant of a chunk
(fits in a process pool), then registers version, artifact, metadata, run
link and stage per tenant, and appends the chunk's decisions at once.

Which model serves a tenant: its own production version if it has one,
else the pooled fleet model (cold start). A tenant the pooled model serves
must beat the pooled model through the same gate to get its own.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from runway.config import Settings
from runway.evaluation import gate as gate_lib
from runway.evaluation import report as evaluation_lib
from runway.evaluation.report import report_from_dict
from runway.features import frames as frames_lib
from runway.fleet import data as data_lib
from runway.fleet import features as features_lib
from runway.fleet import lineage as lineage_lib
from runway.fleet import progress as progress_lib
from runway.fleet import tenants as tenants_lib
from runway.fleet.work import TenantJob, fit_and_evaluate, run_jobs
from runway.governance.approvals import AWAIT_APPROVAL, identity, requires_approval
from runway.governance.decision_log import DecisionLog, git_commit, open_log
from runway.governance.lineage import code_version, resolved_config
from runway.modeling import artifact as modeling_lib

POOLED_MAX_ROWS = 200_000
POOLED_SAMPLE_ROWS = 2 * POOLED_MAX_ROWS  # rows sampled from the chunks' frames for the pooled model
SERVING_ACTIONS = ("promote", "reject", "serve_pooled", "failed", "rollback")


def decision_log(settings: Settings) -> DecisionLog:
    return open_log(settings)


def serving_index(settings: Settings) -> dict[str, str]:
    """tenant -> "own" | "pooled": what the decision log last said serves it."""
    out: dict[str, str] = {}
    for rec in decision_log(settings).entries():
        if rec.get("tenant") and rec.get("serving") and rec.get("use_case") == settings.use_case:
            out[str(rec["tenant"])] = rec["serving"]
    return out


def _write_parquet(frame: pd.DataFrame, path: str) -> None:
    from zenml.io import fileio

    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, "wb") as fh:
        frame.to_parquet(fh, index=False)


def _read_parquet(path: str) -> pd.DataFrame:
    from zenml.io import fileio

    with fileio.open(path, "rb") as fh:
        return pd.read_parquet(fh)


def work_dir(run_key: str) -> str:
    """Where a run's chunk frames live: the active artifact store (shared by
    every pod on Kubernetes), not the local workspace."""
    from zenml.client import Client

    return os.path.join(Client().active_stack.artifact_store.path, "fleet", run_key)


def remove_work_dir(path: str) -> bool:
    """Delete a run's chunk frames and results once the run is summarized:
    they are intermediates (the models, metrics and decisions live in the
    registry and the decision log), and a fleet of 1,000 leaves ~100 MB per
    run. Returns whether something was removed; never raises."""
    from zenml.io import fileio

    try:
        if fileio.exists(path):
            fileio.rmtree(path)
            return True
    except Exception:  # noqa: BLE001 - clean-up is best effort: an unreachable store keeps the frames, nothing else breaks
        return False
    return False


@functools.lru_cache(maxsize=1)
def process_commit() -> str:
    """The commit of the code this process imported: ``git_commit`` runs git
    twice (~17 ms), which per tenant entry was a fixed cost of the fleet."""
    return git_commit()


def _entry(settings: Settings, tenant: str, model: str, **fields: Any) -> dict:
    return {"use_case": settings.use_case, "tenant": tenant, "model": model, "git_commit": process_commit(), "env": settings.environment.name, **fields}


# ---------------------------------------------------------------- prepare --


def prepare(
    settings: Settings, tenant_ids: list[str], chunk_count: int, run_key: str, as_of: str | None, materializer: type, run_id: str | None, pooled: bool = True
) -> dict:
    """Read, validate, compute features, train the pooled model (``pooled``:
    only when the whole fleet is selected), write chunk frames; returns the plan."""
    t0 = time.perf_counter()
    col, ts, target = tenants_lib.column(settings), settings.timestamp, settings.target
    batch = data_lib.read_fleet(settings, settings.streams.history, tenant_ids, as_of=pd.Timestamp(as_of) if as_of else None)
    failed = dict(batch.failed)
    ok = [t for t in tenant_ids if t not in failed]
    if not ok:
        raise RuntimeError(f"every tenant failed before training: {json.dumps(failed)[:2000]}")
    history = batch.frame
    tables = features_lib.sync(settings, history)
    codes = features_lib.tenant_codes(tenant_ids)
    base = work_dir(run_key)
    groups = tenants_lib.chunks(ok, max(1, -(-len(ok) // chunk_count)))
    groups += [[] for _ in range(chunk_count - len(groups))]
    train_pool = pooled and tenants_lib.config(settings).pooled
    # Features are retrieved chunk by chunk (a fleet-wide retrieval held every
    # tenant's frame at once); the pooled model trains on a per-tenant sample
    # taken from each chunk's frame.
    share = min(1.0, POOLED_SAMPLE_ROWS / max(1, len(history)))
    samples: list[pd.DataFrame] = []
    features: list[str] = []
    empty: pd.DataFrame | None = None
    for k, group in enumerate(groups):
        if not group:
            continue
        h_k = history[history[col].isin(group)]
        f_k, features = features_lib.retrieve(settings, h_k)
        f_k = features_lib.with_tenant_code(f_k, col, codes)
        _write_parquet(f_k, os.path.join(base, f"frame-{k}.parquet"))
        _write_parquet(h_k, os.path.join(base, f"history-{k}.parquet"))
        if train_pool:
            samples.append(f_k if share >= 1.0 else f_k.groupby(col, group_keys=False).sample(frac=share, random_state=k))
        if empty is None:
            empty = f_k.iloc[:0]
        del f_k
    for k, group in enumerate(groups):
        if not group:
            _write_parquet(empty if empty is not None else pd.DataFrame(), os.path.join(base, f"frame-{k}.parquet"))
            _write_parquet(history.iloc[:0], os.path.join(base, f"history-{k}.parquet"))
    pooled_out = None
    if train_pool:
        try:
            pooled_out = train_pooled(settings, pd.concat(samples, ignore_index=True), history, features, codes, materializer, run_id)
        except Exception as exc:  # noqa: BLE001 - the fleet trains on; the previous pooled production (if any) keeps serving
            pooled_out = {
                "model": tenants_lib.pooled_model_name(settings),
                "version": None,
                "stage": None,
                "promote": False,
                "reason": f"pooled model failed: {exc}",
            }
        samples.clear()
    if failed:
        decision_log(settings).append_many(
            [
                _entry(settings, t, tenants_lib.model_name(settings, t), action="failed", stage=None, serving=None, reason=failed[t], phase="data")
                for t in sorted(failed)
            ]
        )
    if (p := progress_lib.current()) is not None:
        p.update(failed=len(failed))
    return {
        "run_key": run_key,
        "as_of": as_of,
        "tenants": tenant_ids,
        "chunks": groups,
        "failed": failed,
        "features": features,
        "tenant_codes": codes,
        "feature_rows": tables,
        "pooled": pooled_out,
        "work_dir": base,
        "seconds": round(time.perf_counter() - t0, 2),
        "target": target,
        "timestamp": ts,
    }


def _sample_by_tenant(frame: pd.DataFrame, col: str, max_rows: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    share = max_rows / len(frame)
    return frame.groupby(col, group_keys=False).sample(frac=share, random_state=0)


def train_pooled(
    settings: Settings, frame: pd.DataFrame, history: pd.DataFrame, features: list[str], codes: dict, materializer: type, run_id: str | None
) -> dict:
    """The pooled fleet model: every tenant's rows (sampled), tenant as a
    feature; gated against the baseline and its own production like any model."""
    from runway.governance import fleet_registry as reg

    col, ts = tenants_lib.column(settings), settings.timestamp
    name = tenants_lib.pooled_model_name(settings)
    feats = [*features, features_lib.TENANT_CODE]
    usable = frames_lib.drop_warmup(frame.dropna(subset=[settings.target]), settings)
    train, holdout = modeling_lib.time_split(usable, ts, settings.split)
    model = modeling_lib.train(_sample_by_tenant(train, col, POOLED_MAX_ROWS), feats, settings.model, ts)
    model.metadata["tenant_codes"] = codes
    prod_index = reg.production_index(settings)
    promoted = decision_log(settings).promoted_index()
    prod = prod_index.get(name)
    prod_model = None
    if prod is not None:
        try:
            prod_model = reg.load_model(prod, promoted)
        except Exception:  # noqa: BLE001 - fails closed below: no production comparison means the gate sees none
            prod_model = None
    # Every tenant's holdout rows at once; the baseline per tenant series (the tenant is in the keys).
    fs = features_lib.fleet_settings(settings)
    hold = _sample_by_tenant(holdout, col, POOLED_MAX_ROWS // 4)
    report = evaluation_lib.evaluate_candidate(
        fs, model, hold, history, production=prod_model, production_version=prod.version if (prod is not None and prod_model is not None) else None
    )
    model_id = reg.ensure_model(settings, name, tenants_lib.POOLED, reg.existing_models(settings))
    m = settings.evaluation.primary_metric
    art, sha = reg.save_model_artifact(name, model, materializer)
    decision = gate_lib.decide(report, settings.promotion, candidate_sha256=sha, production_sha256=prod.sha if prod else None)
    stage, action = gate_outcome(settings, decision)
    if action == "reject":
        stage = "archived"  # the pooled model is not shadow-scored
    version = reg.register_version(
        settings,
        name,
        model_id,
        tenants_lib.POOLED,
        art,
        sha,
        run_id=run_id,
        metrics={m: report.candidate.get(m)},
        metadata={"pooled": True, "holdout_end": report.holdout_end},
        tags=["pooled"],
    )
    reg.link_to_step([art])
    reg.set_stage(settings, name, version.id, stage, model_id=model_id)
    extra = {"metrics": {"candidate": report.candidate.to_dict(), "baseline": report.baseline.to_dict()}, "checks": decision.to_dict()["checks"]}
    who = identity() if action == AWAIT_APPROVAL else None
    decision_log(settings).append_many(
        [
            _entry(
                settings,
                tenants_lib.POOLED,
                name,
                version=version.version,
                action=action,
                stage=stage,
                artifact_sha256=sha,
                **_approval_fields(action, decision.reason, who),
                **extra,
            )
        ]
    )
    out = {"model": name, "version": version.version, "stage": stage, "promote": action == "promote", "reason": decision.reason, m: report.candidate.get(m)}
    return {**out, "awaiting_approval": action == AWAIT_APPROVAL}


# ------------------------------------------------------------------ chunk --


def gate_outcome(settings: Settings, decision: gate_lib.Decision) -> tuple[str, str]:
    """(stage, decision-log action) of a tenant's gated candidate, as the
    single-model path decides them (steps/promote.py): a pass is production,
    or staging awaiting ``run.py approve`` where the environment requires a
    human sign-off; a refusal that beat the baseline stays in staging (shadow)."""
    if decision.promote:
        return ("staging", AWAIT_APPROVAL) if requires_approval(settings) else ("production", "promote")
    beat_baseline = next((c.passed for c in decision.checks if c.name == "beats_baseline"), False)
    return ("staging" if beat_baseline and not decision.reason.startswith("duplicate") else "archived"), "reject"


# action -> the tenant's status in the summary and its ``gate:`` tag in the registry
_STATUS = {"promote": "promoted", "reject": "refused", AWAIT_APPROVAL: "awaiting_approval"}


def _approval_fields(action: str, reason: str, who: str | None) -> dict[str, Any]:
    """The entry's reason and, for a version awaiting approval, who triggered its
    training (four-eyes: that identity may not approve it)."""
    if action != AWAIT_APPROVAL:
        return {"reason": reason}
    return {"reason": f"awaiting approval: {reason}", "triggered_by": who}


def _perf_tags(metric: str, value: float | None) -> list[str]:
    """Tags the registry can be filtered by, e.g. ``wape_band:0.2-0.3``."""
    if value is None or not np.isfinite(value):
        return [f"{metric}_band:unknown"]
    lo = np.floor(value * 10) / 10
    return [f"{metric}_band:{lo:.1f}-{lo + 0.1:.1f}"]


def train_chunk(settings: Settings, plan: dict, chunk: int, materializer: type, run_id: str | None) -> dict:
    """Fit, evaluate, gate and register every tenant of chunk ``chunk`` of ``plan``."""
    from runway.governance import fleet_registry as reg

    t0 = time.perf_counter()
    tenant_ids = plan["chunks"][chunk] if chunk < len(plan["chunks"]) else []
    out: dict[str, Any] = {"chunk": chunk, "tenants": {}, "seconds": 0.0}
    if not tenant_ids:
        return out
    col, m = tenants_lib.column(settings), settings.evaluation.primary_metric
    frame = _read_parquet(os.path.join(plan["work_dir"], f"frame-{chunk}.parquet"))
    history = _read_parquet(os.path.join(plan["work_dir"], f"history-{chunk}.parquet"))
    prod_index = reg.production_index(settings)
    promoted = decision_log(settings).promoted_index()
    serving = serving_index(settings)
    pooled_v = prod_index.get(tenants_lib.pooled_model_name(settings))
    pooled_model = None
    if pooled_v is not None:
        try:
            pooled_model = reg.load_model(pooled_v, promoted)
        except Exception:  # noqa: BLE001 - no pooled model: cold tenants fall back to the baseline rule
            pooled_model = None
    need = tenants_lib.min_history_days(settings)
    jobs, notes = [], {}
    frames = dict(tuple(frame.groupby(col, sort=False)))
    hists = dict(tuple(history.groupby(col, sort=False)))
    for t in tenant_ids:
        name = tenants_lib.model_name(settings, t)
        prod = prod_index.get(name)
        ref, ref_version = None, None
        if prod is not None:
            try:
                ref, ref_version = reg.load_model(prod, promoted), prod.version
            except Exception as exc:  # noqa: BLE001 - the gate fails closed on it
                notes[t] = f"production v{prod.version} could not be loaded: {exc}"
        elif serving.get(t) == "pooled" and pooled_model is not None:
            ref, ref_version = pooled_model, f"pooled-{pooled_v.version if pooled_v else '?'}"
        jobs.append(
            TenantJob(
                t,
                tenants_lib.tenant_settings(settings, t),
                frames.get(t, frame.iloc[:0]).reset_index(drop=True),
                hists.get(t, history.iloc[:0]).drop(columns=[col]).reset_index(drop=True),
                plan["features"],
                need,
                ref,
                ref_version,
            )
        )
    known = reg.existing_models(settings)
    entries, artifacts = [], []
    who = identity() if requires_approval(settings) else None
    code = code_version()  # once per chunk, not per tenant
    fleet_config = resolved_config(settings)  # likewise; a tenant with overrides resolves its own
    bar = progress_lib.current()
    # Each tenant is registered as its fit arrives: the registry's writes
    # (mostly waiting on the store's commits) overlap the pool's fits instead
    # of following them all. The decision entries are still appended in tenant order.
    for fit in run_jobs(fit_and_evaluate, jobs, tenants_lib.config(settings).workers):
        t, name = fit.tenant, tenants_lib.model_name(settings, fit.tenant)
        ts = tenants_lib.tenant_settings(settings, t)
        has_own = name in prod_index
        try:
            if fit.status == "cold_start":
                serve = "own" if has_own else ("pooled" if pooled_v is not None else "baseline")
                entries.append(
                    _entry(
                        settings,
                        t,
                        name,
                        action="serve_pooled" if serve == "pooled" else "cold_start",
                        stage=None,
                        serving=serve,
                        reason=f"cold start: {fit.reason}; served by {serve}",
                    )
                )
                out["tenants"][t] = {"status": "cold_start", "serving": serve, "reason": fit.reason}
                if bar:
                    bar.update(done=1)
                continue
            if fit.status == "failed" or fit.model is None:
                raise RuntimeError(fit.reason)
            report = report_from_dict(fit.evaluation)
            model_id = reg.ensure_model(ts, name, t, known)
            perf = report.candidate.get(m)
            # Saved and gated before the version exists, so the version is
            # created with every tag it gets (performance band and gate outcome).
            art, sha = reg.save_model_artifact(name, fit.model, materializer)
            artifacts.append(art)
            prod = prod_index.get(name)
            decision = gate_lib.decide(report, ts.promotion, candidate_sha256=sha, production_sha256=prod.sha if prod else None, evaluation_error=notes.get(t))
            stage, action = gate_outcome(ts, decision)
            version = reg.register_version(
                ts,
                name,
                model_id,
                t,
                art,
                sha,
                run_id=run_id,
                metrics={m: perf},
                metadata={
                    "baseline_" + m: report.baseline.get(m),
                    "holdout_end": report.holdout_end,
                    "evaluation": {
                        "holdout_rows": report.rows,
                        **{k: fit.evaluation[k] for k in ("candidate", "baseline", "production", "gain_vs_baseline", "gain_vs_production")},
                    },
                },
                tags=[*_perf_tags(m, perf), f"gate:{_STATUS[action]}"],
            )
            reg.set_stage(ts, name, version.id, stage, model_id=model_id)
            serve = "own" if (action == "promote" or has_own) else ("pooled" if pooled_v is not None else "baseline")
            entries.append(
                _entry(
                    settings,
                    t,
                    name,
                    version=version.version,
                    action=action,
                    stage=stage,
                    serving=serve,
                    **_approval_fields(action, decision.reason, who),
                    artifact_sha256=sha,
                    previous_production=prod.version if prod else None,
                    reference=report.production_version,
                    metrics={
                        "candidate": report.candidate.to_dict(),
                        "baseline": report.baseline.to_dict(),
                        "production": report.production.to_dict() if report.production else None,
                    },
                    checks=decision.to_dict()["checks"],
                    lineage=lineage_lib.tenant_lineage(
                        ts,
                        t,
                        fit.evaluation,
                        features=plan["features"],
                        as_of=plan.get("as_of"),
                        run={"id": run_id},
                        code=code,
                        config=fleet_config if ts is settings else None,
                    ),
                )
            )
            out["tenants"][t] = {
                "status": _STATUS[action],
                "version": version.version,
                "stage": stage,
                "serving": serve,
                "reason": decision.reason,
                m: perf,
                "baseline": report.baseline.get(m),
                "seconds": round(fit.seconds, 3),
            }
            if bar:
                bar.update(done=1)
        except Exception as exc:  # noqa: BLE001 - one tenant's failure never stops the chunk
            reason = str(exc) or type(exc).__name__
            entries.append(
                _entry(
                    settings,
                    t,
                    name,
                    action="failed",
                    stage=None,
                    serving="own" if has_own else ("pooled" if pooled_v else "baseline"),
                    reason=reason,
                    phase="train",
                )
            )
            out["tenants"][t] = {"status": "failed", "reason": reason}
            if bar:
                bar.update(failed=1)
    decision_log(settings).append_many(sorted(entries, key=lambda e: e["tenant"]))
    reg.link_to_step(artifacts)  # one store call for the chunk (see save_model_artifact)
    out["tenants"] = dict(sorted(out["tenants"].items()))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def summarize(plan: dict, chunks: list[dict]) -> dict:
    tenants: dict[str, dict] = {t: {"status": "failed", "reason": r} for t, r in plan["failed"].items()}
    for c in chunks:
        tenants.update(c["tenants"])
    counts: dict[str, int] = {}
    for v in tenants.values():
        counts[v["status"]] = counts.get(v["status"], 0) + 1
    return {
        "tenants": dict(sorted(tenants.items())),
        "counts": counts,
        "pooled": plan.get("pooled"),
        "failed": {t: v["reason"] for t, v in tenants.items() if v["status"] == "failed"},
    }
