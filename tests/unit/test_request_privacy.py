"""PII on the online request path: a request's pii fields get ingestion's keyed hash before anything uses them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runway.config import ConfigError, load_settings
from runway.data import privacy
from runway.serving.online import RequestSchema, RequestValidationError
from tests.usecases import bikes

pytestmark = pytest.mark.unit
KEY = "unit-test-request-pii-key-0123456789"
EMAIL = "rider.Kq7@example.org"
PHONE = 4155550100


def _settings(tmp_path: Path, monkeypatch, hash_request: bool = True):
    monkeypatch.setenv("RUNWAY_UNIT_REQUEST_PII_KEY", KEY)
    uc = yaml.safe_load(bikes.USE_CASE_YAML)
    cols = uc["contract"]["columns"]
    cols["station_code"]["pii"] = True  # the entity key itself is personal: hashed at ingestion
    cols["email"] = {"dtype": "string", "pii": True}
    cols["phone"] = {"dtype": "int", "pii": True, "min": 1000, "max": 9_999_999_999}
    uc["features"]["request"] = ["temperature", "email", "phone"]
    how = {"station_code": "hash", "email": "hash", "phone": "hash"}
    if not hash_request:
        how.pop("email")
    uc["privacy"] = {"hash_key": "${RUNWAY_UNIT_REQUEST_PII_KEY}", "columns": how}
    path = tmp_path / "uc.yaml"
    path.write_text(yaml.safe_dump(uc))
    return load_settings(path, "local", {"environment": {"workspace": str(tmp_path / "ws")}})


def test_pii_fields_are_hashed_as_ingestion_hashes_them(tmp_path, monkeypatch):
    s = _settings(tmp_path, monkeypatch)
    schema = RequestSchema(s)
    body = {"rows": [{"station_code": "ST03", "day": "2024-09-01", "temperature": 12.5, "email": EMAIL, "phone": PHONE}]}
    parsed = schema.parse(body, 10, now=datetime(2024, 9, 1, tzinfo=UTC))
    ingested = privacy.protect(pd.DataFrame({"station_code": ["ST03"], "email": [EMAIL], "phone": [PHONE], "temperature": [12.5]}), s)
    assert parsed.keys[0]["station_code"] == ingested["station_code"][0] != "ST03"
    assert parsed.features["email"] == [ingested["email"][0]] and parsed.features["phone"] == [int(ingested["phone"][0])]
    assert parsed.features["temperature"] == [12.5], "other fields are untouched"
    assert EMAIL not in repr(parsed) and str(PHONE) not in repr(parsed)


def test_errors_about_a_pii_field_do_not_quote_it(tmp_path, monkeypatch):
    schema = RequestSchema(_settings(tmp_path, monkeypatch))
    row = {"station_code": "ST03", "temperature": 12.5, "email": EMAIL, "phone": 99}
    with pytest.raises(RequestValidationError) as err:
        schema.parse({"rows": [row]}, 10)
    (e,) = err.value.errors
    assert e["field"] == "phone" and ">= 1000" in e["msg"] and "99" not in e["msg"].replace(">= 1000", "")
    with pytest.raises(RequestValidationError) as err:
        schema.parse({"rows": [{**row, "phone": 4155550100.5}]}, 10)
    assert "4155550100" not in str(err.value.errors)


def test_a_pii_request_field_that_is_not_hashed_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"privacy\.columns\.email"):
        _settings(tmp_path, monkeypatch, hash_request=False)
