"""Declarations -> Feast objects (runway.features.definitions), and the engine
on a use case with another schema (an int customer key, weekly snapshots,
one-hot, rolling sums and counts, an entityless pooled view) against a
brute-force oracle written straight from the declarations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from runway.config import load_settings
from runway.features.definitions import FeatureDefinitionError, build_objects, feast_project, ttl
from runway.features.engine import FeatureInputError, compute_feature_tables, feature_columns, table_columns
from runway.features.naming import feature_dtypes, feature_names

pytestmark = pytest.mark.unit

CREATED = datetime(2025, 1, 1, tzinfo=UTC)
WEEK0 = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday

# A use case that shares no column name with retail: weekly account snapshots.
SUBSCRIPTIONS = {
    "use_case": "subscriptions",
    "description": "Weekly spend per customer.",
    "schedule": {"batch_days": 7, "label_delay_days": 0},
    "streams": {"history": "snapshots", "scoring": "accounts"},
    "contract": {
        "keys": ["customer_id", "week"],
        "timestamp": "week",
        "columns": {
            "week": {"dtype": "datetime", "nullable": False},
            "customer_id": {"dtype": "int", "nullable": False},
            "plan": {"dtype": "string", "allowed": ["basic", "plus", "pro", "legacy"]},
            "logins": {"dtype": "float", "min": 0},
            "discount": {"dtype": "bool"},
            "spend": {"dtype": "float", "min": 0},
        },
    },
    "entities": [{"name": "customer", "join_keys": ["customer_id"], "description": "A subscriber."}],
    "features": {
        "service": "subscriptions",
        "version": 2,
        "request": ["discount"],
        "horizon_days": 7,
        "views": [
            {
                "name": "account",
                "entities": ["customer"],
                "known": "ahead",
                "ttl_days": 8,
                "features": [
                    {"transform": "one_hot", "column": "plan", "categories": ["basic", "plus", "pro"]},
                    {"transform": "rolling", "column": "logins", "stats": ["sum", "count"], "days": [14, 28]},
                    {"transform": "ratio_to_mean", "column": "logins", "days": [28], "name": "logins_vs_{days}d"},
                    {"transform": "lag", "column": "logins", "days": [7]},
                    {"transform": "value", "column": "discount", "serve": False},
                ],
            },
            {
                "name": "spend_history",
                "entities": ["customer"],
                "known": "lagged",
                "ttl_days": 14,
                "features": [
                    {"transform": "lag", "column": "spend", "days": [7, 14]},
                    {"transform": "rolling", "column": "spend", "stats": ["mean", "max"], "days": [21], "min_periods": 2},
                ],
            },
            {
                "name": "all_customers",
                "entities": [],
                "known": "lagged",
                "ttl_days": 7,
                "features": [
                    {
                        "transform": "rolling",
                        "column": "spend",
                        "stats": ["sum", "count", "mean", "std"],
                        "days": [14],
                        "min_periods": 1,
                        "name": "all_spend_{stat}_{days}d",
                    },
                ],
            },
            {
                "name": "weeks",
                "entities": [],
                "known": "ahead",
                "ttl_days": 0.99999,
                "features": [{"transform": "calendar", "parts": ["week_of_year", "month"]}],
            },
        ],
    },
    "model": {"name": "subscriptions_spend", "task": "regression", "target": "spend", "estimator": "ridge"},
}


def write_use_case(directory: Path, doc: dict = SUBSCRIPTIONS) -> Path:
    path = directory / f"{doc['use_case']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def subscriptions_settings(tmp_path: Path, **environment):
    return load_settings(write_use_case(tmp_path), "local", overrides={"environment": {"workspace": str(tmp_path / "ws"), **environment}})


def snapshots(seed: int = 0, customers: int = 4, weeks: int = 14) -> pd.DataFrame:
    """Weekly rows per customer; customers join late, skip weeks, have unknown
    plans and logins; the last week's spend is not known yet."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        first = int(rng.integers(0, 3))
        for w in range(first, weeks):
            if rng.random() < 0.12 and w > first:
                continue  # a missing snapshot
            rows.append(
                {
                    "week": WEEK0 + pd.Timedelta(weeks=w),
                    "customer_id": 1000 + c,
                    "plan": rng.choice(["basic", "plus", "pro", "legacy", None], p=[0.3, 0.3, 0.2, 0.1, 0.1]),
                    "logins": float(rng.poisson(5)) if rng.random() > 0.1 else np.nan,
                    "discount": bool(rng.random() < 0.3),
                    "spend": float(rng.gamma(2.0, 20.0)) if w < weeks - 1 else np.nan,
                    "noise": "ignored",
                }
            )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def same(got, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return got == pytest.approx(expected, rel=1e-9, abs=1e-12)


# ------------------------------------------------------------ the oracle --


def oracle(rows: pd.DataFrame, horizon: int) -> dict[str, dict[tuple, dict]]:
    """Every table, from the definitions: dict view -> {(keys..., t): {feature: value}}."""
    df = rows.copy()
    df["week"] = pd.to_datetime(df["week"], utc=True)
    d = pd.Timedelta(days=1)
    last_label = df.loc[df["spend"].notna(), "week"].max()
    out: dict[str, dict[tuple, dict]] = {"account": {}, "spend_history": {}, "all_customers": {}, "weeks": {}}

    def window(frame, col, lo, hi):
        sel = frame[(frame["week"] >= lo) & (frame["week"] <= hi)][col].dropna()
        return sel

    for c, g in df.groupby("customer_id"):
        g = g.set_index("week", drop=False).sort_index()
        for t, r in g.iterrows():
            if pd.isna(r["plan"]) and pd.isna(r["logins"]) and pd.isna(r["discount"]):
                continue
            f = {}
            for cat in ("basic", "plus", "pro"):
                f[f"plan_is_{cat}"] = np.nan if r["plan"] is None else float(r["plan"] == cat)
            for w in (14, 28):
                vals = window(g, "logins", t - w * d, t - d)
                f[f"logins_sum_{w}d"] = vals.sum() if len(vals) >= 1 else np.nan
                f[f"logins_count_{w}d"] = float(len(vals)) if len(vals) >= 1 else np.nan
            vals = window(g, "logins", t - 28 * d, t - d)
            f["logins_vs_28d"] = r["logins"] / vals.mean() if len(vals) and vals.mean() != 0 else np.nan
            f["logins_lag_7d"] = g["logins"].get(t - 7 * d, np.nan)
            f["discount"] = bool(r["discount"])
            out["account"][(c, t)] = f
        t = g.index.min() + horizon * d
        while t <= last_label + horizon * d:
            known = g[g.index <= t - horizon * d]
            f = {f"spend_lag_{k}d": known["spend"].get(t - k * d, np.nan) for k in (7, 14)}
            vals = window(known, "spend", t - (horizon + 20) * d, t - horizon * d)
            f["spend_mean_21d"] = vals.mean() if len(vals) >= 2 else np.nan
            f["spend_max_21d"] = vals.max() if len(vals) >= 2 else np.nan
            out["spend_history"][(c, t)] = f
            t += d
    t = df["week"].min() + horizon * d
    while t <= last_label + horizon * d:
        vals = window(df, "spend", t - (horizon + 13) * d, t - horizon * d)
        ok = len(vals) >= 1
        out["all_customers"][(t,)] = {
            "all_spend_sum_14d": vals.sum() if ok else np.nan,
            "all_spend_count_14d": float(len(vals)) if ok else np.nan,
            "all_spend_mean_14d": vals.mean() if ok else np.nan,
            "all_spend_std_14d": vals.std(ddof=1) if len(vals) >= 2 else np.nan,
        }
        t += d
    t = df["week"].min()
    while t <= df["week"].max():
        out["weeks"][(t,)] = {"week_of_year": int(t.isocalendar().week), "month": t.month}
        t += d
    return out


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subs")
    return subscriptions_settings(tmp)


def test_another_schema_matches_the_oracle(subs):
    rows = snapshots(seed=3)
    tables = compute_feature_tables(rows, subs, created_at=CREATED)
    assert list(tables) == ["account", "spend_history", "all_customers", "weeks"]
    expected = oracle(rows, subs.features.horizon_days)
    checked = 0
    for name, table in tables.items():
        assert list(table.columns) == table_columns(subs)[name]
        keys = table_columns(subs)[name][: table.columns.get_loc("event_timestamp")]
        got = {(*(getattr(r, k) for k in keys), r.event_timestamp): r for r in table.itertuples(index=False)}
        assert set(got) == set(expected[name]), name
        for key, feats in expected[name].items():
            for feat, value in feats.items():
                v = getattr(got[key], feat)
                assert same(v, value), f"{name}.{feat} at {key}: {v} != {value}"
                checked += 1
    assert checked > 1500
    # not vacuous: each feature has values, one-hot has zeros, ones and NaN
    acct = tables["account"]
    assert set(acct["plan_is_basic"].dropna().unique()) == {0.0, 1.0} and acct["plan_is_basic"].isna().any()
    assert (acct[["plan_is_basic", "plan_is_plus", "plan_is_pro"]].sum(axis=1) == 0).any()  # 'legacy'
    for name, table in tables.items():
        for col in feature_columns(subs)[name]:
            assert table[col].notna().any(), f"{name}.{col} is all NaN"


def test_another_schema_types_and_stamping(subs):
    rows = snapshots(seed=5)
    tables = compute_feature_tables(rows, subs, created_at=CREATED)
    acct, hist = tables["account"], tables["spend_history"]
    assert acct["customer_id"].dtype == "int64" and acct["discount"].dtype == bool
    assert tables["weeks"]["week_of_year"].dtype == "int64"
    assert {str(t) for t in tables["all_customers"].dtypes[2:]} == {"float64"}
    # ahead: rows at snapshot dates only; lagged: a complete daily grid
    assert set(acct["event_timestamp"].dt.dayofweek) == {0}
    per_customer = hist.groupby("customer_id")["event_timestamp"].agg(["min", "max", "count"])
    assert ((per_customer["max"] - per_customer["min"]).dt.days + 1 == per_customer["count"]).all()
    last_label = pd.to_datetime(rows.loc[rows["spend"].notna(), "week"], utc=True).max()
    assert (per_customer["max"] == last_label + pd.Timedelta(days=7)).all()
    # the last snapshot's spend is unknown: no row reads it
    assert not tables["spend_history"].isin([9999.0]).any().any()


def test_labels_after_a_cutoff_do_not_leak(subs):
    rows = snapshots(seed=7, customers=5, weeks=16)
    before = compute_feature_tables(rows, subs, created_at=CREATED)
    cutoff = WEEK0 + pd.Timedelta(weeks=9)
    changed = rows.copy()
    after_c = pd.to_datetime(changed["week"], utc=True) > cutoff
    changed.loc[after_c & changed["spend"].notna(), "spend"] = 9999.0
    changed.loc[after_c, "logins"] = 77.0
    changed.loc[after_c, "plan"] = "pro"
    after = compute_feature_tables(changed, subs, created_at=CREATED)
    h = pd.Timedelta(days=subs.features.horizon_days)
    for name, limit in {"account": cutoff, "spend_history": cutoff + h, "all_customers": cutoff + h, "weeks": cutoff}.items():
        a = before[name][before[name]["event_timestamp"] <= limit].reset_index(drop=True)
        b = after[name][after[name]["event_timestamp"] <= limit].reset_index(drop=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, obj=name)
    nxt = before["all_customers"]["event_timestamp"] > cutoff + h
    assert not before["all_customers"][nxt].reset_index(drop=True).equals(after["all_customers"][nxt].reset_index(drop=True))


def test_input_errors_name_the_column(subs):
    rows = snapshots()
    with pytest.raises(FeatureInputError, match=r"lack column\(s\) \['logins'\]"):
        compute_feature_tables(rows.drop(columns=["logins"]), subs)
    with pytest.raises(FeatureInputError, match="key column 'customer_id' has 1 null"):
        compute_feature_tables(rows.assign(customer_id=rows["customer_id"].astype("float").where(rows.index != 0)), subs)
    with pytest.raises(FeatureInputError, match=r"duplicate \(customer_id, week\)"):
        compute_feature_tables(pd.concat([rows, rows.iloc[[4]]]), subs)
    with pytest.raises(FeatureInputError, match=r"lag\(s\) \[7\] of 'spend'.*\(10 days\)"):
        compute_feature_tables(rows, subs, horizon_days=10)
    with pytest.raises(FeatureInputError, match="no observed spend"):
        compute_feature_tables(rows.assign(spend=np.nan), subs)


# ------------------------------------------------- declarations -> Feast --


def test_retail_objects(tmp_path):
    settings = load_settings("retail_demand", "local", overrides={"environment": {"workspace": str(tmp_path)}})
    repo = build_objects(settings, tmp_path / "data")
    assert [p.name for p in repo.projects] == [feast_project(settings)] == ["runway_retail_demand"]
    entities = {e.name: e for e in repo.entities}
    assert set(entities) == {"store", "item", "__dummy"}
    assert entities["store"].join_key == "store_id" and entities["store"].value_type.name == "STRING"
    views = {fv.name: fv for fv in repo.feature_views}
    assert list(views) == ["sales_history", "price_promo", "store_sales", "calendar"]
    assert {n: fv.ttl for n, fv in views.items()} == {
        "sales_history": timedelta(days=14),
        "price_promo": timedelta(days=7),
        "store_sales": timedelta(days=14),
        "calendar": timedelta(hours=23, minutes=59, seconds=59),
    }
    for v in settings.features.views:
        fv = views[v.name]
        assert [f.name for f in fv.features] == feature_names(v)
        assert fv.batch_source.path == str((tmp_path / "data" / f"{v.name}.parquet").resolve())
        assert fv.batch_source.timestamp_field == "event_timestamp"
        assert fv.batch_source.created_timestamp_column == "created_timestamp"
        assert fv.tags["known"] == v.known
    assert views["sales_history"].entities == ["store", "item"] and views["calendar"].entities == ["__dummy"]
    assert views["sales_history"].tags["horizon_days"] == "14" and views["sales_history"].tags["stamping"] == "target_date"
    assert views["price_promo"].tags["stamping"] == "effective_date"
    dtypes = {f.name: str(f.dtype) for f in views["calendar"].features}
    assert dtypes["day_of_week"] == "Int64" and dtypes["is_holiday"] == "Bool" and dtypes["day_of_year_sin"] == "Float64"
    assert {str(f.dtype) for f in views["sales_history"].features} == {"Float64"}
    assert {f.name: str(f.dtype) for f in views["price_promo"].features}["on_promotion"] == "Bool"

    (service,) = repo.feature_services
    assert service.name == "retail_demand_v1"
    served = {p.name: [f.name for f in p.features] for p in service.feature_view_projections}
    assert served == {
        "sales_history": feature_names(settings.features.views[0]),
        "price_promo": ["price_rel_28d", "promo_share_28d"],
        "store_sales": ["store_item_units_mean_7d", "store_item_units_mean_28d"],
        "calendar": ["day_of_week", "week_of_year", "month", "day_of_year_sin", "day_of_year_cos", "days_to_next_holiday"],
    }
    assert not {f for fs in served.values() for f in fs} & set(settings.features.request)
    assert service.tags["model"] == settings.model.name and service.tags["version"] == "1"


def test_another_schema_objects(tmp_path, subs):
    repo = build_objects(subs, tmp_path)
    assert repo.projects[0].name == "runway_subscriptions"
    (customer,) = [e for e in repo.entities if e.name == "customer"]
    assert customer.join_key == "customer_id" and customer.value_type.name == "INT64"
    views = {fv.name: fv for fv in repo.feature_views}
    assert views["account"].ttl == timedelta(days=8) and views["all_customers"].entities == ["__dummy"]
    assert views["spend_history"].tags["horizon_days"] == "7"
    assert views["account"].tags["not_served"] == "discount"
    for v in subs.features.views:
        assert {f.name: str(f.dtype).lower() for f in views[v.name].features} == {
            n: {"float64": "float64", "int64": "int64", "bool": "bool", "string": "string"}[t] for n, t in feature_dtypes(subs, v).items()
        }
    (service,) = repo.feature_services
    assert service.name == "subscriptions_v2"
    names = [f.name for p in service.feature_view_projections for f in p.features]
    assert "discount" not in names and names[:3] == ["plan_is_basic", "plan_is_plus", "plan_is_pro"]
    assert len(names) == sum(len(feature_names(v, served_only=True)) for v in subs.features.views)


def test_project_names_are_per_use_case_and_environment(tmp_path):
    base = {"workspace": str(tmp_path)}
    a = load_settings("retail_demand", "local", overrides={"environment": base})
    b = load_settings("retail_demand", "local", overrides={"environment": {**base, "feast": {"project": "team-x"}}})
    assert feast_project(a) == "runway_retail_demand"
    assert feast_project(b) == "team_x_retail_demand"  # Feast allows letters, digits and _
    assert ttl(0.99999) == timedelta(seconds=86399) and ttl(14) == timedelta(days=14)


def test_an_entity_with_two_join_keys_is_refused(tmp_path):
    doc = {**SUBSCRIPTIONS, "contract": {**SUBSCRIPTIONS["contract"], "keys": ["customer_id", "plan", "week"]}}
    doc["entities"] = [{"name": "customer", "join_keys": ["customer_id", "plan"]}]
    settings = load_settings(write_use_case(tmp_path, doc), "local", overrides={"environment": {"workspace": str(tmp_path)}})
    with pytest.raises(FeatureDefinitionError, match=r"entities.customer: Feast entities have exactly one join key"):
        build_objects(settings, tmp_path)
