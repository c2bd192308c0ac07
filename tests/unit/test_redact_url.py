"""Database URLs in messages and returned locations never carry a password."""

from __future__ import annotations

import pytest

from runway.config import load_settings, redact_url
from runway.data.sources import SourceError


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("postgresql+psycopg2://svc:s3cr3t@db.internal:5432/prod", "postgresql+psycopg2://svc:***@db.internal:5432/prod", "s3cr3t"),
        # A password holding '@' and ':' (splitting at '@' would print part of it).
        ("mysql+pymysql://svc:p%40ss:w0rd@db:3306/x", "mysql+pymysql://svc:***@db:3306/x", "w0rd"),
        ("sqlite:////tmp/p.db", "sqlite:////tmp/p.db", "***"),
    ],
)
def test_redact_url_hides_the_password(url: str, shown: str, hidden: str) -> None:
    out = redact_url(url)
    assert out == shown and hidden not in out


def test_unparsable_url_is_not_echoed() -> None:
    assert redact_url("not a url with secret-token") == "<unparsable URL>"


def test_unreadable_sql_source_names_the_server_without_the_password(tmp_path, monkeypatch) -> None:
    from runway.data.sources import read_batches

    monkeypatch.setenv("RUNWAY_TEST_SOURCE_PW", "canary-pw-123")
    # A port nobody listens on: the read fails; the message names the server, not the password.
    location = "postgresql+psycopg2://svc:${RUNWAY_TEST_SOURCE_PW}@127.0.0.1:1/none"
    s = load_settings("retail_demand", "local", {"environment": {"workspace": str(tmp_path), "source": {"kind": "sql", "location": location, "table": "t"}}})
    with pytest.raises(SourceError) as err:
        read_batches(s, s.streams.history)
    assert "canary-pw-123" not in str(err.value) and "svc:***@127.0.0.1:1/none" in str(err.value)
