"""The Grafana dashboard charts exactly what Runway's code emits.

Every ``runway_*`` name in a panel's query must be a sample the code can emit
(``runway.serving.metrics.emitted_metrics()``: the online service's metrics,
its process metrics and the pipelines' gauges), every label a query selects
or groups by must be one that metric carries, and every metric family the
code defines is charted somewhere (a metric nobody can see is dead code, a
panel on a name nobody emits stays empty forever).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from runway.serving import metrics as metrics_lib

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "infra" / "terraform" / "modules" / "monitoring" / "dashboards" / "runway.json"

# Not Runway's: kube-state-metrics, installed with kube-prometheus-stack.
EXTERNAL = {
    "kube_cronjob_status_last_successful_time": {"namespace", "cronjob"},
    "kube_job_status_failed": {"namespace"},
}
# Emitted but not charted, on purpose.
NOT_CHARTED = {
    "runway_serving_process_virtual_memory_bytes": "resident memory is the one that matters",
    "runway_serving_process_start_time_seconds": "restarts show in kube-state-metrics",
    "runway_serving_process_open_fds": "diagnostics only",
    "runway_serving_process_max_fds": "diagnostics only",
}
PROMQL_WORDS = {"by", "without", "sum", "rate", "increase", "histogram_quantile", "time", "avg", "max", "min", "count", "on", "ignoring", "bool"}
NAME = re.compile(r"\b((?:runway|kube)_[a-z0-9_]+)\b")
SELECTOR = re.compile(r"\b((?:runway|kube)_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def _exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def emitted() -> dict[str, metrics_lib.EmittedMetric]:
    return metrics_lib.emitted_metrics()


def _sample_index(emitted) -> dict[str, metrics_lib.EmittedMetric]:
    return {s: e for e in emitted.values() for s in e.samples}


def test_every_charted_name_is_emitted(emitted) -> None:
    samples = _sample_index(emitted)
    unknown = sorted({(title, n) for title, expr in _exprs() for n in NAME.findall(expr) if n not in samples and n not in EXTERNAL})
    assert not unknown, f"panels query names the code never emits: {unknown}"


def test_every_selected_and_grouped_label_exists(emitted) -> None:
    samples = _sample_index(emitted)
    problems = []
    for title, expr in _exprs():
        names = NAME.findall(expr)
        label_sets = [set(samples[n].labels) if n in samples else EXTERNAL.get(n, set()) for n in names]
        for name, selector in SELECTOR.findall(expr):
            have = set(samples[name].labels) if name in samples else EXTERNAL.get(name, set())
            for label in MATCHER.findall(selector):
                if label not in have:
                    problems.append(f"{title}: {name} has no label '{label}'")
        for group in GROUPING.findall(expr):
            for label in (x.strip() for x in group.split(",") if x.strip()):
                if label in PROMQL_WORDS:
                    continue
                if not any(label in ls for ls in label_sets):
                    problems.append(f"{title}: groups by '{label}', which none of {names} carries")
    assert not problems, "\n".join(problems)


def test_every_runway_query_filters_on_the_environment(emitted) -> None:
    for title, expr in _exprs():
        for name, selector in SELECTOR.findall(expr):
            if name.startswith("runway_"):
                assert 'environment="$environment"' in selector.replace(" ", ""), f"{title}: {name} ignores the environment"


def test_every_emitted_family_is_charted(emitted) -> None:
    charted = {n for _, expr in _exprs() for n in NAME.findall(expr)}
    uncharted = sorted(f for f, e in emitted.items() if f not in NOT_CHARTED and not (e.samples & charted))
    assert not uncharted, f"metrics emitted but on no panel: {uncharted} (chart them or list them in NOT_CHARTED with a reason)"
    assert set(NOT_CHARTED) <= set(emitted)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ProcessCollector reads /proc")
def test_process_metric_names_match_the_collector() -> None:
    from prometheus_client import ProcessCollector

    got = {s.name for f in ProcessCollector(namespace=metrics_lib.PROCESS_NAMESPACE, registry=None).collect() for s in f.samples}
    assert got == set(metrics_lib.PROCESS_METRICS)


def test_a_typo_in_a_panel_would_be_caught(emitted) -> None:
    samples = _sample_index(emitted)
    typo = 'sum(rate(runway_serving_prediction_total{environment="$environment"}[5m]))'
    assert [n for n in NAME.findall(typo) if n not in samples] == ["runway_serving_prediction_total"]
