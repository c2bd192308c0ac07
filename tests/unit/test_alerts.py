"""Alert policy (N of M, cooldown, de-duplication), the append-only log, the
webhook and the seasonal reference helper."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from runway.config import AlertPolicyConfig
from runway.monitoring import alerts as A
from runway.monitoring import drift

pytestmark = pytest.mark.unit

POLICY = AlertPolicyConfig(breaches_required=2, window_count=3, cooldown_windows=2)
PRICE_ALERT = A.Breach("price", "alert", 0.31, 0.25, "PSI 0.31")
PRICE_WARN = A.Breach("price", "warn", 0.12, 0.1, "PSI 0.12")


def run(log: A.AlertLog, window: str, breaches: list[A.Breach], policy: AlertPolicyConfig = POLICY) -> list[A.Alert]:
    """Evaluate then record, as a monitoring run does."""
    raised = A.evaluate_alerts(window, breaches, log, policy)
    log.record_window(window, breaches, raised)
    return raised


@pytest.fixture
def log(tmp_path) -> A.AlertLog:
    return A.AlertLog(tmp_path / "alerts.jsonl")


def test_one_noisy_window_does_not_alert(log):
    assert run(log, "w1", []) == []
    assert run(log, "w2", [PRICE_ALERT]) == []  # 1 of 3: noise
    assert run(log, "w3", []) == []
    assert run(log, "w4", []) == []


def test_n_of_m_alerts_on_the_window_that_completes_it(log):
    run(log, "w1", [PRICE_ALERT])
    run(log, "w2", [])
    raised = run(log, "w3", [PRICE_ALERT])  # 2 of the last 3
    assert [(a.feature, a.severity, a.breaches_in_window, a.window_count) for a in raised] == [("price", "alert", 2, 3)]
    assert raised[0].window_id == "w3" and "2 of the last 3" in raised[0].message


def test_breaches_outside_the_last_m_windows_do_not_count(log):
    run(log, "w1", [PRICE_ALERT])
    run(log, "w2", [])
    run(log, "w3", [])
    assert run(log, "w4", [PRICE_ALERT]) == []  # w1 fell out of the 3-window span


def test_recovered_feature_raises_nothing(log):
    run(log, "w1", [PRICE_ALERT])
    run(log, "w2", [PRICE_ALERT])  # alerts here
    assert run(log, "w3", []) == []


def test_cooldown_suppresses_repeats_then_lets_through(log):
    assert run(log, "w1", [PRICE_ALERT]) == []
    assert len(run(log, "w2", [PRICE_ALERT])) == 1
    assert run(log, "w3", [PRICE_ALERT]) == []  # cooldown 1 of 2
    assert run(log, "w4", [PRICE_ALERT]) == []  # cooldown 2 of 2
    again = run(log, "w5", [PRICE_ALERT])  # still drifting: re-raised once
    assert [a.window_id for a in again] == ["w5"]


def test_escalation_is_not_held_back_by_a_warn_cooldown(log):
    run(log, "w1", [PRICE_WARN])
    assert [a.severity for a in run(log, "w2", [PRICE_WARN])] == ["warn"]
    # Alert level needs its own 2 of 3: w3 is only the first alert-level breach.
    assert run(log, "w3", [PRICE_ALERT]) == []
    assert [a.severity for a in run(log, "w4", [PRICE_ALERT])] == ["alert"]
    # ...and an alert in cooldown also covers the warn level.
    assert run(log, "w5", [PRICE_WARN]) == []


def test_dedupe_within_a_window_and_on_rerun(log):
    run(log, "w1", [PRICE_ALERT])
    raised = run(log, "w2", [PRICE_WARN, PRICE_ALERT, PRICE_ALERT])
    assert len(raised) == 1 and raised[0].severity == "alert"
    # Re-running the same window (e.g. a retried pipeline) raises nothing new
    # and does not count the window twice.
    assert run(log, "w2", [PRICE_ALERT]) == []
    assert [w.window_id for w in log.windows()] == ["w1", "w2"]


def test_keys_are_independent(log):
    run(log, "w1", [PRICE_ALERT])
    raised = run(log, "w2", [PRICE_ALERT, A.Breach("region", "alert", kind="drift"), A.Breach("price", "alert", kind="schema")])
    assert [a.key for a in raised] == ["drift:price"]  # the other keys have 1 of 3


def test_policy_one_of_one_without_cooldown_alerts_every_breach(log):
    policy = AlertPolicyConfig(breaches_required=1, window_count=1, cooldown_windows=0)
    assert len(run(log, "w1", [PRICE_ALERT], policy)) == 1
    assert len(run(log, "w2", [PRICE_ALERT], policy)) == 1


def test_log_is_append_only(log):
    run(log, "w1", [PRICE_ALERT])
    first = log.path.read_bytes()
    run(log, "w2", [PRICE_ALERT])
    run(log, "w3", [])
    after = log.path.read_bytes()
    assert after.startswith(first)  # earlier lines byte-for-byte unchanged
    lines = after.decode().splitlines()
    assert all(json.loads(line)["v"] == A.LOG_VERSION for line in lines)
    assert [json.loads(line)["type"] for line in lines] == ["window", "window", "alert", "window"]


def test_log_survives_a_torn_last_line(log):
    run(log, "w1", [PRICE_ALERT])
    with open(log.path, "a") as fh:
        fh.write('{"type": "window", "window_id": "w2", "brea')  # writer died mid-line
    with pytest.warns(RuntimeWarning, match=r"alerts.jsonl:2: skipping unreadable"):
        assert [w.window_id for w in log.windows()] == ["w1"]
    log.record_window("w3", [])
    with pytest.warns(RuntimeWarning):
        assert [w.window_id for w in log.windows()] == ["w1", "w3"]  # not glued to the torn line


def test_latest_windows_per_key(log):
    run(log, "w1", [PRICE_WARN])
    run(log, "w2", [PRICE_ALERT, A.Breach("region", "warn")])
    run(log, "w3", [])
    assert log.latest_windows_per_key(2) == {"drift:price": [("w2", "alert")], "drift:region": [("w2", "warn")]}
    assert log.latest_windows_per_key(3)["drift:price"] == [("w1", "warn"), ("w2", "alert")]


def test_concurrent_appends_keep_whole_lines(tmp_path):
    path = tmp_path / "alerts.jsonl"

    def writer(i: int) -> None:
        lg = A.AlertLog(path)  # separate objects, as separate processes would have
        for j in range(25):
            lg.record_window(f"t{i}-{j}", [A.Breach("x" * 200, "warn")])

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 100
    assert all(json.loads(line)["type"] == "window" for line in lines)


def test_breach_validation():
    with pytest.raises(ValueError, match="breach of 'price': severity must be 'warn' or 'alert'"):
        A.Breach("price", "ok")  # type: ignore[arg-type]


def test_breaches_from_drift_and_threshold_breach():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"price": rng.lognormal(1, 0.4, 5000), "region": rng.choice(["n", "s"], 5000), "when": pd.Timestamp("2024-01-01")})
    cur = pd.DataFrame({"price": rng.lognormal(1, 0.4, 2000) * 1.3, "region": rng.choice(["n", "s"], 2000), "extra": 1})
    res = drift.drift_report(ref, cur)
    got = {b.key: b for b in A.breaches_from_drift(res)}
    assert got["drift:price"].severity == "alert" and got["drift:price"].value == pytest.approx(res.feature("price").psi)
    assert got["schema:extra"].severity == "warn"  # a new column without a feature row
    assert got["schema:when"].severity == "alert"  # missing (datetime, not a feature row)
    assert "drift:region" not in got
    assert A.threshold_breach("wape", 0.41, alert_above=0.35).severity == "alert"
    assert A.threshold_breach("wape", 0.30, alert_above=0.35, warn_above=0.28).severity == "warn"
    assert A.threshold_breach("wape", 0.20, alert_above=0.35) is None


# -------------------------------------------------------------- webhook ---


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"ctype": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def hook_server():
    _Hook.received, _Hook.status = [], 200
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}/hooks/secret-token"
    srv.shutdown()
    srv.server_close()


def _alert() -> A.Alert:
    return A.Alert("w3", "price", "drift", "alert", 2, 3, 0.31, 0.25, "PSI 0.31")


def test_send_webhook_posts_json(hook_server):
    res = A.send_webhook(hook_server, [_alert()], timeout=5)
    assert res == A.WebhookResult(sent=True, ok=True, status=200, error=None)
    (msg,) = _Hook.received
    assert msg["ctype"] == "application/json"
    assert msg["body"]["alerts"][0]["feature"] == "price"
    assert "price" in msg["body"]["text"]


def test_send_webhook_reports_errors_without_raising(hook_server, caplog):
    _Hook.status = 500
    res = A.send_webhook(hook_server, [_alert()], timeout=5)
    assert (res.sent, res.ok, res.status) == (True, False, 500)
    assert "secret-token" not in caplog.text  # URL redacted in logs
    # Nothing listens on port 9 (discard) here: connection refused, reported.
    res = A.send_webhook("http://127.0.0.1:9/x", [_alert()], timeout=2)
    assert not res.ok and res.error
    res = A.send_webhook("file:///etc/passwd", [_alert()])
    assert not res.ok and "http or https" in res.error
    assert A.send_webhook(None, [_alert()]).error == "no webhook_url configured"
    assert A.send_webhook(hook_server, []) == A.WebhookResult(sent=False, ok=True)


def test_process_window_records_alert_and_delivery(log, hook_server):
    policy = AlertPolicyConfig(breaches_required=1, window_count=1, cooldown_windows=1, webhook_url=hook_server)
    out = A.process_window("w1", [PRICE_ALERT], log, policy)
    assert len(out.alerts) == 1 and out.webhook.ok
    types = [r["type"] for r in log.read()]
    assert types == ["window", "alert", "delivery"]
    assert A.process_window("w2", [PRICE_ALERT], log, policy).alerts == []  # cooldown


# ---------------------------------------------------------- seasonality ---


def _history(start: str, days: int) -> pd.DataFrame:
    dates = pd.date_range(start, periods=days, freq="D")
    return pd.DataFrame({"date": np.repeat(dates, 2), "store_id": ["s1", "s2"] * days})


def test_seasonal_reference_uses_same_weeks_a_year_earlier():
    hist = _history("2023-01-01", 500)
    ref = A.seasonal_reference_window(hist, "2024-12-16", "2024-12-22")
    assert ref.kind == "seasonal"
    # 364 days back: same weekdays (Monday 2024-12-16 -> Monday 2023-12-18).
    assert (str(ref.start), str(ref.end)) == ("2023-12-18", "2023-12-24")
    assert pd.Timestamp(ref.start).day_name() == pd.Timestamp("2024-12-16").day_name()
    assert len(ref.frame) == 14


def test_seasonal_reference_falls_back_to_trailing_window():
    hist = _history("2024-09-01", 100)  # less than a year of history
    ref = A.seasonal_reference_window(hist, "2024-12-02", "2024-12-08", fallback_days=14)
    assert ref.kind == "trailing"
    assert (str(ref.start), str(ref.end)) == ("2024-11-18", "2024-12-01")
    assert "includes seasonal change" in ref.note
    with pytest.raises(ValueError, match="no timestamp column 'day'"):
        A.seasonal_reference_window(hist, "2024-12-02", "2024-12-08", timestamp_col="day")
    with pytest.raises(ValueError, match="no reference rows"):
        A.seasonal_reference_window(hist, "2030-01-01", "2030-01-07")
