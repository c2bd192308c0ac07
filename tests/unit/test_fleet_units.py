"""Fleet pieces without ZenML: selectors, chunks, overrides, the batched decision log, the progress bar."""

from __future__ import annotations

import io

import pytest

from runway.config import load_settings
from runway.fleet import tenants as tenants_lib
from runway.fleet.progress import Progress
from runway.governance.decision_log import DecisionLog

pytestmark = pytest.mark.unit

IDS = [f"t{k:04d}" for k in range(12)]


def test_selectors() -> None:
    assert tenants_lib.select(IDS, None) == IDS
    assert tenants_lib.select(IDS, "t000*") == IDS[:10]
    assert tenants_lib.select(IDS, "t0011,t0001") == ["t0001", "t0011"]
    assert tenants_lib.select(IDS, "first:3") == IDS[:3]
    with pytest.raises(tenants_lib.TenantError, match="matches no tenant"):
        tenants_lib.select(IDS, "x*")


def test_chunks_are_even_and_bounded() -> None:
    chunks = tenants_lib.chunks([str(i) for i in range(1000)], 100)
    assert len(chunks) == 10 and {len(c) for c in chunks} == {100}
    assert [len(c) for c in tenants_lib.chunks([str(i) for i in range(101)], 100)] == [51, 50]


def test_overrides_change_only_that_tenant(tmp_path) -> None:
    s = load_settings(
        "retail_fleet",
        "local",
        {
            "tenants": {"overrides": {"t0003": {"min_improvement_vs_production": 0.2, "webhook_url": "https://hooks.example.com/x"}}},
            "environment": {"workspace": str(tmp_path)},
        },
    )
    t3, t4 = tenants_lib.tenant_settings(s, "t0003"), tenants_lib.tenant_settings(s, "t0004")
    assert t3.promotion.min_improvement_vs_production == 0.2 and t3.monitoring.alerts.webhook_url == "https://hooks.example.com/x"
    assert t4.promotion == s.promotion and t4.monitoring.alerts.webhook_url is None
    assert tenants_lib.model_name(s, "t0003") == f"{s.model.name}-t0003"


def test_source_column_needs_the_tenant_column_in_the_contract(tmp_path) -> None:
    from runway.config import ConfigError

    with pytest.raises(ConfigError, match="tenants.tenant_column"):
        load_settings("retail_fleet", "local", {"tenants": {"source": "column"}, "environment": {"workspace": str(tmp_path)}})


def test_append_many_keeps_the_signed_chain(tmp_path) -> None:
    key = b"k" * 32
    log = DecisionLog(tmp_path / "decisions.jsonl", key)
    log.append({"model": "m-a", "version": "1", "action": "promote", "artifact_sha256": "aa"})
    log.append_many([{"model": f"m-{t}", "tenant": t, "version": "1", "action": "promote", "artifact_sha256": t * 2} for t in "bcd"])
    log.append({"model": "m-e", "version": "1", "action": "reject"})
    assert log.verify() == []
    assert log.promoted_index() == {("m-a", "1"): "aa", ("m-b", "1"): "bb", ("m-c", "1"): "cc", ("m-d", "1"): "dd"}
    # A batch appended with another key does not verify, and nothing is served from it.
    assert DecisionLog(tmp_path / "decisions.jsonl", b"x" * 32).verify() != []
    with pytest.raises(Exception, match="does not verify"):
        DecisionLog(tmp_path / "decisions.jsonl", b"x" * 32).append_many([{"model": "m-f", "action": "promote"}])


def test_progress_line_counts_and_eta() -> None:
    out = io.StringIO()
    p = Progress(4, "fleet train", stream=out)
    p.update(done=1)
    p.update(failed=1)
    line = p.line()
    assert "2/4" in line and "done 1 failed 1 remaining 2" in line and "ETA" in line


def _fleet_state(tmp_path, use_case: str, kpi: dict) -> object:
    import json

    s = load_settings(use_case, "local", {"environment": {"workspace": str(tmp_path)}})
    p = tenants_lib.fleet_path(s, "state.json")
    p.parent.mkdir(parents=True)
    row = {"tenant": "t0000", "window": "2025-01-06", "drift": "ok", "live": 0.3, "holdout": 0.25, "fallback_share": 0.0, "staleness_days": 7}
    p.write_text(json.dumps({"t0000": {**row, "kpi": kpi, "alerts": [], "report": ""}}))
    return s


def test_fleet_report_kpi_is_the_plugins_headline(tmp_path) -> None:
    from runway.fleet import report as report_lib

    s = _fleet_state(tmp_path, "retail_fleet", {"total_cost": 1234.0, "lost_sales": 99.0})
    assert report_lib.kpi_headline(s) == "total_cost"
    table = report_lib.table(s)
    assert "total_cos" in table.splitlines()[0] and "1,234" in table
    assert "<th>KPI total cost</th>" in report_lib.render(s)
    # Another plug-in's headline names another column: the core does not assume one.
    c = _fleet_state(tmp_path / "c", "churn", {"net_value": 5678.0, "total_cost": 1.0})
    assert report_lib.kpi_headline(c) == "net_value"
    assert "5,678" in report_lib.table(c) and "<th>KPI net value</th>" in report_lib.render(c)


def test_merge_tables_updates_only_the_subsets_tenants(tmp_path) -> None:
    import pandas as pd

    from runway.fleet import features as features_lib

    s = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path)}})
    fs = features_lib.fleet_settings(s)
    ts = pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True)
    keyed = pd.DataFrame({"tenant": ["a", "a", "b", "b"], "store_id": "1", "item_id": "1", "event_timestamp": list(ts) * 2, "x": [1.0, 2.0, 3.0, 4.0]})
    cal = pd.DataFrame({"event_timestamp": ts, "day_of_week": [2, 3]})
    keyed.to_parquet(tmp_path / "sales_history.parquet")
    cal.to_parquet(tmp_path / "calendar.parquet")
    new_b = pd.DataFrame({"tenant": ["b"], "store_id": "1", "item_id": "1", "event_timestamp": [ts[0]], "x": [30.0]})
    new_cal = pd.DataFrame({"event_timestamp": pd.to_datetime(["2025-01-02", "2025-01-03"], utc=True), "day_of_week": [3, 4]})
    out = features_lib.merge_tables(fs, {"sales_history": new_b, "calendar": new_cal}, tmp_path, "tenant")
    sales = out["sales_history"].sort_values(["tenant", "event_timestamp"])
    assert sales["tenant"].tolist() == ["a", "a", "b"] and sales["x"].tolist() == [1.0, 2.0, 30.0]  # a kept, b replaced
    assert out["calendar"]["day_of_week"].tolist() == [2, 3, 4]  # shared: kept and extended, no duplicate date
    # The whole fleet recomputed: the new table as is.
    whole = features_lib.merge_tables(fs, {"sales_history": keyed.assign(x=0.0)}, tmp_path, "tenant")
    assert whole["sales_history"]["x"].tolist() == [0.0] * 4


def test_cold_start_is_judged_in_the_splits_units(tmp_path) -> None:
    import numpy as np
    import pandas as pd

    from runway.fleet.work import cold_start_reason

    def frame(s, periods: int, freq: str) -> pd.DataFrame:
        ts = pd.date_range("2024-01-01", periods=periods, freq=freq, tz="UTC")
        return pd.DataFrame({s.timestamp: ts, s.target: np.ones(periods)})

    retail = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path)}})
    # Daily: 35 warm-up + 28 holdout + 56 training days = 119.
    assert cold_start_reason(frame(retail, 119, "D"), retail) is None
    assert "55 training days" in (cold_start_reason(frame(retail, 118, "D"), retail) or "")
    assert "min_history_days 200" in (cold_start_reason(frame(retail, 119, "D"), retail, 200) or "")
    # Weekly snapshots (churn): 84 warm-up + 56 holdout days + 20 training dates, i.e. 40 weeks,
    # not "160 labelled days" (that counted 36 weekly dates as too few).
    churn = load_settings("churn_fleet", "local", {"environment": {"workspace": str(tmp_path / "c")}})
    assert cold_start_reason(frame(churn, 40, "7D"), churn) is None
    assert cold_start_reason(frame(churn, 30, "7D"), churn) is not None
    assert "none after" in (cold_start_reason(frame(churn, 10, "7D"), churn) or "")


def test_fleet_rollback_cli_refuses_in_one_line_before_zenml(tmp_path, capsys) -> None:
    import run

    base = ["fleet", "rollback", "--config", "retail_fleet", "--workspace", str(tmp_path)]
    assert run.main(base) == run.EXIT_FAILED
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: fleet rollback needs the tenant: python run.py fleet rollback TENANT [--to VERSION]"
    (tmp_path / "retail_fleet" / "raw" / "t0000" / "sales").mkdir(parents=True)
    assert run.main([*base[:2], "t9999", *base[2:]]) == run.EXIT_FAILED
    assert "'t9999' is not a tenant of use case 'retail_fleet'" in capsys.readouterr().err


def test_fleet_gate_outcome_awaits_approval_where_the_environment_requires_it(tmp_path) -> None:
    from runway.evaluation.gate import Check, Decision
    from runway.fleet.training import gate_outcome
    from runway.governance.approvals import _tenant_fields

    plain = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path)}})
    signed = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path), "approval": {"required": True, "approvers": ["bob"]}}})
    passed = Decision(True, "all checks passed", [Check("beats_baseline", True, "")])
    shadow = Decision(False, "beats_production failed", [Check("beats_baseline", True, ""), Check("beats_production", False, "")])
    worse = Decision(False, "beats_baseline failed", [Check("beats_baseline", False, "")])
    assert gate_outcome(plain, passed) == ("production", "promote")
    assert gate_outcome(signed, passed) == ("staging", "await_approval")
    assert gate_outcome(signed, shadow) == gate_outcome(plain, shadow) == ("staging", "reject")
    assert gate_outcome(signed, worse) == ("archived", "reject")
    # approve carries the tenant so the fleet's serving index follows; a single model gets nothing extra
    pending = {"model": "m-t1", "version": "2", "action": "await_approval", "tenant": "t1", "use_case": "retail_fleet"}
    assert _tenant_fields(pending, serving="own") == {"tenant": "t1", "use_case": "retail_fleet", "serving": "own", "stage": "production"}
    assert _tenant_fields(pending) == {"tenant": "t1", "use_case": "retail_fleet"}
    assert _tenant_fields({"model": "m", "version": "1"}, serving="own") == {}


def test_fleet_retraining_honours_the_cooldown_per_tenant(tmp_path) -> None:
    from runway.fleet.monitor import retraining_decision
    from runway.monitoring.alerts import Alert

    s = load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path)}})
    assert s.monitoring.retraining.cooldown_windows == 1
    log = DecisionLog(tmp_path / "decisions.jsonl", b"k" * 32)
    a, b = tenants_lib.model_name(s, "t0000"), tenants_lib.model_name(s, "t0001")
    # last window: both tenants monitored, only t0000 retrained (then its gate ran)
    log.append_many(
        [
            {"model": a, "tenant": "t0000", "action": "no_retrain", "window": "2024-01-01"},
            {"model": b, "tenant": "t0001", "action": "no_retrain", "window": "2024-01-01"},
            {"model": a, "tenant": "t0000", "action": "retrain", "window": "2024-01-08"},
            {"model": b, "tenant": "t0001", "action": "no_retrain", "window": "2024-01-08"},
            {"model": a, "tenant": "t0000", "version": "2", "action": "promote"},
        ]
    )
    since = log.windows_since_retrain_by_model()
    assert since == {a: 0} and log.windows_since_retrain(b) is None
    for model in (a, b):
        assert since.get(model) == log.windows_since_retrain(model)
    alert = Alert("2024-01-15", "price", "drift", "alert", 2, 3, 0.4, 0.25, "", tenant="x")
    cooling = retraining_decision(s, [alert], live=None, reference=None, completeness=0.0, windows_since_retrain=since.get(a))
    other = retraining_decision(s, [alert], live=None, reference=None, completeness=0.0, windows_since_retrain=since.get(b))
    assert not cooling.retrain and "cooldown" in " ".join(cooling.reasons)
    assert other.retrain and other.triggers == ["drift"]
    # one monitored window later the cooldown (1 window) is over
    log.append({"model": a, "tenant": "t0000", "action": "no_retrain", "window": "2024-01-15"})
    after = retraining_decision(s, [alert], live=None, reference=None, completeness=0.0, windows_since_retrain=log.windows_since_retrain_by_model().get(a))
    assert after.retrain


def _merge_tenants_one_by_one(workspace: str, tenants: list[str], start=None) -> None:
    import pandas as pd

    from runway.fleet import features as features_lib

    fs = features_lib.fleet_settings(load_settings("retail_fleet", "local", {"environment": {"workspace": workspace}}))
    if start is not None:
        start.wait(60)  # both processes ready: their merges overlap
    for t in tenants:
        row = pd.DataFrame({"tenant": [t], "store_id": "1", "item_id": "1", "event_timestamp": pd.to_datetime(["2025-01-01"], utc=True), "x": [1.0]})
        features_lib.write_merged(fs, {"sales_history": row}, "tenant")


def test_concurrent_subset_merges_keep_each_others_rows(tmp_path) -> None:
    import multiprocessing as mp

    import pandas as pd

    from runway.features import store as fs_lib
    from runway.fleet import features as features_lib

    _merge_tenants_one_by_one(str(tmp_path), ["seed"])  # the table exists: every later write is a read-merge-write
    subsets = [[f"a{k:02d}" for k in range(30)], [f"b{k:02d}" for k in range(30)]]
    ctx = mp.get_context("fork")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_merge_tenants_one_by_one, args=(str(tmp_path), sub, start)) for sub in subsets]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    fs = features_lib.fleet_settings(load_settings("retail_fleet", "local", {"environment": {"workspace": str(tmp_path)}}))
    got = pd.read_parquet(fs_lib.feature_data_dir(fs) / "sales_history.parquet")["tenant"]
    assert sorted(got) == sorted(["seed", *subsets[0], *subsets[1]])


def test_a_tenants_lineage_rebuilds_its_own_settings_from_the_log(tmp_path) -> None:
    """`run.py lineage <model>-<tenant> V` and verify: the tenant's effective
    config (its overrides, secrets redacted) is in its entry and hashes to the logged sha256."""
    import json

    from runway.fleet import lineage as fleet_lineage
    from runway.governance import lineage as lineage_lib
    from runway.governance.reproduce import settings_from_lineage

    hook = "https://hooks.example.com/services/canary-hook-3f9a"
    s = load_settings(
        "retail_fleet",
        "local",
        {
            "tenants": {"overrides": {"t0003": {"min_improvement_vs_production": 0.2, "webhook_url": hook}}},
            "environment": {"workspace": str(tmp_path)},
        },
    )
    log = DecisionLog(tmp_path / "decisions.jsonl", b"k" * 32)
    evaluation = {"training": {"start": "2024-01-01", "end": "2024-06-01", "rows": 100}, "holdout": ["2024-06-02", "2024-07-01"], "rows": 20}
    code = {"commit": "abc", "dirty": False}
    fleet_config = lineage_lib.resolved_config(s)
    for t in ("t0003", "t0004"):
        ts = tenants_lib.tenant_settings(s, t)
        record = fleet_lineage.tenant_lineage(ts, t, evaluation, features=["f1"], as_of=None, run={"id": "r1"}, code=code)
        if ts is s:  # the chunk's shortcut: the fleet's config resolved once is the same record
            assert fleet_lineage.tenant_lineage(ts, t, evaluation, features=["f1"], as_of=None, run={"id": "r1"}, code=code, config=fleet_config) == record
        log.append({"model": tenants_lib.model_name(s, t), "version": "1", "action": "promote", "reason": "ok", "tenant": t, "lineage": record})
    assert hook not in (tmp_path / "decisions.jsonl").read_text()
    docs = {t: lineage_lib.version_lineage(log.verified_entries(), tenants_lib.model_name(s, t), "1") for t in ("t0003", "t0004")}
    t3, t4 = (settings_from_lineage(docs[t], s) for t in ("t0003", "t0004"))
    assert t3.promotion.min_improvement_vs_production == 0.2 and t3.monitoring.alerts.webhook_url == lineage_lib.REDACTED
    assert t4.promotion == s.promotion and t4.monitoring.alerts.webhook_url is None and docs["t0004"]["config"]["resolved"] == fleet_config
    assert docs["t0003"]["config"]["sha256"] != docs["t0004"]["config"]["sha256"]
    tampered = json.loads(json.dumps(docs["t0003"]))
    tampered["config"]["resolved"]["promotion"]["min_improvement_vs_production"] = 0.0
    with pytest.raises(lineage_lib.LineageError, match="does not hash"):
        lineage_lib.verify_config(tampered)


def test_a_fleet_versions_packed_facts_read_as_top_level_metadata() -> None:
    from runway.governance.registry import FLEET_FACTS_KEY, FLEET_URI_KEY, SHA_KEY, flat_metadata

    packed = {"wape": 0.2, FLEET_FACTS_KEY: {SHA_KEY: "ab" * 32, FLEET_URI_KEY: "/store/m", "wape": 0.9, "holdout_end": "2024-06-01"}}
    flat = flat_metadata(packed)
    assert flat[SHA_KEY] == "ab" * 32 and flat[FLEET_URI_KEY] == "/store/m" and flat["holdout_end"] == "2024-06-01"
    assert flat["wape"] == 0.2  # a key of its own wins over a packed one
    single = {SHA_KEY: "cd" * 32, "wape": 0.3}  # a single model's version: as it is
    assert flat_metadata(single) == single and flat_metadata(None) == {}
