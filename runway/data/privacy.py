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


def hash_values(values: pd.Series, key: bytes, dtype: str) -> pd.Series:
    """Keyed hash of each non-null value; the same value always gives the same hash."""
    present = values.notna().to_numpy()
    uniques = pd.unique(values[present])
    if dtype == "int":
        table_int = {u: int.from_bytes(_mac(key, int(u))[:8], "big") >> 1 for u in uniques}
        if present.all():
            return pd.Series(values.map(table_int).to_numpy(dtype=np.int64), index=values.index, name=values.name)
        return values.map(table_int).astype("Int64")
    table_str = {u: _mac(key, u).hex()[:HEX_CHARS] for u in uniques}
    return values.map(table_str).astype(object).where(present, None)


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
