"""Score a candidate, the use case's baseline and the current production model
on exactly the same holdout rows, with every configured metric, overall and
per slice; bootstrap the primary metric's gain over the baseline and over
production. The task follows from the primary metric (each metric belongs to
one task)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from runway.config import EvaluationConfig
from runway.evaluation.metrics import (
    GainInterval,
    Metrics,
    bootstrap_relative_gain,
    calibration_bins,
    compute,
    get_metric,
    metric_names,
    slice_metrics,
)

if TYPE_CHECKING:
    from runway.config import Settings
    from runway.modeling.artifact import ModelArtifact


@dataclass
class EvaluationReport:
    primary_metric: str
    rows: int
    candidate: Metrics
    baseline: Metrics
    gain_vs_baseline: GainInterval
    production: Metrics | None = None
    production_version: str | None = None
    gain_vs_production: GainInterval | None = None
    slices: list[dict] = field(default_factory=list)
    holdout_start: str = ""
    holdout_end: str = ""
    # How decisions name the baseline rule, e.g. "seasonal naive (7 days)".
    baseline_label: str = "baseline"
    slice_by: str | None = None
    # Classification: the candidate's decision threshold and where it came
    # from ("configured" or "auto"), production's threshold, and the
    # candidate's calibration (ece and its reliability table).
    threshold: float | None = None
    threshold_source: str | None = None
    production_threshold: float | None = None
    calibration: dict | None = None

    @property
    def task(self) -> str:
        return get_metric(self.primary_metric).task

    @property
    def direction(self) -> str:
        return get_metric(self.primary_metric).direction

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "primary_metric": self.primary_metric,
            "direction": self.direction,
            "rows": self.rows,
            "holdout": [self.holdout_start, self.holdout_end],
            "baseline_label": self.baseline_label,
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "production": self.production.to_dict() if self.production else None,
            "production_version": self.production_version,
            "gain_vs_baseline": self.gain_vs_baseline.to_dict(),
            "gain_vs_production": self.gain_vs_production.to_dict() if self.gain_vs_production else None,
            "slice_by": self.slice_by,
            "slices": self.slices,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "production_threshold": self.production_threshold,
            "calibration": self.calibration,
        }


def _none_if_nan(v):
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _slices(
    by: str, values: np.ndarray, y: np.ndarray, preds: dict[str, tuple[np.ndarray, float | None]], task: str, names: list[str], primary: str
) -> list[dict]:
    frame = pd.DataFrame({"slice": values, "y": y, **{k: p for k, (p, _) in preds.items()}})
    parts: list[pd.DataFrame] = []
    for who, (_, t) in preds.items():
        cols = names if who == "candidate" else [primary]
        part = slice_metrics(frame, "slice", "y", who, task, cols, t).rename(columns={m: f"{who}_{m}" for m in cols})
        parts.append(part if not parts else part.drop(columns="rows"))
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on="slice")
    out["slice"] = out["slice"].astype(str)
    return [{k: _none_if_nan(v) for k, v in rec.items()} for rec in out.to_dict("records")]


def evaluate(
    holdout: pd.DataFrame,
    target: str,
    timestamp: str,
    candidate_pred: np.ndarray,
    baseline_pred: np.ndarray,
    cfg: EvaluationConfig,
    *,
    production_pred: np.ndarray | None = None,
    production_version: str | None = None,
    threshold: float | None = None,
    threshold_source: str | None = None,
    production_threshold: float | None = None,
    baseline_label: str = "baseline",
) -> EvaluationReport:
    """All of ``cfg.metrics`` (default: every metric of the task) for each
    model; the bootstrap intervals and the slices (``cfg.slice_by``) on the
    primary metric. ``threshold`` is the candidate's decision threshold (also
    applied to the baseline's scores); ``production_threshold`` production's."""
    primary = cfg.primary_metric
    task = get_metric(primary).task
    names = list(dict.fromkeys([primary, *(cfg.metrics or metric_names(task))]))
    y = holdout[target].to_numpy(dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"holdout has {int(np.isnan(y).sum())} rows without an actual '{target}'")
    candidate_pred, baseline_pred = np.asarray(candidate_pred, float), np.asarray(baseline_pred, float)
    prod_t = threshold if production_threshold is None else production_threshold
    days = holdout[timestamp].to_numpy()

    def gain(reference: np.ndarray, reference_threshold: float | None) -> GainInterval:
        return bootstrap_relative_gain(
            y, candidate_pred, reference, days, primary, cfg.bootstrap_samples, cfg.confidence, cfg.seed, threshold, reference_threshold
        )

    report = EvaluationReport(
        primary_metric=primary,
        rows=len(holdout),
        candidate=compute(y, candidate_pred, task, threshold, names),
        baseline=compute(y, baseline_pred, task, threshold, names),
        gain_vs_baseline=gain(baseline_pred, threshold),
        holdout_start=str(holdout[timestamp].min()),
        holdout_end=str(holdout[timestamp].max()),
        baseline_label=baseline_label,
        slice_by=cfg.slice_by,
        threshold=threshold,
        threshold_source=threshold_source,
    )
    preds: dict[str, tuple[np.ndarray, float | None]] = {"candidate": (candidate_pred, threshold), "baseline": (baseline_pred, threshold)}
    if production_pred is not None:
        production_pred = np.asarray(production_pred, float)
        report.production = compute(y, production_pred, task, prod_t, names)
        report.production_version = production_version
        report.production_threshold = production_threshold
        report.gain_vs_production = gain(production_pred, prod_t)
        preds["production"] = (production_pred, prod_t)
    if cfg.slice_by is not None:
        report.slices = _slices(cfg.slice_by, holdout[cfg.slice_by].to_numpy(), y, preds, task, names, primary)
    if task == "binary_classification":
        ece = report.candidate.values.get("ece")
        if ece is None:
            ece = compute(y, candidate_pred, task, threshold, ["ece"]).get("ece")
        report.calibration = {"ece": ece, "bins": calibration_bins(y, candidate_pred)}
    return report


def evaluate_candidate(
    settings: Settings,
    model: ModelArtifact,
    holdout: pd.DataFrame,
    history: pd.DataFrame,
    production: ModelArtifact | None = None,
    production_version: str | None = None,
) -> EvaluationReport:
    """``evaluate`` with the use case's baseline computed from ``history``
    (the actuals known before the holdout rows' dates, see ``baselines``)."""
    from runway.evaluation.baselines import baseline_label, baseline_predictions

    return evaluate(
        holdout,
        settings.model.target,
        settings.contract.timestamp,
        model.predict(holdout),
        baseline_predictions(settings, history, holdout),
        settings.evaluation,
        production_pred=production.predict(holdout) if production is not None else None,
        production_version=production_version,
        threshold=model.threshold,
        threshold_source=model.metadata.get("threshold_source"),
        production_threshold=production.threshold if production is not None else None,
        baseline_label=baseline_label(settings),
    )


def report_from_dict(d: dict) -> EvaluationReport:
    """Inverse of ``EvaluationReport.to_dict`` (artifacts travel as JSON)."""

    def m(x: dict | None) -> Metrics | None:
        return Metrics.from_dict(x) if x else None

    def g(x: dict | None) -> GainInterval | None:
        return GainInterval(**x) if x else None

    def required(key: str) -> dict:
        x = d[key]
        if not x:
            raise ValueError(f"evaluation report has no '{key}': every report carries the candidate, the baseline and the gain over it")
        return x

    holdout = d.get("holdout") or ["", ""]
    return EvaluationReport(
        primary_metric=d["primary_metric"],
        rows=d["rows"],
        candidate=Metrics.from_dict(required("candidate")),
        baseline=Metrics.from_dict(required("baseline")),
        gain_vs_baseline=GainInterval(**required("gain_vs_baseline")),
        production=m(d.get("production")),
        production_version=d.get("production_version"),
        gain_vs_production=g(d.get("gain_vs_production")),
        slices=list(d.get("slices") or []),
        holdout_start=holdout[0],
        holdout_end=holdout[1],
        baseline_label=d.get("baseline_label") or "baseline",
        slice_by=d.get("slice_by"),
        threshold=d.get("threshold"),
        threshold_source=d.get("threshold_source"),
        production_threshold=d.get("production_threshold"),
        calibration=d.get("calibration"),
    )
