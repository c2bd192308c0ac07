"""One retraining policy for every trigger: on demand, schedule, performance, drift.

``decide_retraining`` is pure: it gets what monitoring found and returns a
decision with every reason, which the caller logs whether or not it retrains.
Drift alone can trigger before any label arrives; performance needs enough
labels. Drift and performance trigger only through alerts, i.e. after the
alert policy's N-of-M persistence. ``decide_rollback`` covers the optional automatic rollback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from runway.config import RetrainingConfig


@dataclass
class TriggerDecision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)  # which of: on_demand, schedule, performance, drift

    def to_dict(self) -> dict:
        return asdict(self)


def cron_due(expr: str, last_run: datetime | None, now: datetime) -> bool:
    """True when a cron occurrence lies in (last_run, now]."""
    from croniter import croniter

    if last_run is None:
        return True
    return croniter(expr, last_run).get_next(datetime) <= now


def performance_breach(live_wape: float, reference_wape: float | None, cfg: RetrainingConfig) -> str | None:
    """Why live performance counts as degraded, or None."""
    if cfg.max_wape is not None and live_wape > cfg.max_wape:
        return f"live WAPE {live_wape:.3f} > absolute bound {cfg.max_wape:.3f}"
    if reference_wape is not None and live_wape > reference_wape * (1 + cfg.max_wape_increase):
        return f"live WAPE {live_wape:.3f} > holdout WAPE {reference_wape:.3f} + {cfg.max_wape_increase:.0%}"
    return None


def decide_retraining(
    cfg: RetrainingConfig,
    *,
    on_demand: bool = False,
    drift_alerts: list[str] | None = None,
    performance_alerts: list[str] | None = None,
    live_wape: float | None = None,
    reference_wape: float | None = None,
    label_completeness: float = 0.0,
    last_training: datetime | None = None,
    now: datetime | None = None,
    windows_since_retrain: int | None = None,
) -> TriggerDecision:
    d = TriggerDecision(False)
    if on_demand:
        d.triggers.append("on_demand")
        d.reasons.append("requested on demand")
    if cfg.schedule_cron and now is not None and cron_due(cfg.schedule_cron, last_training, now):
        d.triggers.append("schedule")
        d.reasons.append(f"schedule '{cfg.schedule_cron}' is due (last training {last_training or 'never'})")
    if cfg.on_performance and live_wape is not None:
        if label_completeness < cfg.min_label_completeness:
            d.reasons.append(f"performance not judged: labels {label_completeness:.0%} complete < {cfg.min_label_completeness:.0%}")
        elif performance_alerts:
            # Through the alert policy (N of M windows), like drift: one bad
            # week of noise does not retrain.
            d.triggers.append("performance")
            d.reasons.append(f"performance alert: {'; '.join(performance_alerts)}")
        elif (breach := performance_breach(live_wape, reference_wape, cfg)) is not None:
            d.reasons.append(f"performance breach not yet persistent: {breach}")
    if cfg.on_drift and drift_alerts:
        d.triggers.append("drift")
        d.reasons.append(f"drift alerts: {', '.join(drift_alerts)}")
    cooling = windows_since_retrain is not None and windows_since_retrain < cfg.cooldown_windows
    if cooling and d.triggers and set(d.triggers) <= {"drift", "performance"}:
        d.reasons.append(f"in retraining cooldown ({windows_since_retrain} of {cfg.cooldown_windows} windows since the last retrain)")
        d.triggers = []
    d.retrain = bool(d.triggers)
    if not d.retrain and not d.reasons:
        d.reasons.append("no trigger fired")
    return d


def decide_rollback(live_wape: float | None, promoted_wape: float | None, label_completeness: float, cfg: RetrainingConfig) -> str | None:
    """A reason to roll back automatically, or None."""
    if not cfg.auto_rollback or live_wape is None or promoted_wape is None:
        return None
    if label_completeness < cfg.min_label_completeness:
        return None
    bound = promoted_wape * (1 + cfg.rollback_wape_increase)
    if live_wape > bound:
        return f"live WAPE {live_wape:.3f} exceeds the promoted holdout WAPE {promoted_wape:.3f} by more than {cfg.rollback_wape_increase:.0%}"
    return None
