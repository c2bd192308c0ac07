import json

import numpy as np
import pandas as pd
import pytest

from runway.evaluation.baselines import seasonal_naive
from runway.governance.decision_log import DecisionLog

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


def test_decision_log_is_append_only_and_chained(tmp_path):
    log = DecisionLog(tmp_path / "d.jsonl")
    log.append({"model": "m", "version": "1", "action": "promote", "artifact_sha256": "a"})
    first = (tmp_path / "d.jsonl").read_text()
    log.append({"model": "m", "version": "2", "action": "reject"})
    assert (tmp_path / "d.jsonl").read_text().startswith(first)
    assert log.verify() == []
    assert log.promoted_sha("m", "1") == "a" and log.production_history("m") == ["1"]


def test_decision_log_detects_tampering(tmp_path):
    log = DecisionLog(tmp_path / "d.jsonl")
    for v in "123":
        log.append({"model": "m", "version": v, "action": "promote", "artifact_sha256": v})
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["artifact_sha256"] = "forged"
    lines[0] = json.dumps(rec, sort_keys=True)
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    assert any("line 2" in p for p in log.verify())
