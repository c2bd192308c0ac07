"""Seeded simulator of a subscription business: the stand-in for a CRM export.

Every week (on the batch date, a Monday by default) the business takes a
snapshot: one row per active customer with their plan, contract type,
tenure, monthly charges and the week's usage hours, support tickets and
payment failures. The label ``churned_30d`` says whether the customer
cancels within ``churn_window_days`` (30) days after the snapshot; it can
only be known that long after it, so history rows carry ``recorded_at`` =
snapshot + ``schedule.label_delay_days``.

Raw layout (stream names from the use case's ``streams``):

* ``<raw>/<history>/batch=<snapshot date>.parquet``: the snapshot with its
  label and ``recorded_at``;
* ``<raw>/<scoring>/batch=<snapshot date>.parquet``: the same rows, label
  unknown (NaN): what the model scores.

The process, per customer and week:

* engagement ``e`` is a mean-reverting AR(1) process; weekly usage is the
  customer's base usage (by plan) x ``exp(e)`` x noise;
* support tickets are Poisson, more frequent when engagement is low; a
  minority of customers has frequent payment failures;
* a customer not yet leaving decides to cancel with a weekly probability
  ``sigmoid(logit)``; the logit rises with low engagement and falling usage
  (against the customer's own last four weeks), low base usage, recent
  tickets and payment failures, short tenure, a month-to-month contract and
  a recent price increase; the cancellation takes effect 1-30 days later,
  and usage drops in the weeks in between;
* cancelled customers leave; new ones join every week (Poisson).

Every draw comes from a generator keyed by (seed, week, purpose), so the
same seed gives the same data, and a scenario changes nothing before the
week it starts. Scenarios (from ``drift_from`` on):

``price_increase``
    every plan's charges rise by ``price_increase`` and churn rises with it;
``competitor``
    a competitor launches in one region (the second configured): churn
    there rises while the inputs look the same (concept drift);
``missing_values``
    20% of the usage hours go missing (a broken usage feed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from runway.config.schema import ScheduleConfig

Scenario = Literal["none", "price_increase", "competitor", "missing_values"]
# SCENARIOS[1] is the main drift scenario.
SCENARIOS: tuple[str, ...] = ("none", "price_increase", "competitor", "missing_values")

PLANS = ("basic", "standard", "premium")
PLAN_PRICE = np.array([19.99, 34.99, 54.99])
PLAN_USAGE_HOURS = np.array([4.0, 8.0, 13.0])  # weekly, median customer
CONTRACTS = ("month_to_month", "one_year")
TIMESTAMP, KEY, TARGET, RECORDED_AT = "snapshot_date", "customer_id", "churned_30d", "recorded_at"

# Weekly cancellation logit: intercept and weights (see the module docstring).
LOGIT = {
    "intercept": -5.4,
    "low_engagement": 1.1,  # x -e
    "falling_usage": 1.4,  # x max(0, mean(e of last 4 weeks) - e)
    "low_base_usage": 0.5,  # x -log(base / plan median) / 0.5
    "tickets_4w": 0.3,  # per ticket in the last 4 weeks
    "payment_failures_4w": 0.55,  # per failure in the last 4 weeks
    "new_customer": 1.0,  # x exp(-tenure_months / 6)
    "month_to_month": 0.8,
    "price_increase": 7.0,  # x log(charges now / charges 12 weeks ago)
    "competitor": 1.0,
}
ENGAGEMENT_AR, ENGAGEMENT_SD = 0.85, 0.22
LEAVING_USAGE = 0.55  # usage multiplier between the decision and the cancellation
DAYS_PER_MONTH = 30.44
# Weeks simulated before the first snapshot, so the first weeks already have
# customers on their way out (and labels at the steady-state rate).
BURN_IN_WEEKS = 8


class SimulationConfig(BaseModel):
    """Knobs of the churn simulator (the use case's ``simulation:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customers: int = Field(2000, ge=20, le=5_000_000)
    regions: list[str] = Field(default_factory=lambda: ["north", "south", "east", "west"], min_length=1)
    region_weights: list[float] | None = None
    plan_weights: list[float] = Field(default_factory=lambda: [0.45, 0.35, 0.20], min_length=3, max_length=3)
    month_to_month_share: float = Field(0.6, ge=0, le=1)
    start: date = date(2024, 1, 1)
    history_weeks: int = Field(60, ge=8, le=1040)
    live_weeks: int = Field(3, ge=1, le=52)
    # New customers per week, as a share of ``customers``.
    weekly_signup_rate: float = Field(0.016, ge=0, le=1)
    # The label: cancels within this many days after the snapshot.
    churn_window_days: int = Field(30, ge=1, le=365)
    # Share of customers with frequent payment failures.
    risky_payer_share: float = Field(0.12, ge=0, le=1)
    # Relative charge increase of the price_increase scenario.
    price_increase: float = Field(0.15, ge=0, le=2)
    seed: int = 11

    @field_validator("plan_weights", "region_weights")
    @classmethod
    def _weights(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (any(w < 0 for w in v) or sum(v) <= 0):
            raise ValueError("weights must be non-negative and not all zero")
        return v

    def region_probabilities(self) -> np.ndarray:
        w = np.ones(len(self.regions)) if self.region_weights is None else np.asarray(self.region_weights, float)
        if len(w) != len(self.regions):
            raise ValueError(f"region_weights has {len(w)} entries for {len(self.regions)} regions")
        return w / w.sum()


def check_schedule(cfg: SimulationConfig, schedule: ScheduleConfig) -> None:
    """The simulator snapshots weekly, and a label cannot be recorded before it is known."""
    if schedule.batch_days != 7:
        raise ValueError(f"the churn simulator takes weekly snapshots: schedule.batch_days must be 7, got {schedule.batch_days}")
    if schedule.label_delay_days < cfg.churn_window_days:
        raise ValueError(
            f"schedule.label_delay_days ({schedule.label_delay_days}) is shorter than simulation.churn_window_days "
            f"({cfg.churn_window_days}): labels would be recorded before they are known"
        )


def snapshot_date(cfg: SimulationConfig, week: int) -> date:
    return cfg.start + timedelta(days=7 * week)


def history_end(cfg: SimulationConfig) -> date:
    """The first live snapshot (the first day after the history)."""
    return snapshot_date(cfg, cfg.history_weeks)


def week_index(cfg: SimulationConfig, day: date) -> int:
    offset = (day - cfg.start).days
    if offset < 0 or offset % 7:
        raise ValueError(f"{day} is not a snapshot date (weekly from {cfg.start})")
    return offset // 7


# -------------------------------------------------------------- simulation --

_PURPOSE = {"signup": 1, "profile": 2, "engagement": 3, "usage": 4, "tickets": 5, "payments": 6, "decision": 7, "notice": 8, "missing": 9}


def _rng(cfg: SimulationConfig, week: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, week + BURN_IN_WEEKS, _PURPOSE[purpose]])


@dataclass
class _Customers:
    """Per-customer state; arrays grow as customers join (index = customer number)."""

    signup: np.ndarray = field(default_factory=lambda: np.empty(0, "datetime64[D]"))
    signup_week: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    plan: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    month_to_month: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    region: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    addon: np.ndarray = field(default_factory=lambda: np.empty(0))
    base_usage: np.ndarray = field(default_factory=lambda: np.empty(0))
    ticket_rate: np.ndarray = field(default_factory=lambda: np.empty(0))
    failure_rate: np.ndarray = field(default_factory=lambda: np.empty(0))
    engagement: np.ndarray = field(default_factory=lambda: np.empty(0))
    cancel: np.ndarray = field(default_factory=lambda: np.empty(0, "datetime64[D]"))

    def __len__(self) -> int:
        return len(self.plan)

    def add(self, cfg: SimulationConfig, rng: np.random.Generator, n: int, week: int, today: date, initial: bool) -> None:
        if n == 0:
            return
        plan = rng.choice(3, n, p=np.asarray(cfg.plan_weights) / sum(cfg.plan_weights))
        # The initial base has signed up over the past years; newcomers this week.
        tenure_days = np.minimum(rng.exponential(700.0, n), 6 * 365).astype(int) if initial else rng.integers(0, 7, n)
        base = PLAN_USAGE_HOURS[plan] * rng.lognormal(0.0, 0.5, n)
        risky = rng.random(n) < cfg.risky_payer_share
        fields = {
            "signup": np.datetime64(today, "D") - tenure_days.astype("timedelta64[D]"),
            "signup_week": np.full(n, week),
            "plan": plan,
            "month_to_month": rng.random(n) < (cfg.month_to_month_share if initial else min(1.0, cfg.month_to_month_share + 0.15)),
            "region": rng.choice(len(cfg.regions), n, p=cfg.region_probabilities()),
            "addon": np.round(rng.uniform(0.0, 0.3, n), 2),
            "base_usage": base,
            "ticket_rate": rng.lognormal(np.log(0.06), 0.6, n),
            "failure_rate": np.where(risky, rng.uniform(0.06, 0.2, n), 0.004),
            "engagement": rng.normal(0.0, ENGAGEMENT_SD / np.sqrt(1 - ENGAGEMENT_AR**2), n),
            "cancel": np.full(n, np.datetime64("NaT"), "datetime64[D]"),
        }
        for name, values in fields.items():
            setattr(self, name, np.concatenate([getattr(self, name), values]))


def _grow(a: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    return np.concatenate([a, np.full(n - len(a), fill, a.dtype)]) if len(a) < n else a


def simulate(cfg: SimulationConfig, weeks: int, scenario: Scenario = "none", drift_week: int | None = None) -> pd.DataFrame:
    """All snapshots of weeks ``0 .. weeks-1``, with the true label.

    The process runs ``churn_window_days`` past the last snapshot, so every
    label is complete. A scenario applies from ``drift_week`` on (default: 0).
    The same configuration always gives the same frame, and weeks before
    ``drift_week`` do not depend on the scenario.
    """
    if weeks <= 0:
        raise ValueError(f"weeks must be positive, got {weeks}")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    drift_week = 0 if drift_week is None else drift_week
    competitor_region = 1 % len(cfg.regions)
    run_weeks = weeks + -(-cfg.churn_window_days // 7) + 1
    first = -BURN_IN_WEEKS
    people = _Customers()
    people.add(cfg, _rng(cfg, first, "profile"), cfg.customers, first, snapshot_date(cfg, first), initial=True)
    # Last four weeks' engagement, tickets and failures (rolling, per customer).
    e_hist = np.zeros((4, 0))
    t_hist = np.zeros((4, 0))
    f_hist = np.zeros((4, 0))
    frames = []
    for k in range(first, run_weeks):
        today = snapshot_date(cfg, k)
        t64 = np.datetime64(today, "D")
        if k > first:
            n_new = int(_rng(cfg, k, "signup").poisson(cfg.weekly_signup_rate * cfg.customers))
            people.add(cfg, _rng(cfg, k, "profile"), n_new, k, today, initial=False)
        n = len(people)
        e_hist, t_hist, f_hist = (np.vstack([_grow(r, n) for r in h]) for h in (e_hist, t_hist, f_hist))
        drifted = scenario != "none" and k >= drift_week

        if k > first:
            people.engagement = ENGAGEMENT_AR * people.engagement + _rng(cfg, k, "engagement").normal(0.0, ENGAGEMENT_SD, n)
        e = people.engagement
        leaving = ~np.isnat(people.cancel)
        active = (people.signup_week <= k) & (np.isnat(people.cancel) | (people.cancel > t64))

        usage = people.base_usage * np.exp(e) * _rng(cfg, k, "usage").gamma(12.0, 1 / 12.0, n)
        usage = np.round(np.minimum(np.where(leaving, usage * LEAVING_USAGE, usage), 168.0), 1)  # hours in a week
        tickets = _rng(cfg, k, "tickets").poisson(people.ticket_rate * (1.0 + 1.5 * np.clip(-e, 0, None)) * np.where(leaving, 2.0, 1.0))
        failures = _rng(cfg, k, "payments").poisson(people.failure_rate)

        tenure_months = ((t64 - people.signup).astype(int) // DAYS_PER_MONTH).astype(int)
        # The simulator's only price change is the scenario's; customers
        # compare today's charges with those of 12 weeks ago (or their first week).
        raised = scenario == "price_increase"
        mult_now = 1.0 + cfg.price_increase if raised and k >= drift_week else 1.0
        mult_then = np.where(raised & (np.maximum(k - 12, people.signup_week) >= drift_week), 1.0 + cfg.price_increase, 1.0)
        charges = np.round(PLAN_PRICE[people.plan] * (1.0 + people.addon) * mult_now, 2)
        price_change = np.log(mult_now / mult_then)

        seen = np.clip(k - people.signup_week, 0, 4)  # weeks of own history (at most 4)
        mean_e = np.where(seen > 0, e_hist.sum(axis=0) / np.maximum(seen, 1), e)
        t4, f4 = t_hist.sum(axis=0) + tickets, f_hist.sum(axis=0) + failures
        logit = (
            LOGIT["intercept"]
            + LOGIT["low_engagement"] * -e
            + LOGIT["falling_usage"] * np.clip(mean_e - e, 0, None)
            + LOGIT["low_base_usage"] * -np.log(people.base_usage / PLAN_USAGE_HOURS[people.plan]) / 0.5
            + LOGIT["tickets_4w"] * t4
            + LOGIT["payment_failures_4w"] * f4
            + LOGIT["new_customer"] * np.exp(-tenure_months / 6.0)
            + LOGIT["month_to_month"] * people.month_to_month
            + LOGIT["price_increase"] * price_change
        )
        if scenario == "competitor" and drifted:
            logit = logit + LOGIT["competitor"] * (people.region == competitor_region)
        decide = active & ~leaving & (_rng(cfg, k, "decision").random(n) < 1.0 / (1.0 + np.exp(-logit)))
        notice = _rng(cfg, k, "notice").integers(1, cfg.churn_window_days + 1, n).astype("timedelta64[D]")
        people.cancel = np.where(decide, t64 + notice, people.cancel)

        if 0 <= k < weeks:
            idx = np.flatnonzero(active)
            frame = pd.DataFrame(
                {
                    TIMESTAMP: pd.Timestamp(today, tz="UTC"),
                    KEY: np.char.add("C", np.char.zfill(idx.astype(str), 6)),
                    "region": np.asarray(cfg.regions, dtype=object)[people.region[idx]],
                    "subscription_plan": np.asarray(PLANS, dtype=object)[people.plan[idx]],
                    "contract_type": np.where(people.month_to_month[idx], CONTRACTS[0], CONTRACTS[1]).astype(object),
                    "tenure_months": tenure_months[idx].astype("int64"),
                    "monthly_charges": charges[idx],
                    "usage_hours": usage[idx],
                    "support_tickets": tickets[idx].astype("int64"),
                    "payment_failures": failures[idx].astype("int64"),
                    "_cancel": people.cancel[idx],
                }
            )
            if scenario == "missing_values" and drifted:
                frame.loc[_rng(cfg, k, "missing").random(len(frame)) < 0.2, "usage_hours"] = np.nan
            frames.append(frame)
        # Roll the four-week windows: row k % 4 now holds this week.
        for hist, now in ((e_hist, e), (t_hist, tickets), (f_hist, failures)):
            hist[k % 4] = now
    out = pd.concat(frames, ignore_index=True)
    out[TIMESTAMP] = out[TIMESTAMP].astype("datetime64[ns, UTC]")
    snap = out[TIMESTAMP].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    cancel = out.pop("_cancel").to_numpy()
    within = ~np.isnat(cancel) & (cancel > snap) & (cancel <= snap + np.timedelta64(cfg.churn_window_days, "D"))
    out[TARGET] = within.astype(float)
    return out


# ----------------------------------------------------------------- writing --


def with_recorded_at(frame: pd.DataFrame, schedule: ScheduleConfig) -> pd.DataFrame:
    """History rows: the label is recorded ``label_delay_days`` after the snapshot."""
    return frame.assign(**{RECORDED_AT: frame[TIMESTAMP] + pd.Timedelta(days=schedule.label_delay_days)})


def scoring_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows to score: the snapshot without its (future) label."""
    return frame.assign(**{TARGET: np.nan})
