"""The promotion gate: a pure function from an evaluation to a decision.

It fails closed: no evaluation, a failed one, a tie, or a gain within the
bootstrap noise all mean "not promoted", each with a reason a reviewer can read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from runway.config import PromotionConfig
from runway.evaluation.report import EvaluationReport


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Decision:
    promote: bool
    reason: str
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"promote": self.promote, "reason": self.reason, "checks": [asdict(c) for c in self.checks]}


def decide(
    report: EvaluationReport | None,
    policy: PromotionConfig,
    candidate_sha256: str | None = None,
    production_sha256: str | None = None,
    evaluation_error: str | None = None,
) -> Decision:
    if evaluation_error:
        return Decision(False, f"evaluation failed: {evaluation_error}")
    if report is None:
        return Decision(False, "no evaluation: a model without an evaluation is never promoted")
    if not candidate_sha256:
        return Decision(False, "candidate artifact has no sha256: cannot record what would be promoted")
    if production_sha256 and candidate_sha256 == production_sha256:
        return Decision(False, f"duplicate: the candidate artifact is identical to production version {report.production_version} (sha256 {candidate_sha256[:12]})")

    metric = report.primary_metric
    checks: list[Check] = []
    gb = report.gain_vs_baseline
    checks.append(
        Check(
            "beats_baseline",
            gb.low > policy.min_improvement_vs_baseline,
            f"{metric} {report.candidate.get(metric):.4f} vs seasonal-naive {report.baseline.get(metric):.4f}; "
            f"gain {gb.point:+.2%} [{gb.low:+.2%}, {gb.high:+.2%}] must be > {policy.min_improvement_vs_baseline:.2%}",
        )
    )
    ref_col = "baseline_wape"
    if report.production is not None and report.gain_vs_production is not None:
        gp = report.gain_vs_production
        checks.append(
            Check(
                "beats_production",
                gp.low > policy.min_improvement_vs_production,
                f"{metric} {report.candidate.get(metric):.4f} vs production v{report.production_version} {report.production.get(metric):.4f}; "
                f"gain {gp.point:+.2%} [{gp.low:+.2%}, {gp.high:+.2%}] must be > {policy.min_improvement_vs_production:.2%}",
            )
        )
        ref_col = "production_wape"
    regressions = []
    for s in report.slices:
        if s["rows"] < policy.min_slice_rows or s.get(ref_col) is None or s.get("candidate_wape") is None:
            continue
        if s["candidate_wape"] > s[ref_col] * (1 + policy.slice_regression_tolerance):
            regressions.append(f"{s['slice']} ({s['candidate_wape']:.3f} vs {s[ref_col]:.3f})")
    checks.append(
        Check(
            "no_slice_regression",
            not regressions,
            f"slices worse than {ref_col.split('_')[0]} by more than {policy.slice_regression_tolerance:.0%}: {', '.join(regressions)}"
            if regressions
            else f"no slice worse than {ref_col.split('_')[0]} by more than {policy.slice_regression_tolerance:.0%}",
        )
    )
    failed = [c for c in checks if not c.passed]
    if failed:
        return Decision(False, "; ".join(f"{c.name} failed: {c.detail}" for c in failed), checks)
    target = f"production v{report.production_version}" if report.production is not None else "the seasonal-naive baseline (no production model yet)"
    return Decision(True, f"promoted: beats {target} on every check", checks)
