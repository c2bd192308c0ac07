"""PII columns: refused where used unless hashed, dropped or hashed at the gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from runway.config import ConfigError, load_settings
from runway.data import privacy
from runway.data.contract import validate
from tests.usecases import bikes

pytestmark = pytest.mark.unit
KEY = "unit-test-pii-key-0123456789"


def _write(tmp_path: Path, change) -> Path:
    uc = yaml.safe_load(bikes.USE_CASE_YAML)
    uc["contract"]["columns"]["email"] = {"dtype": "string", "pii": True}
    change(uc)
    path = tmp_path / "uc.yaml"
    path.write_text(yaml.safe_dump(uc))
    return path


def _load(tmp_path: Path, change=lambda uc: None):
    return load_settings(_write(tmp_path, change), "local", {"environment": {"workspace": str(tmp_path / "ws")}})


def test_an_unused_pii_column_loads_and_is_dropped(tmp_path):
    s = _load(tmp_path)
    assert privacy.pii_columns(s) == {"email": "drop"}
    frame = pd.DataFrame({"station_code": ["ST00"], "email": ["a@b.example"], "temperature": [3.0]})
    out = privacy.protect(frame, s)
    assert list(out.columns) == ["station_code", "temperature"]
    assert "email" in frame.columns, "the input frame is not changed"


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("features.views.weather.features[0].column", lambda uc: uc["features"]["views"][1]["features"][0].update(column="email")),
        ("features.request", lambda uc: uc["features"].update(request=["temperature", "email"])),
        ("evaluation.slice_by", lambda uc: uc["evaluation"].update(slice_by="email")),
        ("monitoring.segment_by", lambda uc: uc["monitoring"].update(segment_by=["city", "email"])),
        ("monitoring.categorical", lambda uc: uc["monitoring"].update(categorical=["city", "email"])),
        ("contract.keys", lambda uc: uc["contract"]["columns"]["station_code"].update(pii=True)),
    ],
)
def test_a_used_pii_column_is_refused_naming_key_and_file(tmp_path, where, change):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, change)
    msg = str(err.value)
    assert where in msg and "pii" in msg and "privacy.columns" in msg and str(tmp_path / "uc.yaml") in msg


def test_hashing_needs_a_key_reference_not_a_literal(tmp_path, monkeypatch):
    def hashed(key):
        def change(uc):
            uc["contract"]["columns"]["station_code"]["pii"] = True
            uc["privacy"] = {"columns": {"station_code": "hash"}, **({"hash_key": key} if key else {})}

        return change

    with pytest.raises(ConfigError, match=r"privacy.*hash_key is not set"):
        _load(tmp_path, hashed(None))
    with pytest.raises(ConfigError, match=r"privacy\.hash_key.*environment reference"):
        _load(tmp_path, hashed("a-literal-key-in-the-yaml"))
    monkeypatch.delenv("RUNWAY_UNIT_PII_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"privacy\.hash_key.*RUNWAY_UNIT_PII_KEY"):
        _load(tmp_path, hashed("${RUNWAY_UNIT_PII_KEY}"))
    monkeypatch.setenv("RUNWAY_UNIT_PII_KEY", KEY)
    s = _load(tmp_path, hashed("${RUNWAY_UNIT_PII_KEY}"))
    assert s.privacy.hash_key == "{env:RUNWAY_UNIT_PII_KEY}" and KEY not in s.model_dump_json()
    monkeypatch.setenv("RUNWAY_UNIT_PII_KEY", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        privacy.protect(pd.DataFrame({"station_code": ["ST00"]}), s)


def test_privacy_columns_must_name_a_pii_column_of_a_hashable_type(tmp_path):
    with pytest.raises(ConfigError, match=r"privacy\.columns\.city.*not marked pii"):
        _load(tmp_path, lambda uc: uc.update(privacy={"columns": {"city": "drop"}}))
    with pytest.raises(ConfigError, match=r"privacy\.columns\.nope.*not a column"):
        _load(tmp_path, lambda uc: uc.update(privacy={"columns": {"nope": "drop"}}))

    def float_hash(uc):
        uc["contract"]["columns"]["temperature"]["pii"] = True
        uc["privacy"] = {"columns": {"temperature": "hash"}, "hash_key": "{env:X}"}

    with pytest.raises(ConfigError, match=r"privacy\.columns\.temperature.*string or int"):
        _load(tmp_path, float_hash)
    with pytest.raises(ConfigError, match="allowed"):
        _load(tmp_path, lambda uc: uc["contract"]["columns"]["email"].update(allowed=["a@b.example"]))


def test_hashing_is_keyed_deterministic_and_keeps_nulls_and_types():
    s = pd.Series(["a@x.example", None, "a@x.example", "b@x.example"])
    h = privacy.hash_values(s, KEY.encode(), "string")
    assert h[0] == h[2] != h[3] and h[1] is None and len(h[0]) == privacy.HEX_CHARS
    assert "a@x" not in "".join(h.dropna())
    assert privacy.hash_values(s, b"another-key-of-enough-length", "string")[0] != h[0], "the key matters"
    ints = privacy.hash_values(pd.Series([4155550100, 4155550100, 7]), KEY.encode(), "int")
    assert ints.dtype == np.int64 and ints[0] == ints[1] != ints[2] and (ints >= 0).all()
    with_null = privacy.hash_values(pd.Series([1, None], dtype="Int64"), KEY.encode(), "int")
    assert with_null.isna().tolist() == [False, True]


def test_contract_reports_never_quote_a_pii_value(tmp_path):
    s = _load(tmp_path, lambda uc: uc["contract"]["columns"].update(phone={"dtype": "int", "pii": True, "max": 999}))
    frame = pd.DataFrame({"phone": [4155550100]})
    report = validate(frame, s.contract)
    text = report.summary() + str(report.to_dict())
    assert "phone: max: 1 values above 999" in text and "4155550100" not in text and "4.15556e+09" not in text
