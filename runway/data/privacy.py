"""PII columns: transformed where raw data enters the pipeline.

A contract column marked ``pii: true`` is dropped from every batch as it
passes the ingestion gate (``runway.data.contract.admit``), unless
``privacy.columns`` says ``hash``: then each value is replaced by a keyed
hash, HMAC-SHA256 under ``privacy.hash_key`` (a secret, resolved from the
environment at use). A string becomes the first 32 hex characters of the
MAC, an int the MAC's first 8 bytes as a non-negative 63-bit integer; a null
stays null. Equal values hash equally, so a hashed key still joins and
groups; without the key nobody can test a guess (an unkeyed hash of an email
address is as good as the address).

Everything after the gate (feature tables, Feast, profiles, reports,
predictions, ZenML artifacts) only ever sees the transformed frame. The raw
folder and quarantine/ keep the batches as delivered (see docs/onboarding.md).
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

from runway.config import ConfigError, Settings, reveal

MIN_KEY_CHARS = 16
HEX_CHARS = 32


def pii_columns(settings: Settings) -> dict[str, str]:
    """Every pii column of the contract and what ingestion does with it."""
    how = settings.privacy.columns
    return {c: how.get(c, "drop") for c, spec in settings.contract.columns.items() if spec.pii}


def _key(settings: Settings) -> bytes:
    ref = settings.privacy.hash_key
    if not ref:
        raise ConfigError("privacy.hash_key is not set but a pii column is hashed; set it to an environment reference such as ${RUNWAY_PII_KEY}")
    key = reveal(ref)
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"the pii hash key ({ref}) has {len(key)} characters; privacy.hash_key needs at least {MIN_KEY_CHARS} (e.g. openssl rand -hex 32)")
    return key.encode()


def _mac(key: bytes, value: object) -> bytes:
    return hmac.new(key, str(value).encode(), hashlib.sha256).digest()


def hash_value(value: object, key: bytes, dtype: str) -> object:
    """The keyed hash of one non-null value (``hash_values`` applies it to a column)."""
    if dtype == "int":
        return int.from_bytes(_mac(key, int(value))[:8], "big") >> 1  # type: ignore[call-overload]
    return _mac(key, value).hex()[:HEX_CHARS]


def hash_values(values: pd.Series, key: bytes, dtype: str) -> pd.Series:
    """Keyed hash of each non-null value; the same value always gives the same hash."""
    present = values.notna().to_numpy()
    uniques = pd.unique(values[present])
    table = {u: hash_value(u, key, dtype) for u in uniques}
    if dtype == "int":
        if present.all():
            return pd.Series(values.map(table).to_numpy(dtype=np.int64), index=values.index, name=values.name)
        return values.map(table).astype("Int64")
    return values.map(table).astype(object).where(present, None)


class ValueHasher:
    """The ingestion transform of the hashed pii columns, one value at a time:
    what the online service applies to a request's fields before anything
    uses, logs or stores them (the key is resolved once, when it is built)."""

    def __init__(self, settings: Settings):
        self.dtypes = {c: settings.contract.columns[c].dtype for c, t in pii_columns(settings).items() if t == "hash"}
        self._key = _key(settings) if self.dtypes else b""

    def __call__(self, column: str, value: object) -> object:
        return None if value is None else hash_value(value, self._key, self.dtypes[column])


def fingerprint_with_key(fingerprint: str, settings: Settings) -> str:
    """The source fingerprint, bound to the hash key when a column is hashed
    (a rotated key must not serve the old hashes from ZenML's cache). Only a
    MAC of a constant under the key goes in, never the key."""
    if not fingerprint or "hash" not in pii_columns(settings).values():
        return fingerprint
    key_id = hmac.new(_key(settings), b"runway pii key id", hashlib.sha256).hexdigest()[:16]
    return hashlib.sha256(f"{fingerprint}|pii-key:{key_id}".encode()).hexdigest()


def protect(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """``frame`` with every pii column dropped or hashed (a new frame; the input is untouched)."""
    columns = {c: t for c, t in pii_columns(settings).items() if c in frame.columns}
    if not columns:
        return frame
    out = frame.drop(columns=[c for c, t in columns.items() if t == "drop"])
    hashed = [c for c, t in columns.items() if t == "hash"]
    if hashed:
        key = _key(settings)
        out = out.copy()
        for c in hashed:
            out[c] = hash_values(out[c], key, settings.contract.columns[c].dtype)
    return out
