"""The promotion gate: a pure function from an evaluation to a decision.

Every check is on the report's primary metric, in its direction (gains are
positive when the candidate is better). It fails closed: no evaluation, a
failed one, a duplicate artifact, a tie, or a gain within the bootstrap noise
all mean "not promoted", each with a reason a reviewer can read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from runway.config import PromotionConfig
from runway.evaluation.metrics import describe_direction, relative_degradation
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


def _finite(*xs) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _gain_check(name: str, gain, margin: float, metric: str, cand: float, ref_name: str, ref: float) -> Check:
    ok = _finite(gain.point, gain.low, gain.high) and gain.low > margin
    return Check(
        name,
        ok,
        f"{metric} {cand:.4f} vs {ref_name} {ref:.4f}; gain {gain.point:+.2%} [{gain.low:+.2%}, {gain.high:+.2%}] must be > {margin:.2%}",
    )


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
        return Decision(
            False, f"duplicate: the candidate artifact is identical to production version {report.production_version} (sha256 {candidate_sha256[:12]})"
        )

    metric = report.primary_metric
    try:
        direction = report.direction
        cand, base = report.candidate.get(metric), report.baseline.get(metric)
        prod = report.production.get(metric) if report.production is not None else None
    except (KeyError, ValueError) as exc:
        return Decision(False, f"evaluation is incomplete: {exc}")
    if report.production is not None and report.gain_vs_production is None:
        return Decision(False, f"evaluation is incomplete: production v{report.production_version} was scored but has no {metric} gain interval")
    base_name = f"{report.baseline_label} baseline"
    checks = [_gain_check("beats_baseline", report.gain_vs_baseline, policy.min_improvement_vs_baseline, metric, cand, base_name, base)]
    ref_who, ref_name = "baseline", base_name
    if report.production is not None:
        if prod is None:  # read above whenever report.production is set
            raise ValueError(f"production v{report.production_version} has no {metric} value")
        checks.append(
            _gain_check(
                "beats_production",
                report.gain_vs_production,
                policy.min_improvement_vs_production,
                metric,
                cand,
                f"production v{report.production_version}",
                prod,
            )
        )
        ref_who, ref_name = "production", f"production v{report.production_version}"

    tol = policy.slice_regression_tolerance
    cand_col, ref_col = f"candidate_{metric}", f"{ref_who}_{metric}"
    regressions = []
    for s in report.slices:
        c, r = s.get(cand_col), s.get(ref_col)
        if s.get("rows", 0) < policy.min_slice_rows or c is None or r is None or not _finite(c, r):
            continue
        if relative_degradation(direction, c, r) > tol:
            regressions.append(f"{s['slice']} ({c:.3f} vs {r:.3f})")
    scope = f"{metric} ({describe_direction(direction)}) on any {report.slice_by or 'slice'}"
    checks.append(
        Check(
            "no_slice_regression",
            not regressions,
            f"slices worse than {ref_name} by more than {tol:.0%} in {scope}: {', '.join(regressions)}"
            if regressions
            else f"no slice worse than {ref_name} by more than {tol:.0%} in {scope}",
        )
    )
    failed = [c for c in checks if not c.passed]
    if failed:
        return Decision(False, "; ".join(f"{c.name} failed: {c.detail}" for c in failed), checks)
    target = f"production v{report.production_version}" if report.production is not None else f"the {base_name} (no production model yet)"
    return Decision(True, f"promoted: beats {target} on {metric} on every check", checks)
