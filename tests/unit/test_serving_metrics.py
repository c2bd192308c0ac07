"""runway.serving.metrics: the service's registry and the pipelines' figures."""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runway.serving import metrics as m

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, use_case: str = "tiny", env: str = "staging"):
    return SimpleNamespace(
        use_case=use_case,
        environment=SimpleNamespace(name=env),
        use_case_path=lambda *parts: tmp_path.joinpath(use_case, *parts),
        workspace_path=lambda *parts: tmp_path.joinpath(*parts),
    )


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def _value(samples, name: str, **labels: str) -> float:
    hits = [v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == x for k, x in labels.items())]
    assert hits, f"no sample {name} {labels}"
    return sum(hits)


# ---------------------------------------------------------------- serving --


def test_each_app_has_its_own_registry() -> None:
    a, b = m.ServingMetrics("u", "local", process=False), m.ServingMetrics("u", "local", process=False)
    for _ in range(3):
        a.observe_request("/predict", 200, 0.002)
    b.observe_request("/predict", 200, 0.002)
    sa, sb = _samples(a.exposition().decode()), _samples(b.exposition().decode())
    assert _value(sa, "runway_serving_request_duration_seconds_count", endpoint="/predict", status="200") == 3
    assert _value(sb, "runway_serving_request_duration_seconds_count", endpoint="/predict", status="200") == 1


def test_values_stay_in_memory_even_after_feast_sets_the_multiprocess_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from prometheus_client import values

    # What importing feast.metrics does to the process.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    a, b = m.ServingMetrics("u", "local", process=False), m.ServingMetrics("u", "local", process=False)
    a.count_predictions("production", "online", 5)
    a.set_models({"production": ("1", "f" * 64)})
    sb = _samples(b.exposition().decode())
    assert not [k for k in sb if k[0] == "runway_serving_predictions_total"], "two registries shared a value through mmap files"
    assert list(tmp_path.iterdir()) == []


def test_labels_and_endpoint_cardinality() -> None:
    x = m.ServingMetrics("retail", "prod")
    x.observe_request("/wp-login.php", 404, 0.001)
    x.observe_feature_lookup("redis", False, 0.01)
    x.count_fallback("production", "artifact_sha_mismatch", 3)
    x.count_error("/predict", "validation")
    s = _samples(x.exposition().decode())
    assert _value(s, "runway_serving_request_duration_seconds_count", endpoint="other", status="404") == 1
    assert _value(s, "runway_serving_feature_lookup_duration_seconds_count", store="redis", outcome="error") == 1
    assert _value(s, "runway_serving_fallback_total", level="production", reason="artifact_sha_mismatch") == 3
    for (name, labels), _ in s.items():
        if name.startswith("runway_"):
            assert dict(labels).get("use_case") == "retail" and dict(labels).get("environment") == "prod", name
    assert _value(s, "runway_serving_process_resident_memory_bytes") > 0
    assert _value(s, "runway_serving_process_cpu_seconds_total") >= 0


def test_model_info_shows_only_the_current_models() -> None:
    x = m.ServingMetrics("u", "e", process=False)
    x.set_models({"production": ("2", "ab" * 32), "last_known_good": ("1", None)})
    x.set_models({"production": ("1", "cd" * 32)})
    info = [(dict(ls), v) for (n, ls), v in _samples(x.exposition().decode()).items() if n == "runway_serving_model_info"]
    assert info == [({"use_case": "u", "environment": "e", "role": "production", "version": "1", "sha256": "cd" * 6}, 1.0)]


def test_catalog_lists_what_the_registry_emits() -> None:
    x = m.ServingMetrics("u", "e")
    families = {f.name: f for f in x.registry.collect()}
    catalog = m.emitted_metrics()
    for name, family in families.items():
        key = f"{name}_total" if family.type == "counter" else name
        assert key in catalog, key
    assert set(m.PROCESS_METRICS) <= set(catalog)
    assert set(m.SERVING_METRICS) <= set(catalog) and set(m.PIPELINE_METRICS) <= set(catalog)
    assert all(n.startswith("runway_") for n in catalog)


# -------------------------------------------------------------- pipelines --


def test_pipeline_metrics_file_parses_and_carries_the_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(m.PUSHGATEWAY_ENV, raising=False)
    s = _settings(tmp_path)
    where = m.record_pipeline_metrics(
        s,
        "training",
        {
            "pipeline_last_run_success": True,
            "runway_pipeline_run_duration_seconds": 42.5,
            "model_metric": [({"model": "m", "metric": "wape", "stage": "holdout"}, 0.21), {"model": "m", "metric": "wape", "stage": "baseline", "value": 0.3}],
            "data_quality_violations": {"missing_rate": 0, "outliers": 2},
        },
    )
    path = tmp_path / "tiny" / "metrics" / "training.prom"
    assert where == str(path) and path.is_file()
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert set(families) == {
        "runway_pipeline_last_run_success",
        "runway_pipeline_run_duration_seconds",
        "runway_pipeline_last_success_timestamp_seconds",
        "runway_model_metric",
        "runway_data_quality_violations",
    }
    assert all(f.type == "gauge" for f in families.values())
    samples = _samples(path.read_text())
    base = {"use_case": "tiny", "environment": "staging", "pipeline": "training"}
    assert _value(samples, "runway_pipeline_run_duration_seconds", **base) == 42.5
    assert _value(samples, "runway_model_metric", stage="baseline", metric="wape", model="m", **base) == 0.3
    assert _value(samples, "runway_data_quality_violations", check="outliers", **base) == 2
    assert _value(samples, "runway_pipeline_last_success_timestamp_seconds", **base) > 1.7e9
    assert not list(path.parent.glob(".*.tmp")), "atomic write left a temporary file"


def test_a_failed_run_keeps_the_last_success_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(m.PUSHGATEWAY_ENV, raising=False)
    s = _settings(tmp_path)
    m.record_pipeline_metrics(s, "inference", {"pipeline_last_run_success": 1, "pipeline_last_success_timestamp_seconds": 1_800_000_000})
    m.record_pipeline_metrics(s, "inference", {"pipeline_last_run_success": 0, "pipeline_run_duration_seconds": 3})
    got = m.read_pipeline_metrics(m.pipeline_metrics_path(s, "inference"))
    assert got["runway_pipeline_last_run_success"][0][1] == 0
    assert got["runway_pipeline_last_success_timestamp_seconds"][0][1] == 1_800_000_000
    assert got["runway_pipeline_run_duration_seconds"][0][1] == 3


@pytest.mark.parametrize(
    "figures, message",
    [
        ({"pipeline_lastrun_success": 1}, "unknown pipeline metric"),
        ({"model_metric": 0.3}, "needs labels"),
        ({"model_metric": [({"model": "m"}, 0.3)]}, "labels"),
        ({"pipeline_run_duration_seconds": float("nan")}, "NaN"),
        ({"pipeline_run_duration_seconds": "fast"}, "not a number"),
        ({"model_metric": {"wape": 0.2}}, "exactly one extra label"),
    ],
)
def test_bad_figures_are_refused(tmp_path: Path, figures: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        m.record_pipeline_metrics(_settings(tmp_path), "training", figures)


def test_pipeline_name_must_be_plain(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain name"):
        m.record_pipeline_metrics(_settings(tmp_path), "../etc", {"pipeline_last_run_success": 1})


RECEIVED: list[tuple[str, str, bytes]] = []


class _Gateway(http.server.BaseHTTPRequestHandler):
    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        RECEIVED.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def log_message(self, *args) -> None:
        pass


def test_pushgateway_gets_a_push_add_grouped_by_use_case_env_and_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RECEIVED.clear()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        monkeypatch.setenv(m.PUSHGATEWAY_ENV, url)
        where = m.record_pipeline_metrics(_settings(tmp_path), "monitoring", {"drift_share": {"m": 0.25}})
    finally:
        server.shutdown()
    (method, path, body) = RECEIVED[0]
    assert method == "POST", "push-add: metrics of the group not in this push are kept"
    parts = path.split("/")
    assert parts[:4] == ["", "metrics", "job", "runway"]
    assert dict(zip(parts[4::2], parts[5::2], strict=True)) == {"use_case": "tiny", "environment": "staging", "pipeline": "monitoring"}
    assert _value(_samples(body.decode()), "runway_drift_share", model="m", pipeline="monitoring") == 0.25
    assert where.startswith(url)
    assert not (tmp_path / "tiny" / "metrics").exists()


def test_unreachable_pushgateway_falls_back_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(m.PUSHGATEWAY_ENV, f"http://127.0.0.1:{port}")
    where = m.record_pipeline_metrics(_settings(tmp_path), "training", {"pipeline_last_run_success": 1})
    assert where.endswith("training.prom") and Path(where).is_file()
    assert "could not push" in caplog.text


# ------------------------------------------------- monitoring / gate / ingest --


def test_monitoring_prom_holds_psi_per_feature_alerts_and_served_by(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import pandas as pd

    from runway.monitoring.drift import drift_report

    monkeypatch.delenv(m.PUSHGATEWAY_ENV, raising=False)
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"price_rel_28d": rng.normal(1, 0.1, 4000), "units_lag_14d": rng.poisson(8, 4000).astype(float), "store": rng.choice(["a", "b"], 4000)})
    cur = ref.sample(frac=0.5, random_state=1).reset_index(drop=True)
    cur["price_rel_28d"] = cur["price_rel_28d"] * 1.4  # the drifted feature
    drift = drift_report(ref, cur, n_jobs=1).to_dict()
    assessment = {"drift": drift, "served_by": {"production": 1900, "baseline": 100}}
    decision = {"alerts": [{"kind": "drift", "feature": "price_rel_28d"}, {"kind": "performance", "feature": "wape"}, {"kind": "drift", "feature": "x"}]}
    s = _settings(tmp_path)
    m.record_pipeline_metrics(s, "monitoring", {"pipeline_last_run_success": 1} | m.monitoring_figures("forecaster", assessment, decision))

    text = (tmp_path / "tiny" / "metrics" / "monitoring.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}  # prometheus_client's parser
    psi = {s.labels["feature"]: s.value for s in families["runway_drift_psi"].samples}
    assert set(psi) == {"price_rel_28d", "units_lag_14d", "store"}, "one sample per feature (categoricals: PSI of category frequencies)"
    assert psi["price_rel_28d"] > 0.2 > psi["units_lag_14d"]
    samples = _samples(text)
    base = {"use_case": "tiny", "environment": "staging", "pipeline": "monitoring", "model": "forecaster"}
    computed = next(f["psi"] for f in drift["features"] if f["feature"] == "price_rel_28d")
    assert _value(samples, "runway_drift_psi", feature="price_rel_28d", **base) == pytest.approx(computed)
    assert _value(samples, "runway_monitoring_alerts", kind="drift", **base) == 2
    assert _value(samples, "runway_monitoring_alerts", kind="performance", **base) == 1
    assert _value(samples, "runway_monitoring_alerts", kind="schema", **base) == 0, "known kinds are charted at 0, not missing"
    assert _value(samples, "runway_pipeline_predictions", level="baseline", pipeline="monitoring") == 100


def test_gate_decision_is_one_for_the_last_decision_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(m.PUSHGATEWAY_ENV, raising=False)
    s = _settings(tmp_path)
    path = tmp_path / "tiny" / "metrics" / "training.prom"
    m.record_pipeline_metrics(s, "training", m.gate_figures("f", {"promote": True, "stage": "production"}))
    assert _value(_samples(path.read_text()), "runway_gate_decision", decision="promoted") == 1
    m.record_pipeline_metrics(s, "training", m.gate_figures("f", {"promote": False, "stage": "staging"}))
    samples = _samples(path.read_text())
    assert _value(samples, "runway_gate_decision", decision="rejected", model="f") == 1
    assert _value(samples, "runway_gate_decision", decision="promoted", model="f") == 0


def test_quarantined_rows_per_stream_do_not_overwrite_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(m.PUSHGATEWAY_ENV, raising=False)
    s = _settings(tmp_path)
    m.record_quarantine(s, "history", 0)
    m.record_quarantine(s, "scoring", 37)
    history = _samples((tmp_path / "tiny" / "metrics" / "ingest_history.prom").read_text())
    scoring = _samples((tmp_path / "tiny" / "metrics" / "ingest_scoring.prom").read_text())
    assert _value(history, "runway_data_quarantined_rows", stream="history") == 0
    assert _value(scoring, "runway_data_quarantined_rows", stream="scoring", pipeline="ingest_scoring") == 37
    m.record_quarantine(SimpleNamespace(use_case="x"), "scoring", 1)  # broken settings: logged, never raised
