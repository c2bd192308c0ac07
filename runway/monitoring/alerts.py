"""Alert policy: turn per-window breaches into the few alerts worth a page.

A monitoring run produces *breaches* (a feature or metric over a threshold in
this window). An *alert* is raised only when

1. **N of the last M windows** breach: the key (e.g. ``drift:<feature>``) breached
   at that severity or higher in at least ``policy.breaches_required`` of the
   last ``policy.window_count`` windows, this one included, and this window
   breaches (a feature that has recovered raises nothing);
2. **not in cooldown / not a duplicate**: no alert with the same key and the
   same or a higher severity was raised in this window or in the previous
   ``policy.cooldown_windows`` windows. An escalation (warn -> alert) is not
   held back by a warn in cooldown.

So one noisy window never pages anyone, a persistent shift pages once, and a
shift that lasts pages again only after the cooldown.

State is an append-only JSONL file (``AlertLog``): one ``window`` record per
evaluated window (with its breaches, so clean windows count too), one ``alert``
record per raised alert, one ``delivery`` record per webhook call. Lines are
never rewritten; appends hold a file lock and are flushed and fsynced.
Windows are ordered by when they were first recorded. In a fleet each tenant
has its own log (``<use case>/tenants/<tenant>/alerts.jsonl``) and its
breaches carry the tenant in their key: the last M windows are the
tenant's own, never another tenant's. Re-running a window is
idempotent: its latest record replaces the earlier one, and alerts already
raised for it are not raised again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from filelock import FileLock

from runway.config import AlertPolicyConfig
from runway.monitoring.drift import SEVERITY_RANK, DriftResult

logger = logging.getLogger(__name__)

BreachSeverity = Literal["warn", "alert"]
LOG_VERSION = 1


def _key(tenant: str | None, kind: str, feature: str) -> str:
    return f"{tenant}:{kind}:{feature}" if tenant else f"{kind}:{feature}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass(frozen=True)
class Breach:
    """One key over a threshold in one window.

    ``kind`` groups keys: ``drift`` (a feature), ``schema``, ``performance``
    (e.g. ``wape``), ``data_quality``. The de-duplication key is
    ``kind:feature``, or ``tenant:kind:feature`` in a fleet, so tenants never
    share N-of-M counts or cooldowns.
    """

    feature: str
    severity: BreachSeverity
    value: float | None = None
    threshold: float | None = None
    detail: str = ""
    kind: str = "drift"
    tenant: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in ("warn", "alert"):
            raise ValueError(f"breach of '{self.feature}': severity must be 'warn' or 'alert', got {self.severity!r}")
        if not self.feature:
            raise ValueError("breach needs a feature/metric name")

    @property
    def key(self) -> str:
        return _key(self.tenant, self.kind, self.feature)

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Breach:
        return cls(**{k: d[k] for k in ("feature", "severity", "value", "threshold", "detail", "kind", "tenant") if k in d})


@dataclass(frozen=True)
class Alert:
    window_id: str
    feature: str
    kind: str
    severity: BreachSeverity
    breaches_in_window: int  # N: windows (of the last M) in which the key breached
    window_count: int  # M
    value: float | None = None
    threshold: float | None = None
    detail: str = ""
    raised_at: str = field(default_factory=_now)
    tenant: str | None = None

    @property
    def key(self) -> str:
        return _key(self.tenant, self.kind, self.feature)

    @property
    def message(self) -> str:
        head = f"[{self.severity.upper()}] {f'tenant {self.tenant}: ' if self.tenant else ''}{self.kind} {self.feature}"
        body = f" in window {self.window_id}: breached in {self.breaches_in_window} of the last {self.window_count} windows"
        return head + body + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {**{k: _clean(v) for k, v in asdict(self).items()}, "key": self.key, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        names = ("window_id", "feature", "kind", "severity", "breaches_in_window", "window_count", "value", "threshold", "detail", "raised_at", "tenant")
        return cls(**{k: d[k] for k in names if k in d})


@dataclass(frozen=True)
class WindowRecord:
    window_id: str
    breaches: tuple[Breach, ...]
    recorded_at: str

    def severity_of(self, key: str) -> int:
        """Rank of the key's worst breach in this window (0 = none)."""
        return max((SEVERITY_RANK[b.severity] for b in self.breaches if b.key == key), default=0)


# ------------------------------------------------------------------ log ---


class AlertLog:
    """Append-only JSONL alert history at ``path`` (created on first append).

    A lock file ``<path>.lock`` serialises writers (and ``process_window``'s
    read-decide-append) across processes on one host.
    """

    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"AlertLog({str(self.path)!r})"

    @contextmanager
    def locked(self) -> Iterator[AlertLog]:
        """Hold the log's lock (re-entrant within this object)."""
        with self._lock:
            yield self

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        lines = []
        for r in records:
            if "type" not in r:
                raise ValueError(f"log record needs a 'type': {dict(r)!r}")
            lines.append(json.dumps({"v": LOG_VERSION, **r}, sort_keys=True, allow_nan=False, default=str))
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            # A writer that died mid-line left no newline: start on a fresh line
            # so the next record is not glued to the broken one.
            prefix = ""
            if self.path.exists() and self.path.stat().st_size > 0:
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        prefix = "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(prefix + "\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def read(self) -> list[dict[str, Any]]:
        """Every well-formed record in order; a broken line is skipped with a
        warning naming its line number (a crash mid-append leaves one)."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or "type" not in rec:
                        raise ValueError("not a record object")
                except ValueError as exc:
                    warnings.warn(f"{self.path}:{no}: skipping unreadable alert-log line ({exc})", RuntimeWarning, stacklevel=2)
                    continue
                out.append(rec)
        return out

    def windows(self) -> list[WindowRecord]:
        """Evaluated windows in first-recorded order; a re-recorded window keeps
        its position and takes its latest breaches."""
        latest: dict[str, WindowRecord] = {}
        for r in self.read():
            if r["type"] == "window":
                wid = str(r["window_id"])
                rec = WindowRecord(wid, tuple(Breach.from_dict(b) for b in r.get("breaches", [])), r.get("recorded_at", ""))
                latest[wid] = rec  # dict keeps the first insertion position
        return list(latest.values())

    def alerts(self) -> list[Alert]:
        return [Alert.from_dict(r) for r in self.read() if r["type"] == "alert"]

    def last_windows(self, m: int, exclude: str | None = None) -> list[WindowRecord]:
        """The ``m`` most recent windows (oldest first), without ``exclude``."""
        ws = [w for w in self.windows() if w.window_id != exclude]
        return ws[-m:] if m > 0 else []

    def latest_windows_per_key(self, m: int) -> dict[str, list[tuple[str, str]]]:
        """For each key that breached in the last ``m`` windows: its
        ``(window_id, worst severity)`` pairs, oldest first."""
        out: dict[str, list[tuple[str, str]]] = {}
        for w in self.last_windows(m):
            worst: dict[str, str] = {}
            for b in w.breaches:
                if SEVERITY_RANK[b.severity] > SEVERITY_RANK.get(worst.get(b.key, "ok"), 0):
                    worst[b.key] = b.severity
            for key, sev in worst.items():
                out.setdefault(key, []).append((w.window_id, sev))
        return out

    def record_window(self, window_id: str, breaches: Sequence[Breach], alerts: Sequence[Alert] = ()) -> None:
        recs: list[dict[str, Any]] = [{"type": "window", "window_id": str(window_id), "recorded_at": _now(), "breaches": [b.to_dict() for b in breaches]}]
        recs += [{"type": "alert", **a.to_dict()} for a in alerts]
        self.append(recs)


# --------------------------------------------------------------- policy ---


def _dedupe(breaches: Iterable[Breach]) -> dict[str, Breach]:
    """One breach per key: the most severe (first wins on a tie)."""
    out: dict[str, Breach] = {}
    for b in breaches:
        if not isinstance(b, Breach):
            raise TypeError(f"expected Breach, got {type(b).__name__}")
        if b.key not in out or SEVERITY_RANK[b.severity] > SEVERITY_RANK[out[b.key].severity]:
            out[b.key] = b
    return out


def evaluate_alerts(window_id: str, breaches: Sequence[Breach], log: AlertLog, policy: AlertPolicyConfig) -> list[Alert]:
    """Alerts to raise for ``window_id`` given its breaches and the history in
    ``log`` (see the module docstring). Pure: reads the log, writes nothing;
    call ``log.record_window`` (or use ``process_window``) afterwards."""
    window_id = str(window_id)
    n_req, m = policy.breaches_required, policy.window_count
    history = [w for w in log.windows() if w.window_id != window_id]
    previous = history[-(m - 1) :] if m > 1 else []
    cooldown_ids = {w.window_id for w in (history[-policy.cooldown_windows :] if policy.cooldown_windows else [])}
    cooldown_ids.add(window_id)  # re-running a window never re-raises its alerts
    recent_alerts = [a for a in log.alerts() if a.window_id in cooldown_ids]

    raised: list[Alert] = []
    for key, b in _dedupe(breaches).items():
        level, count = None, 0
        for lv in ("alert", "warn"):  # the highest level that meets N of M
            rank = SEVERITY_RANK[lv]
            if SEVERITY_RANK[b.severity] < rank:
                continue
            count = 1 + sum(1 for w in previous if w.severity_of(key) >= rank)
            if count >= n_req:
                level = lv
                break
        if level is None:
            continue
        if any(a.key == key and SEVERITY_RANK[a.severity] >= SEVERITY_RANK[level] for a in recent_alerts):
            continue  # in cooldown, or already raised for this window
        raised.append(Alert(window_id, b.feature, b.kind, level, count, m, b.value, b.threshold, b.detail, tenant=b.tenant))  # type: ignore[arg-type]
    return raised


# -------------------------------------------------------------- webhook ---


@dataclass(frozen=True)
class WebhookResult:
    sent: bool
    ok: bool
    status: int | None = None
    error: str | None = None


def redact_url(url: str) -> str:
    """scheme://host/… : webhook paths and queries often hold the secret."""
    try:
        p = urllib.parse.urlsplit(url)
        return f"{p.scheme}://{p.hostname or ''}{':' + str(p.port) if p.port else ''}/…"
    except ValueError:
        return "<unparseable url>"


def webhook_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """JSON body: ``text`` (works as a Slack/Teams incoming-webhook message)
    plus the structured alerts."""
    worst = max((a.severity for a in alerts), key=lambda s: SEVERITY_RANK[s], default="warn")
    lines = [f"Runway monitoring: {len(alerts)} alert(s), worst {worst}"] + [f"• {a.message}" for a in alerts]
    return {"source": "runway", "text": "\n".join(lines), "alerts": [a.to_dict() for a in alerts]}


def send_webhook(url: str | None, alerts: Sequence[Alert], timeout: float = 5.0) -> WebhookResult:
    """POST the alerts as JSON. Never raises: failures come back in the result
    (and are logged with the URL redacted) so a dead webhook cannot fail a
    monitoring run. Nothing is sent without alerts or without a URL."""
    if not alerts:
        return WebhookResult(sent=False, ok=True)
    if not url:
        return WebhookResult(sent=False, ok=False, error="no webhook_url configured")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        # urllib would happily open file:// or ftp:// URLs.
        return WebhookResult(sent=False, ok=False, error=f"webhook URL scheme must be http or https, got {scheme!r}")
    try:
        body = json.dumps(webhook_payload(alerts), allow_nan=False, default=str).encode()
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "runway-alerts/1"})  # noqa: S310 - scheme checked above: http(s) only
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            status = int(resp.status)
        ok = 200 <= status < 300
        if not ok:
            logger.warning("webhook %s answered HTTP %s", redact_url(url), status)
        return WebhookResult(sent=True, ok=ok, status=status, error=None if ok else f"HTTP {status}")
    except urllib.error.HTTPError as exc:
        logger.warning("webhook %s answered HTTP %s", redact_url(url), exc.code)
        return WebhookResult(sent=True, ok=False, status=exc.code, error=f"HTTP {exc.code}: {exc.reason}")
    except Exception as exc:  # noqa: BLE001 - URLError, timeout, DNS, TLS, ...: report, never crash
        reason = getattr(exc, "reason", exc)
        logger.warning("webhook %s failed: %s", redact_url(url), reason)
        return WebhookResult(sent=False, ok=False, error=f"{type(exc).__name__}: {reason}")


@dataclass(frozen=True)
class WindowOutcome:
    alerts: list[Alert]
    webhook: WebhookResult


def process_window(
    window_id: str, breaches: Sequence[Breach], log: AlertLog, policy: AlertPolicyConfig, *, send: bool = True, timeout: float = 5.0
) -> WindowOutcome:
    """Evaluate, record and (optionally) send, in one call: the read-decide-
    append runs under the log's lock so two concurrent runs cannot both raise
    the same alert; the webhook is called after the lock is released, and its
    outcome is appended as a ``delivery`` record."""
    with log.locked():
        alerts = evaluate_alerts(window_id, breaches, log, policy)
        log.record_window(window_id, breaches, alerts)
    result = send_webhook(policy.webhook_url, alerts, timeout) if send else WebhookResult(sent=False, ok=True)
    if alerts and send:
        log.append(
            [
                {
                    "type": "delivery",
                    "window_id": str(window_id),
                    "at": _now(),
                    "sent": result.sent,
                    "ok": result.ok,
                    "status": result.status,
                    "error": result.error,
                }
            ]
        )
    return WindowOutcome(alerts, result)


# ------------------------------------------------------------- breaches ---


def breaches_from_drift(result: DriftResult) -> list[Breach]:
    """One breach per flagged feature (value: PSI for numeric, JS for
    categorical features) and per flagged schema change of a column without a
    feature row (a missing feature is already a feature breach)."""
    out: list[Breach] = []
    th = result.thresholds
    for f in result.features:
        if f.severity == "ok":
            continue
        if f.kind == "numeric":
            value, thr = f.psi, th.get("psi_alert" if f.severity == "alert" else "psi_warn")
        else:
            value, thr = f.js, th.get("js_alert")
        out.append(Breach(f.feature, f.severity, _clean(value), thr, "; ".join(f.reasons), "drift"))
    covered = {f.feature for f in result.features}
    for s in result.schema_changes:
        if s.severity != "ok" and s.column not in covered:
            out.append(Breach(s.column, s.severity, None, None, s.describe(), "schema"))
    return out


def threshold_breach(name: str, value: float, alert_above: float, warn_above: float | None = None, kind: str = "performance") -> Breach | None:
    """A breach when ``value`` exceeds a limit, e.g. ``threshold_breach("wape",
    0.41, settings.monitoring.retraining.max_wape)``; None otherwise."""
    if value is None or not math.isfinite(value):
        return None
    if value > alert_above:
        return Breach(name, "alert", value, alert_above, f"{name} {value:.4g} > {alert_above:g}", kind)
    if warn_above is not None and value > warn_above:
        return Breach(name, "warn", value, warn_above, f"{name} {value:.4g} > {warn_above:g}", kind)
    return None


# ----------------------------------------------------------- seasonality ---


@dataclass(frozen=True)
class SeasonalReference:
    frame: pd.DataFrame
    start: date
    end: date
    kind: Literal["seasonal", "trailing"]
    note: str


def seasonal_reference_window(
    history: pd.DataFrame,
    window_start: date | str | pd.Timestamp,
    window_end: date | str | pd.Timestamp,
    *,
    timestamp_col: str = "date",
    season_days: int = 364,
    pad_days: int = 0,
    min_coverage: float = 0.8,
    fallback_days: int = 28,
) -> SeasonalReference:
    """Reference rows for the current window ``[window_start, window_end]``
    (inclusive days) that carry the same expected seasonality.

    Retail demand has yearly seasonality (Christmas, summer, Easter):
    comparing December sales against an October reference reports "drift" the
    business expects. So the reference is the same days one season earlier:
    ``season_days=364`` (52 weeks, so weekdays line up too), widened by
    ``pad_days`` on each side for more rows. If the history covers fewer than
    ``min_coverage`` of those days (less than a year of data), it falls back to
    the ``fallback_days`` days just before the window, and says so in
    ``note`` -- show that in the report, since that comparison includes
    seasonal change.
    """
    if timestamp_col not in history.columns:
        raise ValueError(f"history has no timestamp column '{timestamp_col}' (columns: {list(history.columns)})")
    start, end = pd.Timestamp(window_start).normalize(), pd.Timestamp(window_end).normalize()
    if end < start:
        raise ValueError(f"window_end {end.date()} is before window_start {start.date()}")
    if season_days < 1 or fallback_days < 1 or pad_days < 0 or not 0 < min_coverage <= 1:
        raise ValueError("need season_days >= 1, fallback_days >= 1, pad_days >= 0, 0 < min_coverage <= 1")
    ts = pd.to_datetime(history[timestamp_col])
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(None)
    days = ts.dt.normalize()

    s_start = start - timedelta(days=season_days + pad_days)
    s_end = end - timedelta(days=season_days - pad_days)
    mask = (days >= s_start) & (days <= s_end)
    expected = (s_end - s_start).days + 1
    covered = days[mask].nunique()
    if covered / expected >= min_coverage:
        return SeasonalReference(
            history.loc[mask], s_start.date(), s_end.date(), "seasonal", f"same {expected} days {season_days} days earlier ({covered}/{expected} days present)"
        )

    t_start, t_end = start - timedelta(days=fallback_days), start - timedelta(days=1)
    mask = (days >= t_start) & (days <= t_end)
    if not mask.any():
        raise ValueError(
            f"no reference rows: history has neither {s_start.date()}..{s_end.date()} (seasonal) "
            f"nor {t_start.date()}..{t_end.date()} (trailing) in column '{timestamp_col}'"
        )
    return SeasonalReference(
        history.loc[mask],
        t_start.date(),
        t_end.date(),
        "trailing",
        f"only {covered}/{expected} days of the seasonal window {s_start.date()}..{s_end.date()} in history; "
        f"using the {fallback_days} days before the window, which includes seasonal change",
    )
