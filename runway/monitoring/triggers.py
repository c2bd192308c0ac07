"""One retraining policy for every trigger: on demand, schedule, performance, drift.

``decide_retraining`` is pure: it gets what monitoring found and returns a
decision with every reason, which the caller logs whether or not it retrains.
Drift alone can trigger before any label arrives; performance needs enough
labels (``schedule.min_label_completeness``). Drift and performance trigger
only through alerts, i.e. after the alert policy's N-of-M persistence.
``decide_rollback`` covers the optional automatic rollback. Performance is the
use case's primary metric, judged in its direction (``lower``, ``higher`` or
``zero``: see ``runway.evaluation.metrics``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from runway.config import RetrainingConfig, ScheduleConfig
from runway.evaluation.metrics import describe_direction, loss, relative_degradation

# ``schedule.min_label_completeness`` when the caller does not pass it.
DEFAULT_MIN_LABEL_COMPLETENESS: float = ScheduleConfig.model_fields["min_label_completeness"].default


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


def _worse(direction: str) -> str:
    return {"lower": "above", "higher": "below", "zero": "further from zero than"}[direction]


def performance_breach(live: float, reference: float | None, metric_direction: str, cfg: RetrainingConfig, metric: str = "primary metric") -> str | None:
    """Why live performance of ``metric`` counts as degraded, or None.

    Degraded: beyond the absolute bound ``cfg.limit`` (if set), or worse than
    the serving version's holdout value by more than ``cfg.max_degradation``
    (relative, in the metric's bad direction).
    """
    if cfg.limit is not None and loss(metric_direction, live) > loss(metric_direction, cfg.limit):
        return f"live {metric} {live:.3f} is {_worse(metric_direction)} the absolute bound {cfg.limit:.3f} ({describe_direction(metric_direction)})"
    if reference is not None and relative_degradation(metric_direction, live, reference) > cfg.max_degradation:
        how = describe_direction(metric_direction)
        return f"live {metric} {live:.3f} is worse than the holdout {metric} {reference:.3f} by more than {cfg.max_degradation:.0%} ({how})"
    return None


def decide_retraining(
    cfg: RetrainingConfig,
    *,
    on_demand: bool = False,
    drift_alerts: list[str] | None = None,
    performance_alerts: list[str] | None = None,
    live: float | None = None,
    reference: float | None = None,
    metric: str = "primary metric",
    metric_direction: str = "lower",
    label_completeness: float = 0.0,
    min_label_completeness: float = DEFAULT_MIN_LABEL_COMPLETENESS,
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
    if cfg.on_performance and live is not None:
        if label_completeness < min_label_completeness:
            d.reasons.append(f"performance not judged: labels {label_completeness:.0%} complete < {min_label_completeness:.0%}")
        elif performance_alerts:
            # Through the alert policy (N of M windows), like drift: one bad
            # week of noise does not retrain.
            d.triggers.append("performance")
            d.reasons.append(f"performance alert: {'; '.join(performance_alerts)}")
        elif (breach := performance_breach(live, reference, metric_direction, cfg, metric=metric)) is not None:
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


def decide_rollback(
    live: float | None,
    promoted: float | None,
    label_completeness: float,
    metric_direction: str,
    cfg: RetrainingConfig,
    metric: str = "primary metric",
    *,
    min_label_completeness: float = DEFAULT_MIN_LABEL_COMPLETENESS,
) -> str | None:
    """A reason to roll back automatically, or None: the live ``metric`` worse
    than the promoted version's holdout value by more than ``cfg.rollback_degradation``."""
    if not cfg.auto_rollback or live is None or promoted is None:
        return None
    if label_completeness < min_label_completeness:
        return None
    if relative_degradation(metric_direction, live, promoted) > cfg.rollback_degradation:
        how = describe_direction(metric_direction)
        return (
            f"live {metric} {live:.3f} is worse than the promoted version's holdout {metric} {promoted:.3f} by more than {cfg.rollback_degradation:.0%} ({how})"
        )
    return None
