"""The predictions sink location shown to users never carries the password."""

from runway.serving.predictions import sink_location


def test_password_is_masked_and_host_kept() -> None:
    shown = sink_location("postgresql+psycopg2://runway:s3cr%40t@db.example:5432/preds")
    assert "s3cr" not in shown
    assert shown == "postgresql+psycopg2://runway:***@db.example:5432/preds"


def test_url_without_credentials_is_unchanged() -> None:
    assert sink_location("sqlite:////tmp/preds.db") == "sqlite:////tmp/preds.db"


def test_unparsable_url_is_not_echoed() -> None:
    assert sink_location("not a url :: secret") == "<unparsable URL>"
