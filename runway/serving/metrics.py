"""Prometheus metrics: the online service's, and the figures pipelines report.

One naming scheme for everything Runway emits: ``runway_<area>_<what>[_<unit>]``
(``_seconds``, ``_bytes``, ``_total`` for counters), and every sample carries
the labels ``use_case`` and ``environment`` (the environment's name: local,
dev, staging, prod). ``environment`` is also what the Grafana dashboard
(``infra/terraform/modules/monitoring/dashboards/runway.json``) filters on.

* ``ServingMetrics``: the service's metrics, in a ``CollectorRegistry`` of its
  own (one per app, so two apps in one process, or the tests, never share a
  counter). ``GET /metrics`` returns ``exposition()``.
* ``record_pipeline_metrics(settings, pipeline, figures)``: gauges a pipeline
  run reports at its end (success, duration, model metrics, drift, data
  quality, rows), pushed to a Pushgateway when ``RUNWAY_PUSHGATEWAY_URL`` is
  set, else written as a node-exporter style text file
  ``<use case folder>/metrics/<pipeline>.prom``. Only names declared in
  ``PIPELINE_METRICS`` are accepted: a typo fails loudly instead of charting
  nothing.

``emitted_metrics()`` lists every family, sample and label name the code can
emit; the dashboard's contract test checks each panel against it.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest, values
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "runway"
COMMON_LABELS = ("use_case", "environment")
PUSHGATEWAY_ENV = "RUNWAY_PUSHGATEWAY_URL"
PUSH_JOB = "runway"

# Seconds. Dense below 10 ms: the online path's budget is a few milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Endpoints get their own label value; anything else (404s, scanners) is "other".
KNOWN_ENDPOINTS = ("/predict", "/healthz", "/readyz", "/metrics")


def _in_memory_values() -> None:
    """Keep metric values in process memory.

    Importing ``feast.metrics`` (any Feast online read does) sets
    ``PROMETHEUS_MULTIPROC_DIR`` for Feast's pre-forking feature server,
    which switches prometheus_client into multi-process mode for every
    metric created afterwards: values in mmap files keyed by name and labels,
    so two registries of one process would share them. Runway serves one
    process per pod with one registry per app, so its values stay in memory
    (Feast's own metrics are only collected by its feature server, which
    Runway does not run).
    """
    if values.ValueClass is not values.MutexValue:
        values.ValueClass = values.MutexValue


def _labels_of(settings: Any) -> dict[str, str]:
    return {"use_case": str(settings.use_case), "environment": str(settings.environment.name)}


# ------------------------------------------------------------- the service --

# name -> (type, help, labels beyond use_case/environment). The single source
# of the service's metric names: ServingMetrics builds from it, the dashboard
# contract test reads it.
SERVING_METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "runway_serving_request_duration_seconds": (
        "histogram",
        "Time from request received to response sent, per endpoint and HTTP status.",
        ("endpoint", "status"),
    ),
    "runway_serving_feature_lookup_duration_seconds": ("histogram", "Time of one online feature store read (all entities of a request).", ("store", "outcome")),
    "runway_serving_predictions_total": (
        "counter",
        "Rows answered, per fallback level (production, last_known_good, baseline) and source (online, batch).",
        ("level", "source"),
    ),
    "runway_serving_fallback_total": ("counter", "Rows for which a fallback level was skipped, per level and reason.", ("level", "reason")),
    "runway_serving_errors_total": ("counter", "Requests answered with an error (validation, bad_request, internal), per endpoint.", ("endpoint", "kind")),
    "runway_serving_requests_in_flight": ("gauge", "Requests being processed.", ()),
    "runway_serving_model_info": (
        "gauge",
        "1 for each model the service holds, per role (production, last_known_good, canary).",
        ("role", "version", "sha256"),
    ),
    "runway_serving_model_swaps_total": ("counter", "Times the served models changed (promotion, rollback, canary change).", ()),
    "runway_serving_registry_polls_total": ("counter", "Registry polls, per outcome (ok, error).", ("outcome",)),
    "runway_serving_ready": ("gauge", "1 when a model is loaded and the online store answered the last check, else 0.", ()),
    "runway_serving_canary_predictions_total": ("counter", "Rows also scored by the canary (staging) version.", ("version",)),
}
PROCESS_NAMESPACE = "runway_serving"
# What prometheus_client's ProcessCollector emits (Linux), under PROCESS_NAMESPACE.
PROCESS_METRICS: dict[str, str] = {
    f"{PROCESS_NAMESPACE}_process_cpu_seconds_total": "counter",
    f"{PROCESS_NAMESPACE}_process_resident_memory_bytes": "gauge",
    f"{PROCESS_NAMESPACE}_process_virtual_memory_bytes": "gauge",
    f"{PROCESS_NAMESPACE}_process_start_time_seconds": "gauge",
    f"{PROCESS_NAMESPACE}_process_open_fds": "gauge",
    f"{PROCESS_NAMESPACE}_process_max_fds": "gauge",
}


class _Labelled(Collector):
    """Re-emit another collector's samples with constant labels added."""

    def __init__(self, inner: Collector, labels: Mapping[str, str]):
        self._inner = inner
        self._labels = dict(labels)

    def collect(self) -> Iterable[Metric]:
        for family in self._inner.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            for s in family.samples:
                out.add_sample(s.name, {**s.labels, **self._labels}, s.value, s.timestamp, s.exemplar)
            yield out


class ServingMetrics:
    """The online service's metrics, bound to one use case and environment."""

    def __init__(self, use_case: str, environment: str, registry: CollectorRegistry | None = None, process: bool = True):
        _in_memory_values()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.base = {"use_case": use_case, "environment": environment}
        made: dict[str, Any] = {}
        for name, (kind, doc, extra) in SERVING_METRICS.items():
            labels = [*COMMON_LABELS, *extra]
            if kind == "histogram":
                made[name] = Histogram(name, doc, labels, buckets=LATENCY_BUCKETS, registry=self.registry)
            elif kind == "counter":
                # prometheus_client appends _total itself.
                made[name] = Counter(name.removesuffix("_total"), doc, labels, registry=self.registry)
            else:
                made[name] = Gauge(name, doc, labels, registry=self.registry)
        self._m = made
        self._children: dict[tuple[str, ...], Any] = {}
        u, e = use_case, environment
        self.in_flight = made["runway_serving_requests_in_flight"].labels(u, e)
        self.ready = made["runway_serving_ready"].labels(u, e)
        self.swaps = made["runway_serving_model_swaps_total"].labels(u, e)
        self.ready.set(0)
        self.in_flight.set(0)
        if process:
            self.registry.register(_Labelled(ProcessCollector(namespace=PROCESS_NAMESPACE, registry=None), self.base))

    @classmethod
    def for_settings(cls, settings: Any, registry: CollectorRegistry | None = None, process: bool = True) -> ServingMetrics:
        labels = _labels_of(settings)
        return cls(labels["use_case"], labels["environment"], registry, process)

    def _l(self, name: str, *extra: str):
        # The labelled child, cached: ``labels()`` validates and locks on every
        # call (~5 us, three times per request). Label values are bounded
        # (endpoints, statuses, levels, reasons, versions); never cleared.
        key = (name, *extra)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._m[name].labels(self.base["use_case"], self.base["environment"], *extra)
        return child

    # -- what the app calls ------------------------------------------------
    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        ep = endpoint if endpoint in KNOWN_ENDPOINTS else "other"
        self._l("runway_serving_request_duration_seconds", ep, str(status)).observe(seconds)

    def observe_feature_lookup(self, store: str, ok: bool, seconds: float) -> None:
        self._l("runway_serving_feature_lookup_duration_seconds", store, "ok" if ok else "error").observe(seconds)

    def count_predictions(self, level: str, source: str, n: int = 1) -> None:
        if n:
            self._l("runway_serving_predictions_total", level, source).inc(n)

    def count_fallback(self, level: str, reason: str, n: int = 1) -> None:
        if n:
            self._l("runway_serving_fallback_total", level, reason).inc(n)

    def count_error(self, endpoint: str, kind: str) -> None:
        ep = endpoint if endpoint in KNOWN_ENDPOINTS else "other"
        self._l("runway_serving_errors_total", ep, kind).inc()

    def count_poll(self, ok: bool) -> None:
        self._l("runway_serving_registry_polls_total", "ok" if ok else "error").inc()

    def count_canary(self, version: str, n: int) -> None:
        if n:
            self._l("runway_serving_canary_predictions_total", version).inc(n)

    def set_models(self, models: Mapping[str, tuple[str, str | None]]) -> None:
        """``role -> (version, sha256)`` of every model now held; replaces the previous set."""
        info = self._m["runway_serving_model_info"]
        with warnings.catch_warnings():  # see _in_memory_values: the env var Feast sets makes clear() warn
            warnings.simplefilter("ignore", UserWarning)
            info.clear()
        for role, (version, sha) in models.items():
            info.labels(self.base["use_case"], self.base["environment"], role, str(version), (sha or "")[:12]).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# -------------------------------------------------------------- pipelines --


@dataclass(frozen=True)
class PipelineMetric:
    name: str
    help: str
    labels: tuple[str, ...]  # beyond use_case, environment, pipeline


PIPELINE_METRICS: dict[str, PipelineMetric] = {
    m.name: m
    for m in (
        PipelineMetric("runway_pipeline_last_run_success", "1 if the pipeline's last run succeeded, else 0.", ()),
        PipelineMetric("runway_pipeline_last_success_timestamp_seconds", "Unix time of the pipeline's last successful run.", ()),
        PipelineMetric("runway_pipeline_run_duration_seconds", "Duration of the pipeline's last run.", ()),
        PipelineMetric("runway_pipeline_rows", "Rows the last run handled, per stage (ingested, quarantined, scored, ...).", ("stage",)),
        PipelineMetric(
            "runway_pipeline_predictions",
            "Rows per fallback level that served them: the batch the last batch run scored, the window the last monitoring run checked.",
            ("level",),
        ),
        PipelineMetric("runway_model_metric", "A model metric, per model, metric and stage (holdout, production, baseline).", ("model", "metric", "stage")),
        PipelineMetric("runway_drift_share", "Share of features flagged as drifted in the last monitored window (0-1).", ("model",)),
        PipelineMetric("runway_data_quality_violations", "Data quality violations in the last batch, per check.", ("check",)),
        PipelineMetric("runway_drift_psi", "PSI of each numeric feature, reference vs the last monitored window.", ("model", "feature")),
        PipelineMetric("runway_monitoring_alerts", "Alerts the last monitored window raised, per kind (drift, schema, output, ...).", ("model", "kind")),
        PipelineMetric("runway_data_quarantined_rows", "Rows of the files the last ingest of a stream quarantined (0: all admitted).", ("stream",)),
        PipelineMetric("runway_gate_decision", "1 for the promotion gate's last decision (promoted or rejected), 0 for the other.", ("model", "decision")),
    )
}
ALERT_KINDS = ("drift", "schema", "output", "performance")
GATE_DECISIONS = ("promoted", "rejected")
PIPELINE_LABELS = (*COMMON_LABELS, "pipeline")


def _metric_name(key: str) -> PipelineMetric:
    name = key if key.startswith(f"{PREFIX}_") else f"{PREFIX}_{key}"
    if name not in PIPELINE_METRICS:
        raise ValueError(f"unknown pipeline metric {key!r}; declared: {sorted(PIPELINE_METRICS)}")
    return PIPELINE_METRICS[name]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: value {value!r} is not a number") from None
    if math.isnan(v):
        raise ValueError(f"{name}: value is NaN")
    return v


def _samples(metric: PipelineMetric, value: Any) -> list[tuple[dict[str, str], float]]:
    """Normalise the accepted shapes into (extra labels, value) pairs.

    * a number (or bool): the metric has no extra labels;
    * ``{label_value: number}``: the metric has exactly one extra label;
    * ``[(labels, number), ...]`` or ``[{**labels, "value": number}, ...]``.
    """
    want = set(metric.labels)
    if isinstance(value, Mapping):
        if len(metric.labels) != 1:
            raise ValueError(f"{metric.name}: a {{label value: number}} mapping needs exactly one extra label; it has {list(metric.labels)}")
        pairs = [({metric.labels[0]: str(k)}, v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        pairs = []
        for item in value:
            if isinstance(item, Mapping):
                if "value" not in item:
                    raise ValueError(f"{metric.name}: item {dict(item)} has no 'value'")
                pairs.append(({k: v for k, v in item.items() if k != "value"}, item["value"]))
            elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], Mapping):
                pairs.append((dict(item[0]), item[1]))
            else:
                raise ValueError(f"{metric.name}: items must be (labels, value) pairs or dicts with 'value', got {item!r}")
    else:
        if metric.labels:
            raise ValueError(f"{metric.name}: needs labels {list(metric.labels)}; pass [(labels, value), ...]")
        pairs = [({}, value)]
    out = []
    for labels, v in pairs:
        if set(labels) != want:
            raise ValueError(f"{metric.name}: labels {sorted(labels)} given, {sorted(want)} expected")
        out.append(({k: str(labels[k]) for k in metric.labels}, _number(metric.name, v)))
    return out


class _Families(Collector):
    def __init__(self, families: list[Metric]):
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def _use_case_path(settings: Any, *parts: str) -> Path:
    # Newer settings give each use case its own folder; older ones share the workspace.
    if hasattr(settings, "use_case_path"):
        return settings.use_case_path(*parts)
    return settings.workspace_path(*parts)


def pipeline_metrics_path(settings: Any, pipeline: str) -> Path:
    return _use_case_path(settings, "metrics", f"{pipeline}.prom")


def _build_registry(settings: Any, pipeline: str, figures: Mapping[str, Any], now: float) -> tuple[CollectorRegistry, set[str]]:
    base = {**_labels_of(settings), "pipeline": pipeline}
    resolved: dict[str, list[tuple[dict[str, str], float]]] = {}
    for key, value in figures.items():
        metric = _metric_name(key)
        resolved[metric.name] = _samples(metric, value)
    success = resolved.get("runway_pipeline_last_run_success")
    if success and success[0][1] == 1.0 and "runway_pipeline_last_success_timestamp_seconds" not in resolved:
        resolved["runway_pipeline_last_success_timestamp_seconds"] = [({}, now)]
    _in_memory_values()
    reg = CollectorRegistry()
    for name, samples in resolved.items():
        metric = PIPELINE_METRICS[name]
        g = Gauge(name, metric.help, [*PIPELINE_LABELS, *metric.labels], registry=reg)
        for labels, v in samples:
            g.labels(**base, **labels).set(v)
    return reg, set(resolved)


def record_pipeline_metrics(settings: Any, pipeline: str, figures: Mapping[str, Any]) -> str:
    """Report a pipeline run's figures; returns where they went.

    ``figures`` maps metric names (``"runway_pipeline_run_duration_seconds"``
    or without the ``runway_`` prefix) to a number, ``{label value: number}``
    (one extra label) or ``[(labels, number), ...]``; see ``PIPELINE_METRICS``
    for each metric's labels. A successful run (``pipeline_last_run_success``
    = 1) also sets ``pipeline_last_success_timestamp_seconds`` to now unless
    given. Metrics not named keep their previous value (a failed run does not
    erase the last success time).

    With ``RUNWAY_PUSHGATEWAY_URL`` set: pushed (push-add) to job ``runway``
    grouped by use_case, environment and pipeline; if the push fails, the
    text file is written instead and a warning logged (metrics never fail a
    pipeline run). Otherwise: ``<use case folder>/metrics/<pipeline>.prom``,
    written atomically, merged with the previous file.
    """
    if not pipeline or "/" in pipeline or pipeline.startswith("."):
        raise ValueError(f"pipeline name {pipeline!r} is not a plain name")
    reg, names = _build_registry(settings, pipeline, figures, time.time())
    url = os.environ.get(PUSHGATEWAY_ENV, "").strip()
    if url:
        from prometheus_client import pushadd_to_gateway

        grouping = {**_labels_of(settings), "pipeline": pipeline}
        try:
            pushadd_to_gateway(url, job=PUSH_JOB, registry=reg, grouping_key=grouping, timeout=10)
            return f"{url} (job={PUSH_JOB}, {', '.join(f'{k}={v}' for k, v in grouping.items())})"
        except Exception as exc:  # noqa: BLE001 - metrics never fail a pipeline
            logger.warning("could not push metrics of %s to %s (%s); writing the text file instead", pipeline, url, exc)
    path = pipeline_metrics_path(settings, pipeline)
    _write_prom(path, reg, names)
    return str(path)


def _write_prom(path: Path, reg: CollectorRegistry, names: set[str]) -> None:
    from runway.data.io import atomic_write_bytes

    kept: list[Metric] = []
    if path.exists():
        try:
            kept = [f for f in text_string_to_metric_families(path.read_text(encoding="utf-8")) if f.name not in names and f.name in PIPELINE_METRICS]
        except Exception:  # noqa: BLE001 - an unreadable old file is replaced, not fatal
            logger.warning("ignoring unreadable metrics file %s", path)
    if kept:
        reg.register(_Families(kept))
    atomic_write_bytes(path, generate_latest(reg))


# ------------------------------------------- figures of pipeline outputs --
# Built from what the pipelines' steps return, so the run functions stay one
# call: ``record_pipeline_metrics(settings, name, {...} | monitoring_figures(...))``.


def monitoring_figures(model: str, assessment: Mapping[str, Any], decision: Mapping[str, Any]) -> dict[str, Any]:
    """PSI per feature, alerts per kind and served-by counts of a monitoring run
    (the ``assess_window`` and ``alerts_and_triggers`` outputs)."""
    psi = [
        ({"model": model, "feature": str(f["feature"])}, f["psi"])
        for f in (assessment.get("drift") or {}).get("features", [])
        if isinstance(f.get("psi"), (int, float)) and math.isfinite(f["psi"])
    ]
    kinds = dict.fromkeys(ALERT_KINDS, 0)
    for a in decision.get("alerts") or []:
        kinds[str(a.get("kind", "drift"))] = kinds.get(str(a.get("kind", "drift")), 0) + 1
    out: dict[str, Any] = {"monitoring_alerts": [({"model": model, "kind": k}, n) for k, n in kinds.items()]}
    if psi:
        out["drift_psi"] = psi
    served = assessment.get("served_by") or {}
    if served:
        out["pipeline_predictions"] = {str(level): n for level, n in served.items()}
    return out


def gate_figures(model: str, decision: Mapping[str, Any]) -> dict[str, Any]:
    """The promotion gate's decision (``promote_model``'s output) as 1/0 per decision."""
    last = "promoted" if decision.get("promote") or decision.get("stage") == "production" else "rejected"
    return {"gate_decision": [({"model": model, "decision": d}, int(d == last)) for d in GATE_DECISIONS]}


def record_quarantine(settings: Any, stream: str, rows: int) -> None:
    """Rows the ingest of ``stream`` quarantined (0 when it admitted every file),
    to ``<use case>/metrics/ingest_<stream>.prom`` (or the Pushgateway; one
    file per stream, so one stream's ingest never resets another's). Never
    raises: metrics do not decide whether a batch is admitted."""
    try:
        record_pipeline_metrics(settings, f"ingest_{stream}", {"data_quarantined_rows": {stream: rows}})
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not record the quarantined rows of %s: %s", stream, exc)


def read_pipeline_metrics(path: str | os.PathLike[str]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse a ``.prom`` file back into ``name -> [(labels, value), ...]`` (for tests and checks)."""
    text = Path(path).read_text(encoding="utf-8")
    return {f.name: [(dict(s.labels), s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


# ------------------------------------------------------------ the catalog --


@dataclass(frozen=True)
class EmittedMetric:
    family: str  # e.g. runway_serving_predictions_total
    type: str  # counter, gauge, histogram
    samples: frozenset[str]  # e.g. {..._bucket, ..._count, ..._sum, ..._created}
    labels: frozenset[str]  # label names of the samples (``le`` for buckets included)


def emitted_metrics() -> dict[str, EmittedMetric]:
    """Every metric family Runway's code can emit, with its sample and label
    names, keyed by family name (for the dashboard's contract test)."""
    m = ServingMetrics("u", "e", process=False)
    # Touch one labelled child of each metric so all sample names appear.
    m.observe_request("/predict", 200, 0.001)
    m.observe_feature_lookup("sqlite", True, 0.001)
    m.count_predictions("production", "online")
    m.count_fallback("production", "no_version")
    m.count_error("/predict", "validation")
    m.count_poll(True)
    m.count_canary("1", 1)
    m.set_models({"production": ("1", "0" * 64)})
    out: dict[str, EmittedMetric] = {}
    for family in m.registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        out[name] = EmittedMetric(name, family.type, frozenset(s.name for s in family.samples), frozenset(k for s in family.samples for k in s.labels))
    for name, kind in PROCESS_METRICS.items():
        out[name] = EmittedMetric(name, kind, frozenset({name}), frozenset(COMMON_LABELS))
    for name, metric in PIPELINE_METRICS.items():
        out[name] = EmittedMetric(name, "gauge", frozenset({name}), frozenset({*PIPELINE_LABELS, *metric.labels}))
    return out
