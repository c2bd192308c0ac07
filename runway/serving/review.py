"""Human in the loop: the scores a classifier is unsure of go to a review queue.

With ``inference.review_band`` (binary classification only), batch
inference writes ``<workspace>/<use case>/review/batch=<date>.parquet``
(atomically, also when no row is queued: zero is a count) with one row per
scored row whose score ``s`` has ``low <= s <= high``: the entity keys, the
timestamp, the score, which level and model version served it, and the
features that drove that score.

Attribution, plainly: for each queued row and each model feature, the score
is recomputed with that one feature replaced by its training median
(``ModelArtifact.metadata["feature_medians"]``; a model trained before the
medians were recorded uses the batch's median, and the ``reference`` column
says which). The change ``score - score_without`` is the feature's effect: a
positive effect pushed the score up. The ``top_features`` largest by absolute
effect are listed (``driver_<i>``, its value ``driver_<i>_value`` and
``driver_<i>_effect``). It is a one-at-a-time sensitivity, not a Shapley
value: interactions are not split between features, and effects need not
add up to the score. A row served by the rule baseline has no drivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from runway.config import ReviewBandConfig, Settings
from runway.data.io import write_parquet_atomic
from runway.modeling.artifact import ModelArtifact

PREFIX = "batch="
SCORE = "score"


def queue_path(settings: Settings, batch_label: str) -> Path:
    return settings.use_case_path("review", f"{PREFIX}{batch_label}.parquet")


def in_band(scores: np.ndarray, band: ReviewBandConfig) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    return np.isfinite(s) & (s >= band.low) & (s <= band.high)


def attribute(model: ModelArtifact, rows: pd.DataFrame, medians: Mapping[str, float], top: int) -> pd.DataFrame:
    """The ``top`` features whose replacement by their median moves each row's score most."""
    feats = list(model.features)
    out = pd.DataFrame(index=rows.index)
    if rows.empty or not feats:
        return out
    x = rows[feats].astype(float).reset_index(drop=True)
    base = model.predict(x)
    # One stacked frame: copy k has feature k set to its median.
    stacked = pd.concat([x.assign(**{f: float(medians[f])}) for f in feats], ignore_index=True)
    without = model.predict(stacked).reshape(len(feats), len(x)).T  # rows x features
    effect = base[:, None] - without
    order = np.argsort(-np.abs(effect), axis=1, kind="stable")[:, :top]
    values = x.to_numpy()
    r = np.arange(len(x))
    for i in range(min(top, len(feats))):
        j = order[:, i]
        eff = effect[r, j]
        moved = eff != 0
        names = np.asarray(feats, dtype=object)[j]
        names[~moved] = None
        out[f"driver_{i + 1}"] = names
        out[f"driver_{i + 1}_value"] = np.where(moved, values[r, j], np.nan)
        out[f"driver_{i + 1}_effect"] = np.where(moved, eff, np.nan)
    return out


def build_queue(
    settings: Settings,
    predictions: pd.DataFrame,
    features: pd.DataFrame | None,
    models: Mapping[str, ModelArtifact],
) -> pd.DataFrame:
    """The rows of ``predictions`` (with ``prediction``, ``served_by``,
    ``model_version``; positionally aligned with ``features``) to review."""
    band = settings.inference.review_band
    if band is None:
        raise ValueError("inference.review_band is not set")
    keys = list(dict.fromkeys([*settings.entity_keys, settings.timestamp]))
    mask = in_band(predictions["prediction"].to_numpy(), band)
    preds = predictions.reset_index(drop=True)
    queue = preds.loc[mask, keys].copy()
    queue[SCORE] = preds.loc[mask, "prediction"].to_numpy(dtype=float)
    queue["served_by"] = preds.loc[mask, "served_by"].astype(str).to_numpy()
    queue["model_version"] = preds.loc[mask, "model_version"].astype(str).to_numpy()
    queue["band_low"], queue["band_high"] = band.low, band.high
    queue["reference"] = ""
    drivers = []
    if features is not None:
        feats = features.reset_index(drop=True)
        for version, model in models.items():
            sel = mask & (preds["model_version"].astype(str).to_numpy() == str(version))
            if not sel.any():
                continue
            recorded = (model.metadata or {}).get("feature_medians") or {}
            missing = [f for f in model.features if f not in recorded]
            medians = dict(recorded)
            if missing:  # a model trained before medians were recorded
                medians |= feats[missing].astype(float).median().fillna(0.0).to_dict()
            queue.loc[sel[mask], "reference"] = "training median" if not missing else "batch median"
            drivers.append(attribute(model, feats.loc[sel], medians, band.top_features).set_axis(np.flatnonzero(sel)))
    queue.index = np.flatnonzero(mask)
    if drivers:
        queue = queue.join(pd.concat(drivers), how="left")
    for i in range(1, band.top_features + 1):  # the same columns whatever served
        for col, fill in ((f"driver_{i}", None), (f"driver_{i}_value", np.nan), (f"driver_{i}_effect", np.nan)):
            if col not in queue.columns:
                queue[col] = fill
        queue[f"driver_{i}"] = queue[f"driver_{i}"].astype(object)
    return queue.reset_index(drop=True)


def write_queue(settings: Settings, queue: pd.DataFrame, batch_label: str) -> Path:
    return write_parquet_atomic(queue, queue_path(settings, batch_label))


def queued_counts(settings: Settings, batch_labels: list[str]) -> dict[str, int] | None:
    """Rows queued per batch (``None`` without a review band; a batch scored
    before the band was set counts as absent, not zero)."""
    if settings.inference.review_band is None:
        return None
    import pyarrow.parquet as pq

    out = {}
    for b in batch_labels:
        p = queue_path(settings, b)
        if p.exists():
            out[b] = int(pq.ParquetFile(p).metadata.num_rows)
    return out


def read_queue(settings: Settings, batch: str | date) -> pd.DataFrame:
    label = batch.isoformat() if isinstance(batch, date) else batch
    return pd.read_parquet(queue_path(settings, label))
