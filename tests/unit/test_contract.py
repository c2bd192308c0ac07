import json

import numpy as np
import pandas as pd
import pytest

from runway.config import load_settings
from runway.data.contract import quarantine, robust_outlier_fraction, validate
from usecases.retail_demand import simulation
from usecases.retail_demand.simulate import generate

pytestmark = pytest.mark.unit
S = load_settings()


@pytest.fixture(scope="module")
def good():
    return generate(simulation(S), simulation(S).start, 28)


def rules(report):
    return {(v.column, v.rule) for v in report.violations}


def test_clean_batch_passes(good):
    r = validate(good, S.contract)
    assert r.ok, r.summary()


def test_missing_column_named(good):
    r = validate(good.drop(columns=["price"]), S.contract)
    assert ("price", "required") in rules(r)


def test_all_null_column_named(good):
    r = validate(good.assign(units_sold=np.nan), S.contract)
    assert ("units_sold", "all_null") in rules(r)


def test_empty_batch(good):
    r = validate(good.iloc[0:0], S.contract)
    assert ("*", "non_empty") in rules(r)


def test_wrong_type_named(good):
    r = validate(good.assign(price=good["price"].astype(str)), S.contract)
    assert ("price", "type") in rules(r)


def test_every_violation_listed_at_once(good):
    bad = good.drop(columns=["region"]).assign(price=-1.0)
    bad = pd.concat([bad, bad.iloc[:3]])
    found = rules(validate(bad, S.contract))
    assert {("region", "required"), ("price", "min"), ("store_id,item_id,date", "unique_keys")} <= found


def test_unknown_category_and_range(good):
    r = validate(good.assign(region="atlantis"), S.contract)
    assert ("region", "allowed") in rules(r)


def test_outlier_rule(good):
    spiked = good.copy()
    spiked.loc[spiked.index[:40], "units_sold"] = 50_000
    assert ("units_sold", "outliers") in rules(validate(spiked, S.contract))


def test_robust_outlier_fraction_hand_computed():
    # median 3, MAD 1 -> scaled 1.4826; 100 is (97/1.4826)=65 sigma away
    assert robust_outlier_fraction(np.array([1, 2, 3, 4, 5, 100.0]), z=10) == pytest.approx(1 / 6)


def test_target_may_be_absent_in_plan_batches(good):
    plan = good.assign(units_sold=np.nan)
    assert validate(plan, S.contract, ignore=["units_sold"]).ok


def test_quarantine_copies_and_reports(tmp_path, good):
    src = tmp_path / "batch=2024-01-01.parquet"
    good.to_parquet(src)
    report = validate(good.drop(columns=["price"]), S.contract)
    q = quarantine([src], report, tmp_path / "quarantine", "sales_batch")
    assert src.exists(), "the producer's file must stay where it was"
    assert (q / src.name).read_bytes() == src.read_bytes()
    data = json.loads((q / "report.json").read_text())
    assert data["ok"] is False and data["violations"][0]["column"] == "price"
    assert not list((tmp_path / "quarantine").glob(".*partial"))


def test_validate_parts_names_the_bad_file_only(tmp_path, good):
    from pathlib import Path

    from runway.data.contract import ContractViolation, validate_parts

    a, b = good.iloc[:500], good.iloc[500:]
    bad = validate_parts([(Path("a.parquet"), a), (Path("b.parquet"), b.drop(columns=["price"]))], S.contract, union=pd.concat([a, b]))
    assert list(bad) == ["b.parquet"] and ("price", "required") in rules(bad["b.parquet"])
    assert "b.parquet: 1 problem(s)" in str(ContractViolation(bad))


def test_validate_parts_catches_keys_duplicated_across_files(good):
    from pathlib import Path

    from runway.data.contract import validate_parts

    part = good.iloc[:100]
    bad = validate_parts([(Path("a.parquet"), part), (Path("b.parquet"), part)], S.contract, union=pd.concat([part, part]))
    assert list(bad) == ["<all batches together>"]
    assert ("store_id,item_id,date", "unique_keys") in rules(bad["<all batches together>"])
