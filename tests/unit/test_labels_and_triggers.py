from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from runway.config import RetrainingConfig
from runway.data.labels import join_labels
from runway.data.sources import known_as_of
from runway.monitoring.triggers import decide_retraining, decide_rollback, performance_breach

pytestmark = pytest.mark.unit
KEYS, TS, Y = ["store_id", "item_id"], "date", "units_sold"


def _preds():
    return pd.DataFrame({"store_id": "S1", "item_id": "I1", "date": pd.date_range("2025-01-06", periods=3, tz="UTC"), "prediction": [5.0, 6.0, 7.0]})


def _actuals(recorded):
    return pd.DataFrame(
        {
            "store_id": "S1",
            "item_id": "I1",
            "date": pd.date_range("2025-01-06", periods=3, tz="UTC"),
            "units_sold": [4.0, 6.0, 9.0],
            "recorded_at": pd.to_datetime(recorded, utc=True),
        }
    )


def test_label_recorded_after_cutoff_is_never_joined():
    acts = _actuals(["2025-01-10", "2025-01-10", "2025-01-20"])
    j = join_labels(_preds(), acts, KEYS, TS, Y, pd.Timestamp("2025-01-15", tz="UTC"))
    assert j.frame["actual"].tolist()[:2] == [4.0, 6.0] and np.isnan(j.frame["actual"].iloc[2])
    assert j.completeness == pytest.approx(2 / 3)


def test_a_late_correction_does_not_replace_the_label_known_at_cutoff():
    acts = pd.concat([_actuals(["2025-01-10"] * 3), _actuals(["2025-01-30"] * 3).assign(units_sold=100.0)])
    j = join_labels(_preds(), acts, KEYS, TS, Y, pd.Timestamp("2025-01-15", tz="UTC"))
    assert j.frame["actual"].tolist() == [4.0, 6.0, 9.0]


def test_known_as_of_blanks_late_actuals_but_keeps_plan_columns():
    acts = _actuals(["2025-01-10", "2025-01-20", "2025-01-20"]).assign(price=2.5)
    out = known_as_of(acts, pd.Timestamp("2025-01-15", tz="UTC"), Y)
    assert len(out) == 3 and out["price"].tolist() == [2.5] * 3
    assert out[Y].isna().tolist() == [False, True, True]
    assert acts[Y].notna().all(), "input frame must not be modified"


CFG = RetrainingConfig(max_degradation=0.2, schedule_cron="0 3 * * 1", auto_rollback=True, rollback_degradation=0.25)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
WAPE = {"metric": "wape", "metric_direction": "lower", "min_label_completeness": 0.9}


def test_nothing_fires():
    d = decide_retraining(CFG, live=0.41, reference=0.40, label_completeness=1.0, last_training=datetime(2026, 11, 24, 4, tzinfo=UTC), now=NOW, **WAPE)
    assert not d.retrain and d.triggers == []


def test_each_trigger_fires_alone():
    recent = datetime(2026, 11, 24, 4, tzinfo=UTC)
    assert decide_retraining(CFG, on_demand=True, last_training=recent, now=NOW).triggers == ["on_demand"]
    assert decide_retraining(CFG, last_training=datetime(2026, 11, 20, tzinfo=UTC), now=NOW).triggers == ["schedule"]
    assert decide_retraining(CFG, drift_alerts=["drift:price"], last_training=recent, now=NOW).triggers == ["drift"]
    perf = decide_retraining(CFG, live=0.6, reference=0.4, label_completeness=1.0, performance_alerts=["wape"], last_training=recent, now=NOW, **WAPE)
    assert perf.triggers == ["performance"]


def test_performance_needs_enough_labels_and_persistence():
    recent = datetime(2026, 11, 24, 4, tzinfo=UTC)
    few = decide_retraining(CFG, live=0.9, reference=0.4, label_completeness=0.5, performance_alerts=["wape"], last_training=recent, now=NOW, **WAPE)
    assert not few.retrain and "labels 50% complete" in few.reasons[0]
    once = decide_retraining(CFG, live=0.9, reference=0.4, label_completeness=1.0, performance_alerts=[], last_training=recent, now=NOW, **WAPE)
    assert not once.retrain and "not yet persistent" in once.reasons[0] and "live wape 0.900" in once.reasons[0]


def test_performance_breach_is_relative_to_holdout():
    assert performance_breach(0.47, 0.40, "lower", CFG, metric="wape") is None
    assert "holdout wape 0.400" in performance_breach(0.49, 0.40, "lower", CFG, metric="wape")


def test_performance_breach_follows_the_metric_direction():
    # roc_auc: higher is better, so a drop is the breach and a rise never is.
    assert performance_breach(0.70, 0.80, "higher", CFG, metric="roc_auc") is None
    why = performance_breach(0.60, 0.80, "higher", CFG, metric="roc_auc")
    assert why is not None and "live roc_auc 0.600" in why and "holdout roc_auc 0.800" in why
    assert performance_breach(0.99, 0.80, "higher", CFG, metric="roc_auc") is None
    # bias: closer to zero is better; the sign does not matter.
    assert performance_breach(-0.05, 0.05, "zero", CFG, metric="bias") is None
    assert performance_breach(-0.08, 0.05, "zero", CFG, metric="bias") is not None


def test_performance_absolute_limit_in_the_metric_direction():
    low_auc = RetrainingConfig(limit=0.7, max_degradation=5)
    assert "absolute bound 0.700" in performance_breach(0.69, None, "higher", low_auc, metric="roc_auc")
    assert performance_breach(0.71, None, "higher", low_auc, metric="roc_auc") is None
    high_wape = RetrainingConfig(limit=0.5, max_degradation=5)
    assert performance_breach(0.51, None, "lower", high_wape, metric="wape") is not None
    assert performance_breach(0.49, None, "lower", high_wape, metric="wape") is None


def test_rollback_policy():
    assert decide_rollback(0.45, 0.40, 1.0, "lower", CFG, metric="wape") is None
    assert "wape" in decide_rollback(0.55, 0.40, 1.0, "lower", CFG, metric="wape")
    assert decide_rollback(0.55, 0.40, 0.5, "lower", CFG, metric="wape", min_label_completeness=0.9) is None, "not judged on incomplete labels"
    assert decide_rollback(0.55, 0.40, 1.0, "lower", RetrainingConfig(auto_rollback=False), metric="wape") is None


def test_rollback_follows_the_metric_direction():
    assert decide_rollback(0.65, 0.80, 1.0, "higher", CFG, metric="roc_auc") is None
    assert "roc_auc" in decide_rollback(0.55, 0.80, 1.0, "higher", CFG, metric="roc_auc")
    assert decide_rollback(0.95, 0.80, 1.0, "higher", CFG, metric="roc_auc") is None


def test_retraining_cooldown_holds_drift_but_not_on_demand():
    recent = datetime(2026, 11, 24, 4, tzinfo=UTC)
    held = decide_retraining(CFG, drift_alerts=["drift:price"], last_training=recent, now=NOW, windows_since_retrain=0)
    assert not held.retrain and "cooldown" in held.reasons[-1]
    after = decide_retraining(CFG, drift_alerts=["drift:price"], last_training=recent, now=NOW, windows_since_retrain=1)
    assert after.triggers == ["drift"]
    asked = decide_retraining(CFG, on_demand=True, drift_alerts=["drift:price"], last_training=recent, now=NOW, windows_since_retrain=0)
    assert asked.retrain and "on_demand" in asked.triggers


def test_windows_since_retrain_counts_monitoring_decisions(tmp_path):
    from runway.governance.decision_log import DecisionLog

    log = DecisionLog(tmp_path / "d.jsonl", b"k" * 32)
    assert log.windows_since_retrain("m") is None
    for action in ("no_retrain", "retrain", "reject", "no_retrain", "no_retrain"):
        log.append({"model": "m", "version": "1", "action": action})
    assert log.windows_since_retrain("m") == 2


def test_last_training_time_ignores_monitoring_decisions(tmp_path):
    from runway.governance.decision_log import DecisionLog

    log = DecisionLog(tmp_path / "d.jsonl", b"k" * 32)
    assert log.last_training_time("m") is None
    trained = log.append({"model": "m", "version": "1", "action": "reject"})
    log.append({"model": "m", "version": "1", "action": "no_retrain"})
    assert log.last_training_time("m") == datetime.fromisoformat(trained["time"])
