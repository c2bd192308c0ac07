#!/usr/bin/env python
"""Runway: one entry point for every pipeline and operation.

With no command it runs the whole loop on the local stack: create sample data
if absent, apply and materialize features, train and gate the promotion, score
the following weeks with the production model, monitor them once their labels
arrive, retrain if the policy fires, and print a summary with the report path.
Run ``python run.py --help`` or ``python run.py COMMAND --help`` for details.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runway.config import DEFAULT_ENV, DEFAULT_USE_CASE, ConfigError, Settings, list_names, load_settings

EXIT_USAGE = 2
EXIT_FAILED = 1


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= n <= 520:
        raise argparse.ArgumentTypeError(f"must be between 1 and 520, got {n}")
    return n


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name.

    The copy attached to each sub-command has no defaults (SUPPRESS), so an
    option given before the command is not overwritten by the sub-command's
    default: `run.py --env staging registry list` means the same as
    `run.py registry list --env staging`.
    """

    def d(value):
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=d(DEFAULT_USE_CASE),
        metavar="USE_CASE",
        help=f"use case name in configs/use_cases or a YAML path (default: {DEFAULT_USE_CASE}; available: {', '.join(list_names('use_cases'))})",
    )
    common.add_argument(
        "--env",
        default=d(DEFAULT_ENV),
        help=f"environment name in configs/environments or a YAML path (default: {DEFAULT_ENV}; available: {', '.join(list_names('environments'))})",
    )
    common.add_argument("--stack", default=d("local"), choices=["local", "kubeflow", "kubernetes"], help="where pipelines run (default: local)")
    common.add_argument("--workspace", default=d(None), help="override the environment's workspace folder (data, quarantine, decision log, reports)")
    common.add_argument("--debug", action="store_true", default=d(False), help="show the full traceback of an error")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common(suppress=True)
    p = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[_common(suppress=False)]
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("all", parents=[common], help="the whole loop (default): data, training, inference, monitoring, retraining")
    a.add_argument(
        "--scenario", default="none", help="drift injected into the simulated live batches (the use case's simulator lists them; retail: drift = price_shift)"
    )
    a.add_argument(
        "--weeks",
        "--batches",
        dest="weeks",
        type=_positive_int,
        help="live batches to score and monitor (default: the simulator's, or 8 for a scenario; all present without a simulator)",
    )
    s = sub.add_parser(
        "simulate", parents=[common], help="write simulated raw batches (history, or live batches with --weeks); needs a use case with a simulator"
    )
    s.add_argument("--weeks", "--batches", dest="weeks", type=int, default=0, help="live batches to add after the history (scoring rows + late labels)")
    s.add_argument("--scenario", default="none", help="drift scenario for the live batches")
    s.add_argument("--reset", action="store_true", help="delete the use case's existing raw data first")

    t = sub.add_parser("train", parents=[common], help="run the training pipeline (gated promotion included)")
    t.add_argument("--batches", nargs="*", help="only these history batches (e.g. 2024-12-23); default all")

    i = sub.add_parser("infer", parents=[common], help="batch inference for one scoring batch (fallback chain included)")
    i.add_argument("--week", "--batch", dest="week", required=True, help="date of the scoring batch, e.g. 2024-12-30")

    mo = sub.add_parser("monitor", parents=[common], help="monitor scored batches: drift, labels, KPIs, alerts, retraining decision, report")
    mo.add_argument(
        "--weeks",
        "--batches",
        dest="weeks",
        nargs="+",
        help="batch dates already scored by `infer` (default: every scored batch whose labels are due and that has no report yet; "
        "what the scheduled CronJob runs)",
    )
    mo.add_argument("--retrain", action="store_true", help="on-demand trigger: retrain after monitoring regardless of other triggers")

    rb = sub.add_parser("rollback", parents=[common], help="make the previous (or a named) version production again")
    rb.add_argument("--to", dest="to_version", help="version to restore (default: the one before the current production)")

    c = sub.add_parser(
        "compile", parents=[common], help="write the Kubeflow pipeline specs (or Kubernetes Jobs) of every pipeline; no cluster or Docker needed"
    )
    c.add_argument("--out", default="compiled", help="output folder (default: compiled/)")

    sv = sub.add_parser("serve", parents=[common], help="online scoring service: POST /predict, /healthz, /readyz, /metrics (docs/serving.md)")
    sv.add_argument("--host", help="address to listen on (default: serving.host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default: serving.port, 8080)")

    d = sub.add_parser("decisions", parents=[common], help="print the promotion decision log")
    d.add_argument("--json", action="store_true", help="raw JSON lines")
    d.add_argument("--verify", action="store_true", help="check the log's hash chain")

    f = sub.add_parser(
        "fleet", parents=[common], help="a model per tenant: train, infer, monitor or all for the use case's tenants (exit 3: some tenants failed)"
    )
    f.add_argument(
        "action",
        choices=["train", "infer", "monitor", "all", "report", "registry", "rollback"],
        help="all: data (simulated if absent), train, then per batch score, monitor and retrain the tenants monitoring flags; "
        "registry: per-tenant production/staging versions with their metrics; rollback TENANT: its previous (or --to) version back to production",
    )
    f.add_argument("tenant", nargs="?", help="with rollback: the tenant whose model to roll back")
    f.add_argument("--to", dest="to_version", help="with rollback: version to restore (default: the one before the tenant's current production)")
    f.add_argument("--tenants", default=None, metavar="SELECTOR", help="ids or globs, comma-separated (t00*,t0100), first:N or @file (default: every tenant)")
    f.add_argument(
        "--batch", "--week", dest="batch", help="scoring batch date for infer/monitor (default: every batch present for all, the latest for infer/monitor)"
    )
    f.add_argument("--weeks", "--batches", dest="weeks", type=_positive_int, help="with all: live batches to simulate and run (default: the simulator's)")

    for verb, what in (("approve", "make a version awaiting approval production"), ("reject", "archive a version awaiting approval")):
        ap = sub.add_parser(
            verb,
            parents=[common],
            help=f"{what} (environments with approval.required; identity: $RUNWAY_USER, else the ZenML user; must be in approval.approvers)",
        )
        ap.add_argument("model", metavar="MODEL", help="model name (e.g. the use case's model.name)")
        ap.add_argument("version", metavar="VERSION", help="model version name, e.g. 3 (see `registry list`)")
        ap.add_argument("--reason", required=True, help="why; recorded in the signed decision log with who and when")

    pe = sub.add_parser(
        "promote-env",
        parents=[common],
        help="carry a version's exact artifact and lineage to another environment (e.g. --from staging --to prod), no retraining",
    )
    pe.add_argument("model", metavar="MODEL", help="model name")
    pe.add_argument("version", metavar="VERSION", help="model version name in the source environment (kept in the target)")
    pe.add_argument("--from", dest="from_env", required=True, metavar="ENV", help="source environment (its --workspace is --workspace)")
    pe.add_argument("--to", dest="to_env", required=True, metavar="ENV", help="target environment")
    pe.add_argument("--to-workspace", help="override the target environment's workspace folder")
    ln = sub.add_parser(
        "lineage", parents=[common], help="a model version's lineage (data, features, code, config, evaluation, gate, approvals) from the verified decision log"
    )
    ln.add_argument("model", help="model name, as `decisions` lists it")
    ln.add_argument("version", help="version number, e.g. 3")
    ln.add_argument("--json", action="store_true", help="the lineage document as JSON")
    ln.add_argument("--card", action="store_true", help="also (re)write the HTML model card under <workspace>/<use_case>/reports/")

    r = sub.add_parser("registry", parents=[common], help="list model versions or check the one-production invariant")
    r.add_argument("action", choices=["list", "check"], help="list: versions and stages; check: exactly one production")
    r.add_argument("--repair", action="store_true", help="with check: archive duplicate production versions")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    workspace = getattr(args, "workspace", None)
    scenario = getattr(args, "scenario", "none")
    if workspace is None and args.command == "all" and scenario != "none":
        # A scenario gets its own workspace (and ZenML store) so its story is
        # not mixed with the default run's registry, alerts and decisions.
        base = load_settings(args.config, args.env)
        workspace = str(base.workspace / "scenarios" / scenario)
    overrides = {"environment": {"workspace": str(Path(workspace).resolve())}} if workspace else None
    return load_settings(args.config, args.env, overrides)


def _boot(settings: Settings) -> None:
    from runway.platform import runtime

    # zenml.store_url without server_url: a local ZenML server on that
    # database for this command (stopped in main's finally, also on error).
    runtime.start_server(settings)
    runtime.configure(settings)
    from runway.governance import registry

    # Every command's start: finish or undo a promotion a killed process left
    # half done, and fail the runs a killed process left "running".
    for line in registry.recover(settings, settings.model.name) + runtime.fail_orphaned_runs(settings):
        print(f"recovered: {line}", file=sys.stderr)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    import shutil

    from pipelines.loop import resolve_scenario, scoring_batches
    from runway.plugins import load_plugin

    plugin = load_plugin(settings)
    if not plugin.simulates:
        print(
            f"error: use case '{settings.use_case}' has no simulator (its plugin has no ensure_history); bring your own batches, see docs/onboarding.md",
            file=sys.stderr,
        )
        return EXIT_USAGE
    scenario = resolve_scenario(settings, args.scenario)  # validated before anything is deleted
    raw = settings.raw_dir
    if args.reset and raw.exists():
        shutil.rmtree(raw)
    wrote = plugin.hook("ensure_history")(raw, settings)
    print(f"history: {'written' if wrote else 'already present'} under {raw / settings.streams.history}")
    if args.weeks:
        existing = len(scoring_batches(settings))
        starts = plugin.hook("live_batch_dates")(settings, existing + args.weeks)[existing:]
        for batch in plugin.hook("write_live_batches")(raw, settings, starts, scenario):
            print(f"live batch {batch}: scoring rows and late labels written (scenario {scenario})")
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> dict:
    _boot(settings)
    from pipelines.training import run_training

    return run_training(settings, batches=args.batches or None)


def _print_training_summary(settings: Settings, result: dict) -> None:
    from runway.platform import runtime

    d, e = result["decision"], result["evaluation"]
    m = e["primary_metric"]
    print("\n=== training summary ===")
    print(f"run           {result['run']} ({result['seconds']} s)")
    print(f"model         {d['model']} version {d['version']} -> stage: {d['stage']}")
    print(f"holdout       {e['rows']} rows, {e['holdout'][0][:10]} .. {e['holdout'][1][:10]}")
    others = "  ".join(f"{k} {v:.3f}" for k, v in e["candidate"].items() if k not in (m, "rows") and isinstance(v, (int, float)))
    print(f"candidate     {m} {e['candidate'][m]:.4f}  {others}")
    if e.get("threshold") is not None:
        print(f"threshold     {e['threshold']:.3f} ({e.get('threshold_source') or 'configured'})")
    gb = e["gain_vs_baseline"]
    print(f"baseline      {m} {e['baseline'][m]:.4f}  ({e.get('baseline_label', 'baseline')}; gain {gb['point']:+.1%} [{gb['low']:+.1%}, {gb['high']:+.1%}])")
    if e.get("production"):
        gp = e["gain_vs_production"]
        print(f"production    {m} {e['production'][m]:.4f}  (v{e['production_version']}; gain {gp['point']:+.1%} [{gp['low']:+.1%}, {gp['high']:+.1%}])")
    else:
        print("production    none yet")
    print(f"gate          {'PROMOTED' if d['promote'] else 'NOT PROMOTED'}: {d['reason']}")
    print(f"artifact      sha256 {d['artifact_sha256']}")
    from runway.governance.decision_log import location

    print(f"workspace     {settings.use_case_path()} (raw/, quarantine/, predictions/, reports/); decisions in {location(settings)}")
    print(f"decision log  python run.py decisions --env {settings.environment.name}")
    print(f"dashboard     {runtime.dashboard_hint(settings)}")


def _date(value: str, flag: str):
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag}: not a date (YYYY-MM-DD): {value!r}") from None


def cmd_infer(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from pipelines.batch_inference import run_batch_inference

    out = run_batch_inference(settings, _date(args.week, "--week"))
    s = out["summary"]
    print(f"batch {out['batch']}: {s['rows']} rows, served by {s['served_by']}; written to {s['written_to']}")
    for r in s["reasons"]:
        print(f"  fallback: {r}")
    return 0


def cmd_monitor(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from pipelines.loop import pending_monitoring
    from pipelines.monitoring import run_monitoring
    from pipelines.training import run_training

    weeks = [_date(w, "--weeks") for w in args.weeks] if args.weeks else pending_monitoring(settings)
    if not weeks:
        print("nothing to monitor: every scored week is monitored or its labels are not due yet")
        return 0
    for week in weeks:
        out = run_monitoring(settings, [week], on_demand=args.retrain)
        _print_monitoring(settings, out)
        if out["decision"]["retrain"]["retrain"]:
            _print_training_summary(settings, run_training(settings))
    return 0


def _print_monitoring(settings: Settings, out: dict) -> None:
    a, d = out["assessment"], out["decision"]
    perf = a.get("performance")
    print(f"\n=== monitoring {out['window']} ===")
    print(f"input drift   {a['input_drift']}  drifted: {', '.join(a['drifted_features']) or 'none'}")
    if a["schema_changes"]:
        print(f"schema        {'; '.join(a['schema_changes'])}")
    print(f"output drift  {a['output_drift']}")
    live = ", ".join(f"{k} {v:.3f}" for k, v in (perf or {}).items() if k != "rows" and isinstance(v, (int, float)))
    print(f"labels        {a['label_completeness']:.0%} complete" + (f"; live {live}" if perf else "; performance not judged yet"))
    if a.get("kpi"):
        from runway.plugins import load_plugin

        plugin, k = load_plugin(settings), a["kpi"]
        shown = plugin.hook("KPI_HEADLINE") if plugin.has("KPI_HEADLINE") else [c for c, v in k.items() if isinstance(v, (int, float))][:3]
        print("KPI           " + ", ".join(f"{c} {k[c]:,.0f}" for c in shown if isinstance(k.get(c), (int, float))))
    print(f"served by     {a['served_by']}")
    if a.get("review_queue"):
        q = a["review_queue"]
        print(f"review queue  {q['total']} row(s) for human review (" + ", ".join(f"{b}: {n}" for b, n in q["queued"].items()) + ")")
    shown = 5
    print(
        f"alerts        {len(d['alerts'])}"
        + "".join(f"\n  - {x['message']}" for x in d["alerts"][:shown])
        + (f"\n  ... and {len(d['alerts']) - shown} more in the report" if len(d["alerts"]) > shown else "")
    )
    print(f"retraining    {'YES' if d['retrain']['retrain'] else 'no'}: {'; '.join(d['retrain']['reasons'])}")
    if d.get("rollback"):
        print(f"rollback      to v{d['rollback']['version']}: {d['rollback']['reason']}")
    print(f"report        {out['report']}")


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from runway.governance import registry

    rec = registry.rollback(settings, settings.model.name, args.to_version)
    print(f"{settings.model.name}: production is now v{rec['version']} (was v{rec['previous_production']}); sha256 {rec['artifact_sha256']}")
    return 0


def cmd_all(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.loop import resolve_scenario

    resolve_scenario(settings, args.scenario)  # a typo fails before ZenML starts
    _boot(settings)
    from pipelines.loop import run_loop

    out = run_loop(settings, args.scenario, args.weeks)
    _print_training_summary(settings, out["training"])
    print("\n=== batch inference ===")
    for inf in out["inference"]:
        s = inf["summary"]
        print(f"batch {inf['batch']}: {s['rows']} rows served by {s['served_by']} -> {s['written_to']}")
    for m in out["monitoring"]:
        _print_monitoring(settings, m)
    for r in out["retraining"]:
        print(f"\n=== retraining (triggered by monitoring of {r['window']}) ===")
        _print_training_summary(settings, r)
    print("\n=== the loop in one line per decision ===")
    from runway.governance.registry import decision_log

    for e in decision_log(settings).entries():
        print(f"  v{e.get('version')}: {e.get('action'):10s} {e.get('reason')}")
    print(f"\nreport: {out['monitoring'][-1]['report']}")
    return 0


def cmd_compile(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from pipelines.compile import compile_all

    out = compile_all(settings, args.stack, Path(args.out).resolve())
    for name, path in out.items():
        print(f"{name:18s} -> {path}")
    return 0


def cmd_remote(settings: Settings, args: argparse.Namespace, pipeline: str) -> int:
    """Run one pipeline on the Kubeflow or Kubernetes stack (preflight first)."""
    _boot(settings)
    from pipelines.dispatch import run_on_stack

    params: dict = {}
    if pipeline == "training" and getattr(args, "batches", None):
        params["batches"] = args.batches
    if pipeline == "batch_inference":
        params["batch"] = _date(args.week, "--week")
    if pipeline == "monitoring":
        if not args.weeks:
            raise ValueError("--weeks is required with --stack (the remote run cannot see this machine's predictions folder)")
        params["weeks"] = [_date(w, "--weeks") for w in args.weeks]
    result = run_on_stack(settings, args.stack, pipeline, **params)
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.port is not None and not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    _boot(settings)
    from runway.serving.app import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_decisions(settings: Settings, args: argparse.Namespace) -> int:
    from runway.governance.decision_log import open_log

    log = open_log(settings)
    if args.verify:
        problems = log.verify()
        print(f"decision log intact: {len(log.entries())} entries, every MAC and the head record verify" if not problems else "\n".join(problems))
        return 0 if not problems else EXIT_FAILED
    entries = log.entries()
    if not entries:
        print(f"no decisions yet in {log.where}")
    for e in entries:
        if args.json:
            print(json.dumps(e, sort_keys=True))
        else:
            print(f"{e['time'][:19]}  {e.get('model')} v{e.get('version')}  {e.get('action'):9s} sha {str(e.get('artifact_sha256'))[:12]}  {e.get('reason')}")
    return 0


def cmd_lineage(settings: Settings, args: argparse.Namespace) -> int:
    from runway.governance import lineage, model_card
    from runway.governance.decision_log import open_log

    version = args.version.removeprefix("v")
    doc = lineage.version_lineage(open_log(settings).verified_entries(), args.model, version)
    print(json.dumps(doc, indent=2, sort_keys=True) if args.json else lineage.format_text(doc))
    if args.card:
        _, path = model_card.write(settings, doc)
        print(f"model card    {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def cmd_registry(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from runway.governance import registry

    name = settings.model.name
    if args.action == "list":
        versions = registry.list_versions(name)
        if not versions:
            print(f"no versions of {name} yet")
        for v in versions:
            print(f"{name} v{v.version:>4}  stage {v.stage or '-'!s:10s} sha {str(v.artifact_sha256)[:12]}")
        return 0
    if args.repair:
        actions = registry.reconcile(settings, name, repair=True)
        print("\n".join(actions) if actions else "ok: one production version at most, and it is the one the decision log promoted")
        return 0
    registry.reconcile(settings, name, repair=False)  # raises on two production versions or one the log never promoted
    prod = registry.production(name)
    print(f"ok: production is {'v' + prod.version if prod else 'none'}, as the decision log says")
    return 0


def cmd_approve(settings: Settings, args: argparse.Namespace) -> int:
    _boot(settings)
    from runway.governance import approvals

    if args.command == "approve":
        rec = approvals.approve(settings, args.model, args.version, args.reason)
        was = rec["previous_production"] or "none"
        print(f"{args.model} v{rec['version']}: approved by {rec['approved_by']}, now production (was {was}); sha256 {rec['artifact_sha256']}")
    else:
        rec = approvals.reject(settings, args.model, args.version, args.reason)
        print(f"{args.model} v{rec['version']}: rejected by {rec['rejected_by']}, archived")
    return 0


def _spec(use_case: str, env: str, workspace: str | None) -> dict:
    """How the other process loads an environment's settings (paths made absolute)."""

    def absolute(name: str) -> str:
        return str(Path(name).resolve()) if name.endswith((".yaml", ".yml")) else name

    overrides = {"environment": {"workspace": str(Path(workspace).resolve())}} if workspace else None
    return {"use_case": absolute(use_case), "env": absolute(env), "overrides": overrides}


def cmd_promote_env(settings: Settings, args: argparse.Namespace) -> int:
    from runway.governance.decision_log import log_key
    from runway.governance.promote_env import check_distinct, promote_env, settings_from_spec

    dst_spec = _spec(args.config, args.to_env, args.to_workspace)
    dst = settings_from_spec(dst_spec)
    log_key(dst.environment.name, dst.workspace)  # the target's key too, before anything moves
    check_distinct(settings, dst)
    _boot(settings)
    from runway.governance import approvals

    out = promote_env(settings, _spec(args.config, args.from_env, args.workspace), dst_spec, args.model, args.version, approvals.identity())
    tv = out["target_version"]
    landed = f"awaiting approval there (run.py approve --env {out['to']} {out['model']} {tv} --reason ...)" if out["awaiting_approval"] else "production there"
    print(f"{out['model']} v{out['version']} ({out['from']}) -> v{tv} ({out['to']}), stage {out['stage']}, {landed}")
    print(f"sha256 {out['artifact_sha256']} (re-verified against {out['from']}'s decision log); {out['lineage_entries']} lineage entries carried")
    return 0


EXIT_PARTIAL = 3


def _fleet_registry(settings: Settings, args: argparse.Namespace) -> int:
    """`fleet registry [--tenants]` and `fleet rollback TENANT [--to VERSION]`."""
    from runway.fleet import tenants as tenants_lib

    if args.action == "rollback":
        if not args.tenant:
            raise ConfigError("fleet rollback needs the tenant: python run.py fleet rollback TENANT [--to VERSION]")
        if args.tenant != tenants_lib.POOLED and args.tenant not in tenants_lib.discover(settings):
            raise ConfigError(f"fleet rollback: '{args.tenant}' is not a tenant of use case '{settings.use_case}'")
        _boot(settings)
        from runway.governance import fleet_registry

        rec = fleet_registry.rollback(settings, args.tenant, args.to_version)
        was = rec["previous_production"]
        print(f"{rec['model']} (tenant {args.tenant}): production is now v{rec['version']} (was v{was}); sha256 {rec['artifact_sha256']}")
        return 0
    wanted = tenants_lib.select(tenants_lib.discover(settings), args.tenants) if args.tenants else None
    _boot(settings)
    from runway.governance import fleet_registry

    rows = fleet_registry.registry_rows(settings, wanted)
    m = settings.evaluation.primary_metric
    head = f"{'tenant':10s} {'model':36s} {'version':>7s} {'stage':10s} {m:>8s} {'baseline':>8s} {'holdout end':11s}"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        val, base = r.get(m), r.get(f"baseline_{m}")
        print(
            f"{r['tenant']:10s} {r['model'][:36]:36s} {r['version']:>7s} {r['stage']!s:10s} "
            f"{'-' if val is None else f'{val:.4f}':>8s} {'-' if base is None else f'{base:.4f}':>8s} {str(r.get('holdout_end') or '-')[:10]:11s}"
        )
    if not rows:
        print("(no production or staging fleet versions" + (" for the selected tenants)" if wanted is not None else "; run `python run.py fleet train`)"))
    return 0


def cmd_fleet(settings: Settings, args: argparse.Namespace) -> int:
    """Per-tenant training, inference and monitoring; exit 3 when some tenants failed."""
    from runway.fleet import progress
    from runway.fleet import report as report_lib
    from runway.fleet import tenants as tenants_lib

    tenants_lib.config(settings)  # a use case without tenants fails before ZenML starts
    batches: list[str] = []
    if args.action == "all":
        from runway.fleet.simulate import ensure_fleet_data

        wrote, starts = ensure_fleet_data(settings, args.weeks)
        if wrote:
            print(f"fleet history written under {settings.raw_dir}")
        batches = [d.isoformat() for d in starts]
    if args.action in ("registry", "rollback"):
        return _fleet_registry(settings, args)
    selected = tenants_lib.select(tenants_lib.discover(settings), args.tenants)
    if args.action == "report":
        print(report_lib.table(settings))
        print(f"\nHTML: {report_lib.write_fleet_report(settings)[1]}")
        return 0
    _boot(settings)
    from pipelines.fleet import retrain_flagged, run_fleet_inference, run_fleet_monitoring, run_fleet_training
    from pipelines.loop import scoring_batches_fleet

    failed: dict[str, str] = {}
    if args.batch:
        batches = [_date(args.batch, "--batch").isoformat()]
    elif not batches and args.action in ("infer", "monitor"):
        found = scoring_batches_fleet(settings, selected)
        batches = found[-1:] if found else []
    if args.action in ("train", "all"):
        as_of = f"{batches[0]}T00:00:00+00:00" if batches and args.action == "all" else None
        progress.start(len(selected), "fleet train")
        try:
            out = run_fleet_training(settings, selected, as_of=as_of)
        finally:
            progress.stop()
        c = out["counts"]
        print(f"\n=== fleet training: {len(selected)} tenants in {out['seconds']} s ({out['chunks']} chunk(s), run {out['run']}) ===")
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        if c.get("awaiting_approval"):
            print(f"  awaiting approval: python run.py approve {settings.model.name}-<tenant> VERSION --reason ... (fleet registry lists them)")
        if out.get("pooled"):
            p = out["pooled"]
            print(f"  pooled model {p['model']} v{p['version']} -> {p['stage']}: {p['reason'][:160]}")
        failed.update(out["failed"])

    def infer(b: str) -> None:
        progress.start(len(selected), f"fleet infer {b}")
        try:
            inf = run_fleet_inference(settings, selected, b)
        finally:
            progress.stop()
        print(f"\n=== fleet inference {b}: {inf['rows']} rows, served by {inf.get('served_by', {})} -> {inf.get('written_to', '-')} ===")
        failed.update({t: f"infer {b}: {r}" for t, r in inf["failed"].items() if t not in failed})

    def monitor(b: str) -> dict:
        progress.start(len(selected), f"fleet monitor {b}")
        try:
            mon = run_fleet_monitoring(settings, selected, b)
        finally:
            progress.stop()
        n_alerts = sum(len(v["alerts"]) for v in mon["tenants"].values())
        print(f"\n=== fleet monitoring {b}: {len(mon['tenants'])} tenants, {n_alerts} alert(s); report {mon.get('report')} ===")
        failed.update({t: f"monitor {b}: {r}" for t, r in mon["failed"].items() if t not in failed})
        return mon

    if args.action == "all":
        # Batch by batch, as a schedule would: score, monitor, then retrain the
        # tenants whose monitoring decided so before the next batch is scored.
        for b in batches:
            infer(b)
            mon = monitor(b)
            flagged = sorted(t for t, row in mon["tenants"].items() if row.get("retrain"))
            if not flagged:
                continue
            progress.start(len(flagged), f"fleet retrain after {b}")
            try:
                re = retrain_flagged(settings, mon)
            finally:
                progress.stop()
            if re is not None:
                c = re["counts"]
                print(f"\n=== fleet retraining after {b}: {len(flagged)} tenant(s) in {re['seconds']} s ===")
                print("  " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
                failed.update({t: f"retrain after {b}: {r}" for t, r in re["failed"].items() if t not in failed})
    else:
        for b in batches if args.action == "infer" else []:
            infer(b)
        for b in batches if args.action == "monitor" else []:
            monitor(b)
    print("\n" + report_lib.table(settings))
    if failed:
        print(f"\n{len(failed)} tenant(s) failed:", file=sys.stderr)
        for t, r in sorted(failed.items()):
            print(f"  {t}: {r[:300]}", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _explain(exc: Exception, command: str) -> str:
    from runway.errors import describe

    if "zenml" in sys.modules and command in ("all", "train", "infer", "monitor") and "Pipeline run has failed" in str(exc):
        from pipelines.dispatch import pipeline_name
        from pipelines.runs import failed_step_message

        return failed_step_message(pipeline_name("train" if command == "all" else command)) or describe(exc)
    return describe(exc)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr, arg-type]  # noqa: SLF001 - argparse has no public list of sub-commands
    if not any(a in commands for a in argv) and not any(a in ("-h", "--help") for a in argv):
        argv = ["all", *argv]  # bare `run.py [--scenario X]` is the `all` command
    args = parser.parse_args(argv)
    command = args.command
    if command == "promote-env":
        args.env = args.from_env  # the source environment is the one this process runs in
    try:
        settings = _settings(args)
        from runway.governance.decision_log import log_key

        log_key(settings.environment.name, settings.workspace)  # non-local without the key: one clear line, before anything runs
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            raise
        from runway.errors import describe

        print(f"error: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    remote = {"train": "training", "infer": "batch_inference", "monitor": "monitoring"}
    if args.stack != "local" and command not in (*remote, "compile"):
        print(f"error: --stack {args.stack} works with: {', '.join((*remote, 'compile'))}; `{command}` runs locally", file=sys.stderr)
        return EXIT_USAGE
    if command == "compile" and args.stack == "local":
        print("error: compile needs --stack kubeflow or --stack kubernetes", file=sys.stderr)
        return EXIT_USAGE
    try:
        if command == "compile":
            return cmd_compile(settings, args)
        if args.stack != "local":
            return cmd_remote(settings, args, remote[command])
        if command == "simulate":
            return cmd_simulate(settings, args)
        if command == "decisions":
            return cmd_decisions(settings, args)
        if command == "registry":
            return cmd_registry(settings, args)
        if command == "lineage":
            return cmd_lineage(settings, args)
        if command == "train":
            _print_training_summary(settings, cmd_train(settings, args))
            return 0
        handlers = {"all": cmd_all, "infer": cmd_infer, "monitor": cmd_monitor, "rollback": cmd_rollback, "serve": cmd_serve, "fleet": cmd_fleet}
        handlers |= {"approve": cmd_approve, "reject": cmd_approve, "promote-env": cmd_promote_env}
        if command in handlers:
            return handlers[command](settings, args)
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {_explain(exc, command)}", file=sys.stderr)
        print("(run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        from runway.platform import runtime

        runtime.stop_server()
    print(f"error: unknown command {command}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
