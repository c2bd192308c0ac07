"""Batch serving with a fallback chain: production -> last-known-good -> baseline.

Each level is tried in order; a level that cannot serve (no such model, it
fails to load, its hash does not match, features are unavailable, or it
returns non-finite values) is skipped with a reason, and every row records
which level and version served it. The last level, ``baseline``, is the use
case's rule (``evaluation.baseline``), which always answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from runway.modeling.artifact import ModelArtifact

# The name of the last level, as in ``inference.fallback`` and ``served_by``.
RULE_LEVEL = "baseline"


@dataclass(frozen=True)
class Candidate:
    level: str  # "production" | "last_known_good"
    version: str | None
    load: Callable[[], ModelArtifact]


@dataclass
class ServingResult:
    predictions: np.ndarray
    served_by: np.ndarray
    served_version: np.ndarray
    reasons: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        levels, n = np.unique(self.served_by, return_counts=True)
        return {str(k): int(v) for k, v in zip(levels, n, strict=False)}


def predict_with_fallback(
    n_rows: int,
    features: pd.DataFrame | None,
    candidates: list[Candidate],
    rule: Callable[[], np.ndarray],
    feature_error: str | None = None,
) -> ServingResult:
    pred = np.full(n_rows, np.nan)
    served_by = np.full(n_rows, "", dtype=object)
    served_version = np.full(n_rows, "", dtype=object)
    reasons: list[str] = []
    if features is None:
        reasons.append(f"feature service unavailable: {feature_error or 'no features'}; model levels skipped")
    else:
        for cand in candidates:
            todo = np.isnan(pred)
            if not todo.any():
                break
            if cand.version is None:
                reasons.append(f"{cand.level}: no such version")
                continue
            try:
                model = cand.load()
                # all rows open (the usual first level): no boolean-mask copy of the whole frame
                out = np.asarray(model.predict(features if todo.all() else features.loc[todo]), dtype=float)
            except Exception as exc:  # noqa: BLE001 - every failure means "next level"
                reasons.append(f"{cand.level} v{cand.version}: {type(exc).__name__}: {exc}")
                continue
            ok = np.isfinite(out)
            idx = np.flatnonzero(todo)[ok]
            pred[idx], served_by[idx], served_version[idx] = out[ok], str(cand.level), str(cand.version)
            if not ok.all():
                reasons.append(f"{cand.level} v{cand.version}: {int((~ok).sum())} non-finite predictions passed on")
    todo = np.isnan(pred)
    if todo.any():
        pred[todo] = np.asarray(rule(), dtype=float)[todo]
        served_by[todo], served_version[todo] = RULE_LEVEL, "rule"
    # Object arrays of shared str objects: astype(str) would build fixed-width unicode that pandas turns
    # back into one str object per row (about 0.3 s and again on every frame built from them at 1M rows).
    return ServingResult(pred, served_by, served_version, reasons)


def shadow_mask(frame: pd.DataFrame, keys: list[str], share: float) -> np.ndarray:
    """Deterministic entity sample: the same entity (``keys``) is always in or out."""
    if share <= 0:
        return np.zeros(len(frame), dtype=bool)
    if share >= 1:
        return np.ones(len(frame), dtype=bool)
    joined = frame[keys].astype(str).agg("|".join, axis=1)
    bucket = joined.map(lambda s: int(hashlib.sha256(s.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF)
    return (bucket < share).to_numpy()


def last_known_good(history: list[str], current: str | None) -> str | None:
    """The most recent version that was production before the current one."""
    for v in reversed(history):
        if v != current:
            return v
    return None
