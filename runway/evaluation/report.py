"""Score a candidate, the seasonal-naive baseline and the current production
model on exactly the same holdout rows, overall and per slice."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from runway.config import EvaluationConfig
from runway.evaluation.metrics import GainInterval, Metrics, bootstrap_relative_gain, compute, slice_metrics


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

    def to_dict(self) -> dict:
        return {
            "primary_metric": self.primary_metric,
            "rows": self.rows,
            "holdout": [self.holdout_start, self.holdout_end],
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "production": self.production.to_dict() if self.production else None,
            "production_version": self.production_version,
            "gain_vs_baseline": self.gain_vs_baseline.to_dict(),
            "gain_vs_production": self.gain_vs_production.to_dict() if self.gain_vs_production else None,
            "slices": self.slices,
        }


def evaluate(
    holdout: pd.DataFrame,
    target: str,
    timestamp: str,
    candidate_pred: np.ndarray,
    baseline_pred: np.ndarray,
    cfg: EvaluationConfig,
    production_pred: np.ndarray | None = None,
    production_version: str | None = None,
) -> EvaluationReport:
    y = holdout[target].to_numpy(dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"holdout has {int(np.isnan(y).sum())} rows without an actual '{target}'")
    days = holdout[timestamp].to_numpy()
    boot = dict(metric=cfg.primary_metric, samples=cfg.bootstrap_samples, confidence=cfg.confidence, seed=cfg.seed)
    report = EvaluationReport(
        primary_metric=cfg.primary_metric,
        rows=len(holdout),
        candidate=compute(y, candidate_pred),
        baseline=compute(y, baseline_pred),
        gain_vs_baseline=bootstrap_relative_gain(y, candidate_pred, baseline_pred, days, **boot),
        holdout_start=str(holdout[timestamp].min()),
        holdout_end=str(holdout[timestamp].max()),
    )
    frame = pd.DataFrame({cfg.slice_by: holdout[cfg.slice_by].to_numpy(), "y": y, "cand": candidate_pred, "base": baseline_pred})
    if production_pred is not None:
        report.production = compute(y, production_pred)
        report.production_version = production_version
        report.gain_vs_production = bootstrap_relative_gain(y, candidate_pred, production_pred, days, **boot)
        frame["prod"] = production_pred
    slices = slice_metrics(frame, cfg.slice_by, "y", "cand").rename(columns={m: f"candidate_{m}" for m in ("mae", "wape", "bias")})
    for name in ("base", "prod"):
        if name in frame:
            other = slice_metrics(frame, cfg.slice_by, "y", name)[[cfg.slice_by, "wape"]]
            slices = slices.merge(other.rename(columns={"wape": f"{'baseline' if name == 'base' else 'production'}_wape"}), on=cfg.slice_by)
    report.slices = slices.rename(columns={cfg.slice_by: "slice"}).assign(slice=lambda d: d["slice"].astype(str)).to_dict("records")
    return report


def report_from_dict(d: dict) -> EvaluationReport:
    """Inverse of ``EvaluationReport.to_dict`` (artifacts travel as JSON)."""

    def m(x: dict | None) -> Metrics | None:
        return Metrics(**x) if x else None

    def g(x: dict | None) -> GainInterval | None:
        return GainInterval(**x) if x else None

    holdout = d.get("holdout") or ["", ""]
    return EvaluationReport(
        primary_metric=d["primary_metric"],
        rows=d["rows"],
        candidate=m(d["candidate"]),
        baseline=m(d["baseline"]),
        gain_vs_baseline=g(d["gain_vs_baseline"]),
        production=m(d.get("production")),
        production_version=d.get("production_version"),
        gain_vs_production=g(d.get("gain_vs_production")),
        slices=list(d.get("slices") or []),
        holdout_start=holdout[0],
        holdout_end=holdout[1],
    )
