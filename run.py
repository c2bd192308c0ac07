#!/usr/bin/env python
"""Runway: one entry point for every pipeline and operation.

With no command it runs the whole local loop: create sample data if absent,
apply and materialize features, train, gate the promotion and print a summary.
Run ``python run.py --help`` or ``python run.py COMMAND --help`` for details.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from runway.config import DEFAULT_ENV, DEFAULT_USE_CASE, ConfigError, Settings, list_names, load_settings, resolve_path

EXIT_USAGE = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=DEFAULT_USE_CASE, metavar="USE_CASE", help=f"use case name in configs/use_cases or a YAML path (default: {DEFAULT_USE_CASE}; available: {', '.join(list_names('use_cases'))})")
    common.add_argument("--env", default=DEFAULT_ENV, help=f"environment name in configs/environments or a YAML path (default: {DEFAULT_ENV}; available: {', '.join(list_names('environments'))})")
    common.add_argument("--stack", default="local", choices=["local", "kubeflow", "kubernetes"], help="where pipelines run (default: local)")
    common.add_argument("--workspace", help="override the environment's workspace folder (data, quarantine, decision log, reports)")

    p = argparse.ArgumentParser(prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("all", parents=[common], help="the whole loop (default): data, features, training, gated promotion, summary")
    s = sub.add_parser("simulate", parents=[common], help="write simulated raw batches (history, or live weeks with --weeks)")
    s.add_argument("--weeks", type=int, default=0, help="live weeks to add after the history (plans + late actuals)")
    s.add_argument("--scenario", default="none", help="drift scenario for the live weeks: none, price_shift, demand_shift, new_store, missing_values, schema_change")
    s.add_argument("--reset", action="store_true", help="delete existing raw data first")

    t = sub.add_parser("train", parents=[common], help="run the training pipeline (gated promotion included)")
    t.add_argument("--batches", nargs="*", help="only these sales batches (e.g. 2024-12-23); default all")

    d = sub.add_parser("decisions", parents=[common], help="print the promotion decision log")
    d.add_argument("--json", action="store_true", help="raw JSON lines")
    d.add_argument("--verify", action="store_true", help="check the log's hash chain")

    r = sub.add_parser("registry", parents=[common], help="list model versions or check the one-production invariant")
    r.add_argument("action", choices=["list", "check"], help="list: versions and stages; check: exactly one production")
    r.add_argument("--repair", action="store_true", help="with check: archive duplicate production versions")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"environment": {"workspace": str(Path(args.workspace).resolve())}} if getattr(args, "workspace", None) else None
    return load_settings(args.config, args.env, overrides)


def _boot(settings: Settings) -> None:
    from runway import runtime

    runtime.configure(settings)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    import shutil
    from datetime import timedelta

    from runway import simulate

    raw = settings.workspace_path(settings.environment.source.location)
    if args.reset and raw.exists():
        shutil.rmtree(raw)
    if args.scenario not in simulate.SCENARIOS:
        print(f"error: --scenario must be one of {', '.join(simulate.SCENARIOS)}, got {args.scenario!r}", file=sys.stderr)
        return EXIT_USAGE
    wrote = simulate.ensure_sample_data(raw, settings.simulation)
    print(f"history: {'written' if wrote else 'already present'} under {raw / 'sales'}")
    start = simulate.history_end(settings.simulation)
    existing = sorted((raw / "plan").glob("batch=*.parquet"))
    for k in range(args.weeks):
        week = start + timedelta(days=settings.simulation.batch_days * (len(existing) + k))
        plan, sales = simulate.write_live_week(raw, settings.simulation, week, args.scenario)
        print(f"live week {week}: plan {plan.name}, actuals {sales.name} (scenario {args.scenario})")
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> dict:
    _boot(settings)
    from pipelines import training
    from runway import sources

    batch = sources.read_batches(settings, "sales", batches=args.batches or None)
    t0 = time.perf_counter()
    run = training.build(settings, batch.fingerprint)(settings=settings, fingerprint=batch.fingerprint, batches=args.batches or None)
    elapsed = time.perf_counter() - t0
    decision = run.steps["promote_model"].outputs["promotion_decision"][0].load()
    evaluation = run.steps["evaluate_model"].outputs["evaluation"][0].load()
    return {"run": run.name, "seconds": round(elapsed, 1), "decision": decision, "evaluation": evaluation}


def _print_training_summary(settings: Settings, result: dict) -> None:
    from runway import runtime

    d, e = result["decision"], result["evaluation"]
    m = e["primary_metric"]
    print("\n=== training summary ===")
    print(f"run           {result['run']} ({result['seconds']} s)")
    print(f"model         {d['model']} version {d['version']} -> stage: {d['stage']}")
    print(f"holdout       {e['rows']} rows, {e['holdout'][0][:10]} .. {e['holdout'][1][:10]}")
    print(f"candidate     {m.upper()} {e['candidate'][m]:.4f}  MAE {e['candidate']['mae']:.3f}  bias {e['candidate']['bias']:+.3f}")
    gb = e["gain_vs_baseline"]
    print(f"baseline      {m.upper()} {e['baseline'][m]:.4f}  (seasonal naive; gain {gb['point']:+.1%} [{gb['low']:+.1%}, {gb['high']:+.1%}])")
    if e.get("production"):
        gp = e["gain_vs_production"]
        print(f"production    {m.upper()} {e['production'][m]:.4f}  (v{e['production_version']}; gain {gp['point']:+.1%} [{gp['low']:+.1%}, {gp['high']:+.1%}])")
    else:
        print("production    none yet")
    print(f"gate          {'PROMOTED' if d['promote'] else 'NOT PROMOTED'}: {d['reason']}")
    print(f"artifact      sha256 {d['artifact_sha256']}")
    print(f"workspace     {settings.workspace} (raw/, quarantine/, decisions.jsonl)")
    print(f"decision log  python run.py decisions --env {settings.environment.name}")
    print(f"dashboard     {runtime.dashboard_hint(settings)}")


def cmd_decisions(settings: Settings, args: argparse.Namespace) -> int:
    from runway.decision_log import DecisionLog

    log = DecisionLog(settings.workspace_path("decisions.jsonl"))
    if args.verify:
        problems = log.verify()
        print("decision log chain intact" if not problems else "\n".join(problems))
        return 0 if not problems else EXIT_FAILED
    entries = log.entries()
    if not entries:
        print(f"no decisions yet in {log.path}")
    for e in entries:
        if args.json:
            print(json.dumps(e, sort_keys=True))
        else:
            print(f"{e['time'][:19]}  {e.get('model')} v{e.get('version')}  {e.get('action'):9s} sha {str(e.get('artifact_sha256'))[:12]}  {e.get('reason')}")
    return 0


def cmd_registry(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from runway import registry

    name = settings.model.name
    if args.action == "list":
        versions = registry.list_versions(name)
        if not versions:
            print(f"no versions of {name} yet")
        for v in versions:
            print(f"{name} v{v.version:>4}  stage {str(v.stage or '-'):10s} sha {str(v.artifact_sha256)[:12]}")
        return 0
    if args.repair:
        with registry.promotion_lock(settings.environment.lock, settings.workspace, name):
            actions = registry.enforce_single_production(settings, name, repair=True)
        print("\n".join(actions) if actions else "ok: at most one production version")
        return 0
    prod = registry.production(name)  # raises MultipleProductionError
    print(f"ok: production is {'v' + prod.version if prod else 'none'}")
    return 0


PIPELINE_OF = {"all": "training_pipeline", "train": "training_pipeline", "infer": "batch_inference_pipeline", "monitor": "monitoring_pipeline"}


def _explain(exc: Exception, command: str) -> str:
    from runway.errors import describe

    if "zenml" in sys.modules and command in PIPELINE_OF and "Pipeline run has failed" in str(exc):
        from pipelines.runs import failed_step_message

        return failed_step_message(PIPELINE_OF[command]) or describe(exc)
    return describe(exc)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "all"
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.stack != "local":
        print(f"error: --stack {args.stack} is not available yet in this build", file=sys.stderr)
        return EXIT_USAGE
    try:
        if command == "simulate":
            return cmd_simulate(settings, args)
        if command == "decisions":
            return cmd_decisions(settings, args)
        if command == "registry":
            return cmd_registry(settings, args)
        if command in ("all", "train"):
            if command == "all":
                from runway import simulate

                raw = settings.workspace_path(settings.environment.source.location)
                if simulate.ensure_sample_data(raw, settings.simulation):
                    print(f"sample data written to {raw}")
                args.batches = None
            result = cmd_train(settings, args)
            _print_training_summary(settings, result)
            return 0
    except Exception as exc:  # noqa: BLE001 - one clear line, not a stack trace
        print(f"error: {_explain(exc, command)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"error: unknown command {command}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
