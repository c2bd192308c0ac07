"""The use cases' simulators, through their plug-in hooks: deterministic per
seed, the documented raw layout, labels never recorded before they are
known, and (churn) a plausible positive rate and drift scenarios."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from runway.config import load_settings
from runway.plugins import load_plugin
from usecases.churn import simulate as churn_sim

pytestmark = pytest.mark.unit

SMALL = {
    "retail_demand": {"stores": 2, "items": 3, "history_days": 56},
    "churn": {"customers": 200, "history_weeks": 10},
}
BATCH = "batch=????-??-??.parquet"


def settings_for(use_case: str, **simulation):
    return load_settings(use_case, overrides={"simulation": {**SMALL[use_case], **simulation}})


def run(use_case: str, raw: Path, scenario: str = "none", weeks: int = 2, **simulation):
    s = settings_for(use_case, **simulation)
    p = load_plugin(s)
    assert p.hook("ensure_history")(raw, s) is True
    starts = p.hook("live_batch_dates")(s, weeks)
    assert p.hook("write_live_batches")(raw, s, starts, scenario) == starts
    return s, p, starts


def read_stream(raw: Path, stream: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f).assign(_batch=f.name) for f in sorted((raw / stream).glob("*.parquet"))], ignore_index=True)


def files(raw: Path) -> dict[str, bytes]:
    return {str(f.relative_to(raw)): f.read_bytes() for f in sorted(raw.rglob("*.parquet"))}


@pytest.mark.parametrize("use_case", ["retail_demand", "churn"])
def test_deterministic_per_seed(use_case, tmp_path):
    run(use_case, tmp_path / "a")
    run(use_case, tmp_path / "b")
    run(use_case, tmp_path / "c", seed=12345)
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b  # same seed: the same bytes
    assert a.keys() == c.keys() and any(a[k] != c[k] for k in a)  # another seed: other data


@pytest.mark.parametrize("use_case", ["retail_demand", "churn"])
def test_layout_and_hooks(use_case, tmp_path):
    raw = tmp_path / "raw"
    s, p, starts = run(use_case, raw)
    hist, scoring = s.streams.history, s.streams.scoring
    assert sorted(d.name for d in raw.iterdir()) == sorted([hist, scoring])
    for stream in (hist, scoring):
        names = [f.name for f in (raw / stream).iterdir()]
        assert names and all(Path(n).match(BATCH) for n in names), names  # no temp files left behind
        for n in names:
            date.fromisoformat(n.removeprefix("batch=").removesuffix(".parquet"))
    # Scoring batches are exactly the live dates, one batch every batch_days.
    assert sorted(f.name for f in (raw / scoring).iterdir()) == [f"batch={d.isoformat()}.parquet" for d in starts]
    assert all((b - a).days == s.schedule.batch_days for a, b in itertools.pairwise(starts))
    assert starts == p.hook("live_batch_dates")(s, 2)
    assert len(p.hook("live_batch_dates")(s)) == p.simulation_config(s).live_weeks
    # History covers the simulated past and the live weeks' late labels.
    hist_dates = sorted(date.fromisoformat(f.name[6:16]) for f in (raw / hist).iterdir())
    assert hist_dates[-len(starts) :] == starts and hist_dates[0] < starts[0]

    labelled, to_score = read_stream(raw, hist), read_stream(raw, scoring)
    columns = set(s.contract.columns)
    assert set(labelled.columns) == columns | {"recorded_at", "_batch"}
    assert set(to_score.columns) == columns | {"_batch"}
    assert to_score[s.target].isna().all() and labelled[s.target].notna().all()
    # Rows of a batch belong to it: batch date <= timestamp < batch date + batch_days.
    for frame in (labelled, to_score):
        batch = pd.to_datetime(frame["_batch"].str[6:16], utc=True)
        ts = frame[s.timestamp]
        assert ((ts >= batch) & (ts < batch + pd.Timedelta(days=s.schedule.batch_days))).all()
    # Written batches are left alone; unknown scenarios are refused.
    assert p.hook("write_live_batches")(raw, s, starts, "none") == []
    with pytest.raises(ValueError, match="unknown scenario"):
        p.hook("write_live_batches")(raw, s, p.hook("live_batch_dates")(s, 3)[2:], "no_such_scenario")
    assert p.hook("ensure_history")(raw, s) is False
    assert p.hook("SCENARIOS")[0] == "none"


@pytest.mark.parametrize("use_case", ["retail_demand", "churn"])
def test_labels_are_never_recorded_before_they_are_known(use_case, tmp_path):
    raw = tmp_path / "raw"
    s, _, _ = run(use_case, raw)
    labelled = read_stream(raw, s.streams.history)
    delay = pd.Timedelta(days=s.schedule.label_delay_days)
    assert (labelled["recorded_at"] >= labelled[s.timestamp] + delay).all()
    # ... and not before the batch closes plus the delay (retail) / the snapshot plus the delay (churn).
    batch = pd.to_datetime(labelled["_batch"].str[6:16], utc=True)
    close = batch + pd.Timedelta(days=s.schedule.batch_days) if use_case == "retail_demand" else batch
    assert (labelled["recorded_at"] == close + delay).all()


def test_retail_scenario_applies_to_live_weeks_only(tmp_path):
    s, _, starts = run("retail_demand", tmp_path / "none")
    run("retail_demand", tmp_path / "shift", scenario="price_shift")
    base, shifted = files(tmp_path / "none"), files(tmp_path / "shift")
    live = {f"{st}/batch={d.isoformat()}.parquet" for d in starts for st in (s.streams.history, s.streams.scoring)}
    assert all(base[k] == shifted[k] for k in base if k not in live)
    price = lambda root: read_stream(root, s.streams.scoring)["price"].mean()  # noqa: E731
    assert price(tmp_path / "shift") == pytest.approx(1.3 * price(tmp_path / "none"), rel=0.01)


# ------------------------------------------------------------------- churn --


@pytest.fixture(scope="module")
def churn_cfg() -> churn_sim.SimulationConfig:
    s = load_settings("churn")  # the YAML's sizes
    return load_plugin(s).simulation_config(s)


def test_churn_positive_rate_and_population(churn_cfg):
    for seed in (churn_cfg.seed, 1, 2):
        cfg = churn_cfg.model_copy(update={"seed": seed})
        df = churn_sim.simulate(cfg, cfg.history_weeks)
        assert 0.03 <= df["churned_30d"].mean() <= 0.08
        per_week = df.groupby("snapshot_date").size()
        assert per_week.between(0.8 * cfg.customers, 1.2 * cfg.customers).all()  # leavers are replaced
        assert not df.duplicated(["customer_id", "snapshot_date"]).any()
    # A customer who churned leaves: no snapshot after the one whose label window holds the cancellation + 30 days.
    last = df.groupby("customer_id")["snapshot_date"].max()
    gone = last[last < df["snapshot_date"].max() - pd.Timedelta(days=35)].index
    assert len(gone) and (df[df["customer_id"].isin(gone)].groupby("customer_id")["churned_30d"].max() == 1).all()


def test_churn_signals_are_plausible(churn_cfg):
    df = churn_sim.simulate(churn_cfg, churn_cfg.history_weeks)
    rate = df.groupby("contract_type")["churned_30d"].mean()
    assert rate["month_to_month"] > rate["one_year"]
    assert df.loc[df["payment_failures"] > 0, "churned_30d"].mean() > df["churned_30d"].mean()
    assert df.loc[df["churned_30d"] == 1, "usage_hours"].median() < df.loc[df["churned_30d"] == 0, "usage_hours"].median()


def test_churn_history_does_not_depend_on_the_horizon_or_the_scenario(churn_cfg):
    cfg = churn_cfg.model_copy(update={"customers": 300, "history_weeks": 12})
    short = churn_sim.simulate(cfg, 12)
    longer = churn_sim.simulate(cfg, 16)
    pd.testing.assert_frame_equal(short, longer[longer["snapshot_date"] < short["snapshot_date"].max() + pd.Timedelta(days=1)])
    first_live = pd.Timestamp(churn_sim.history_end(cfg), tz="UTC")
    for scenario in churn_sim.SCENARIOS[1:]:
        drifted = churn_sim.simulate(cfg, 16, scenario, drift_week=12)  # type: ignore[arg-type]
        # Snapshots before the drift are the same (their labels may see the drifted future).
        before = lambda d: d[d["snapshot_date"] < first_live].drop(columns="churned_30d").reset_index(drop=True)  # noqa: E731
        pd.testing.assert_frame_equal(before(drifted), before(longer))


def test_churn_price_increase_raises_charges_and_churn(churn_cfg, tmp_path):
    s = load_settings("churn")
    p = load_plugin(s)
    live = p.hook("live_batch_dates")(s, 6)
    for scenario in ("none", "price_increase"):
        p.hook("write_live_batches")(tmp_path / scenario, s, live, scenario)
    none, up = (read_stream(tmp_path / sc, s.streams.history) for sc in ("none", "price_increase"))
    assert up["monthly_charges"].mean() == pytest.approx(none["monthly_charges"].mean() * (1 + churn_cfg.price_increase), rel=0.02)
    assert up["churned_30d"].mean() > 1.3 * none["churned_30d"].mean()
    missing = p.hook("write_live_batches")(tmp_path / "missing", s, live[:1], "missing_values")
    assert missing == live[:1] and read_stream(tmp_path / "missing", s.streams.scoring)["usage_hours"].isna().mean() > 0.1


def test_churn_checks_the_schedule():
    cfg = churn_sim.SimulationConfig()
    s = load_settings("churn")
    with pytest.raises(ValueError, match="batch_days must be 7"):
        churn_sim.check_schedule(cfg, s.schedule.model_copy(update={"batch_days": 14}))
    with pytest.raises(ValueError, match="recorded before they are known"):
        churn_sim.check_schedule(cfg, s.schedule.model_copy(update={"label_delay_days": 7}))
    with pytest.raises(ValueError, match="not a snapshot date"):
        churn_sim.week_index(cfg, cfg.start + timedelta(days=3))


def test_simulation_sections_are_strict():
    from runway.config import ConfigError

    for use_case in ("retail_demand", "churn"):
        with pytest.raises(ConfigError, match="simulation.no_such_knob"):
            load_settings(use_case, overrides={"simulation": {"no_such_knob": 1}})
    with pytest.raises(ConfigError, match="simulation.batch_days"):  # the schedule owns it now
        load_settings("retail_demand", overrides={"simulation": {"batch_days": 7}})
