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
