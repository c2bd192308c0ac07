import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from runway.evaluation.baselines import baseline_label, baseline_predictions, last_value, seasonal_naive
from runway.governance.decision_log import DecisionLog

KEY = b"k" * 32

pytestmark = pytest.mark.unit


def frame(days, units):
    return pd.DataFrame({"store_id": "S1", "item_id": "I1", "date": pd.date_range("2024-01-01", periods=days, tz="UTC"), "units_sold": units})


def test_seasonal_naive_takes_same_weekday_last_week():
    hist = frame(14, np.arange(14, dtype=float))
    target = frame(21, np.nan).iloc[14:].reset_index(drop=True)
    pred = seasonal_naive(hist, target, ["store_id", "item_id"], "date", "units_sold", 7)
    assert pred.tolist() == list(np.arange(7, 14, dtype=float))


def test_seasonal_naive_reaches_back_when_labels_are_late():
    hist = frame(14, np.arange(14, dtype=float))
    target = frame(28, np.nan).iloc[21:].reset_index(drop=True)  # one week of labels missing
    pred = seasonal_naive(hist, target, ["store_id", "item_id"], "date", "units_sold", 7)
    assert pred.tolist() == list(np.arange(7, 14, dtype=float))


def test_seasonal_naive_unknown_entity_gets_a_value():
    hist = frame(14, np.full(14, 4.0))
    target = frame(7, np.nan).assign(store_id="S9")
    assert np.isfinite(seasonal_naive(hist, target, ["store_id", "item_id"], "date", "units_sold")).all()


def test_seasonal_naive_respects_the_horizon():
    hist = frame(28, np.arange(28, dtype=float))
    target = frame(35, np.nan).iloc[28:].reset_index(drop=True)
    # horizon 10 days: one week back is too recent, two weeks back is used
    pred = seasonal_naive(hist, target, ["store_id", "item_id"], "date", "units_sold", 7, min_lag_days=10)
    assert pred.tolist() == list(np.arange(14, 21, dtype=float))


def test_last_value_takes_the_latest_actual_at_least_the_horizon_back():
    hist = frame(14, np.arange(14, dtype=float))
    target = frame(21, np.nan).iloc[14:].reset_index(drop=True)  # days 14..20
    assert last_value(hist, target, ["store_id", "item_id"], "date", "units_sold").tolist() == [13.0] * 7
    # horizon 3: day t uses day t - 3 (or the latest before it)
    pred = last_value(hist, target, ["store_id", "item_id"], "date", "units_sold", min_lag_days=3)
    assert pred.tolist() == [11.0, 12.0, 13.0, 13.0, 13.0, 13.0, 13.0]


def test_last_value_never_uses_the_target_days_own_actual():
    f = frame(10, np.arange(10, dtype=float))
    pred = last_value(f, f, ["store_id", "item_id"], "date", "units_sold")
    assert pred[1:].tolist() == list(np.arange(0, 9, dtype=float))
    assert pred[0] == pytest.approx(f["units_sold"].mean()), "no earlier actual at all: the global mean"


def test_last_value_is_per_entity_with_fallbacks():
    a = frame(10, np.full(10, 2.0))
    b = frame(10, np.full(10, 8.0)).assign(item_id="I2")
    hist = pd.concat([a, b], ignore_index=True)
    target = pd.concat(
        [frame(12, np.nan).iloc[10:], frame(12, np.nan).iloc[10:].assign(item_id="I2"), frame(12, np.nan).iloc[10:].assign(store_id="S9")], ignore_index=True
    )
    pred = last_value(hist, target, ["store_id", "item_id"], "date", "units_sold", min_lag_days=1)
    assert pred[:4].tolist() == [2.0, 2.0, 8.0, 8.0]
    assert pred[4:].tolist() == pytest.approx([5.0, 5.0]), "an unknown entity gets the global mean of earlier actuals"
    # rows shuffled: answers follow their rows
    shuffled = target.sample(frac=1, random_state=0)
    assert last_value(hist, shuffled, ["store_id", "item_id"], "date", "units_sold", 1).tolist() == pred[shuffled.index.to_numpy()].tolist()


def _settings(kind, period=7, horizon=0, delay=0):
    return SimpleNamespace(
        evaluation=SimpleNamespace(baseline=SimpleNamespace(kind=kind, period_days=period)),
        entity_keys=["store_id", "item_id"],
        contract=SimpleNamespace(timestamp="date"),
        model=SimpleNamespace(target="units_sold"),
        features=SimpleNamespace(horizon_days=horizon),
        schedule=SimpleNamespace(label_delay_days=delay),
    )


def test_baseline_predictions_dispatch_on_the_configured_kind():
    hist = frame(28, np.arange(28, dtype=float))
    target = frame(35, np.nan).iloc[28:].reset_index(drop=True)
    keys = ["store_id", "item_id"]
    assert (
        baseline_predictions(_settings("seasonal_naive", 7, 10), hist, target).tolist()
        == seasonal_naive(hist, target, keys, "date", "units_sold", 7, 10).tolist()
    )
    assert baseline_predictions(_settings("last_value", horizon=10), hist, target).tolist() == last_value(hist, target, keys, "date", "units_sold", 10).tolist()
    # the label delay counts as a lag too, when longer than the horizon
    assert (
        baseline_predictions(_settings("last_value", horizon=0, delay=10), hist, target).tolist()
        == last_value(hist, target, keys, "date", "units_sold", 10).tolist()
    )
    assert baseline_label(_settings("seasonal_naive", 7)) == "seasonal naive (7 days)"
    assert baseline_label(_settings("last_value", horizon=14)) == "last value (14+ days back)"
    assert baseline_label(_settings("prior_rate")) == "prior rate"
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_predictions(_settings("oracle"), hist, target)


def test_decision_log_is_append_only_and_chained(tmp_path):
    log = DecisionLog(tmp_path / "d.jsonl", KEY)
    log.append({"model": "m", "version": "1", "action": "promote", "artifact_sha256": "a"})
    first = (tmp_path / "d.jsonl").read_text()
    log.append({"model": "m", "version": "2", "action": "reject"})
    assert (tmp_path / "d.jsonl").read_text().startswith(first)
    assert log.verify() == []
    assert log.promoted_sha("m", "1") == "a" and log.production_history("m") == ["1"]


def test_decision_log_detects_tampering(tmp_path):
    log = DecisionLog(tmp_path / "d.jsonl", KEY)
    for v in "123":
        log.append({"model": "m", "version": v, "action": "promote", "artifact_sha256": v})
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["artifact_sha256"] = "forged"
    lines[0] = json.dumps(rec, sort_keys=True)
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    assert any("line 2" in p for p in log.verify())
