"""Metrics per task, per slice, and a paired cluster bootstrap of the gain.

Every metric is registered once (``METRICS``) with its name, its task, its
direction and how it is computed from actuals ``y`` and predictions ``p``
(for classification ``p`` is the probability of the positive class; ``f1``
also needs the model's decision threshold):

* direction ``lower``: lower is better (mae, rmse, wape, log_loss, brier, ece);
* direction ``higher``: higher is better (roc_auc, pr_auc, f1);
* direction ``zero``: closer to zero is better (bias). It is compared on
  ``|bias|`` (lower is better), so it can be gated on like any other metric.

The bootstrap resamples whole clusters (days: all rows of a day together):
errors within a day are correlated, and resampling rows would make the
interval too narrow, so a within-noise gain would look significant. Metrics
that are a ratio of sums (wape, mae, rmse, bias, brier, log_loss, f1) take a
vectorised path; every other metric (roc_auc, pr_auc, ece) is recomputed on
each resample, with the resampled clusters as row weights (a cluster drawn
twice counts twice, exactly as if its rows were duplicated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

Direction = Literal["lower", "higher", "zero"]
DIRECTIONS: tuple[str, ...] = ("lower", "higher", "zero")
# f1 of a classifier without a threshold of its own.
DEFAULT_THRESHOLD = 0.5
ECE_BINS = 10
_EPS = 1e-15

Weights = np.ndarray | None


# ------------------------------------------------------------ computations --
# Each returns NaN where the metric is undefined; the public wrappers raise.


def _w(y: np.ndarray, weight: Weights) -> np.ndarray:
    return np.ones_like(y, dtype=float) if weight is None else np.asarray(weight, float)


def _ratio(num: np.ndarray, den: np.ndarray, weight: Weights) -> float:
    w = _w(num, weight)
    d = float((w * den).sum())
    return float((w * num).sum() / d) if d != 0 else float("nan")


def _parts_abs(y, p, t):
    return np.abs(p - y), np.ones_like(y)


def _parts_sq(y, p, t):
    return (p - y) ** 2, np.ones_like(y)


def _parts_wape(y, p, t):
    return np.abs(p - y), np.abs(y)


def _parts_bias(y, p, t):
    return p - y, np.abs(y)


def _parts_log_loss(y, p, t):
    q = np.clip(p, _EPS, 1 - _EPS)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q)), np.ones_like(y)


def _parts_f1(y, p, t):
    # F1 = 2 TP / (2 TP + FP + FN) = 2 sum(yhat * y) / sum(yhat + y): a ratio of sums.
    yhat = (p >= (DEFAULT_THRESHOLD if t is None else t)).astype(float)
    return 2.0 * yhat * y, yhat + y


def _roc_auc(y, p, t, weight):
    """Weighted Mann-Whitney AUC; tied scores count one half."""
    w = _w(y, weight)
    order = np.argsort(p, kind="mergesort")
    ps, pos, neg = p[order], (w * y)[order], (w * (1 - y))[order]
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    g_pos, g_neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    below = np.cumsum(g_neg) - g_neg
    return float((g_pos * (below + 0.5 * g_neg)).sum() / (total_pos * total_neg))


def _pr_auc(y, p, t, weight):
    """Average precision, as scikit-learn defines it: sum of (R_n - R_n-1) * P_n."""
    w = _w(y, weight)
    order = np.argsort(-p, kind="mergesort")
    ps, pos, neg = p[order], (w * y)[order], (w * (1 - y))[order]
    total_pos = pos.sum()
    if total_pos <= 0:
        return float("nan")
    ends = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), ps.size - 1]
    tp, fp = np.cumsum(pos)[ends], np.cumsum(neg)[ends]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    recall = tp / total_pos
    return float((np.diff(np.r_[0.0, recall]) * precision).sum())


def _ece(y, p, t, weight, bins: int = ECE_BINS):
    """Expected calibration error over ``bins`` equal-width bins of [0, 1]:
    sum over bins of (bin weight share) * |observed rate - mean probability|.
    Bin edges as scikit-learn's ``calibration_curve`` (uniform): a value on an
    edge belongs to the upper bin, 1.0 to the last one."""
    w = _w(y, weight)
    total = w.sum()
    if total <= 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.searchsorted(edges[1:-1], p, side="right")
    yb = np.bincount(b, weights=w * y, minlength=bins)
    pb = np.bincount(b, weights=w * p, minlength=bins)
    return float(np.abs(yb - pb).sum() / total)


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """The reliability table behind ``ece``: one row per non-empty bin."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.searchsorted(edges[1:-1], p, side="right")
    out = []
    for i in range(bins):
        m = b == i
        if m.any():
            out.append(
                {
                    "bin": f"[{edges[i]:.1f}, {edges[i + 1]:.1f}{']' if i == bins - 1 else ')'}",
                    "rows": int(m.sum()),
                    "mean_predicted": float(p[m].mean()),
                    "observed_rate": float(y[m].mean()),
                }
            )
    return out


# ---------------------------------------------------------------- registry --


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    direction: Direction
    description: str
    # When the metric is undefined (the error message, a sentence).
    undefined: str
    # Ratio of sums: per-row (numerator, denominator), then ``finish``.
    parts: Callable | None = None
    finish: Callable | None = None
    # Otherwise a function of (y, p, threshold, weight) -> float (NaN if undefined).
    func: Callable | None = None
    uses_threshold: bool = False

    @property
    def decomposable(self) -> bool:
        return self.parts is not None

    def value(self, y: np.ndarray, p: np.ndarray, threshold: float | None = None, weight: Weights = None) -> float:
        """The metric, NaN where undefined (no raising: bootstrap resamples use it)."""
        if self.parts is not None:
            num, den = self.parts(y, p, threshold)
            v = _ratio(num, den, weight)
            return float(self.finish(v)) if self.finish is not None and np.isfinite(v) else v
        if self.func is None:
            raise ValueError(f"metric {self.name!r} defines neither parts nor func")
        return float(self.func(y, p, threshold, weight))

    def loss(self, value: float) -> float:
        return loss(self.direction, value)


def _reg(name, direction, description, undefined, **kw) -> Metric:
    return Metric(name, "regression", direction, description, undefined, **kw)


def _clf(name, direction, description, undefined, **kw) -> Metric:
    return Metric(name, "binary_classification", direction, description, undefined, **kw)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _reg("mae", "lower", "mean absolute error", "MAE is undefined on zero rows", parts=_parts_abs),
        _reg("rmse", "lower", "root mean squared error", "RMSE is undefined on zero rows", parts=_parts_sq, finish=np.sqrt),
        _reg("wape", "lower", "weighted absolute percentage error: sum|error| / sum|actual|", "WAPE is undefined when every actual is zero", parts=_parts_wape),
        _reg(
            "bias",
            "zero",
            "signed relative bias sum(error) / sum|actual| (positive: over-forecasting); compared on |bias|",
            "bias is undefined when every actual is zero",
            parts=_parts_bias,
        ),
        _clf("roc_auc", "higher", "area under the ROC curve", "roc_auc is undefined when the actuals hold a single class (both are needed)", func=_roc_auc),
        _clf("pr_auc", "higher", "average precision (area under the precision-recall curve)", "pr_auc is undefined when no actual is positive", func=_pr_auc),
        _clf("log_loss", "lower", "mean negative log-likelihood of the actual class", "log_loss is undefined on zero rows", parts=_parts_log_loss),
        _clf("brier", "lower", "mean squared error of the probability", "brier is undefined on zero rows", parts=_parts_sq),
        _clf(
            "f1",
            "higher",
            "F1 score at the model's decision threshold",
            "f1 is undefined when no row is positive, actual or predicted",
            parts=_parts_f1,
            uses_threshold=True,
        ),
        _clf("ece", "lower", f"expected calibration error ({ECE_BINS} equal-width bins)", "ece is undefined on zero rows", func=_ece),
    )
}

TASKS: tuple[str, ...] = ("regression", "binary_classification")


def metric_names(task: str) -> list[str]:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")
    return [n for n, m in METRICS.items() if m.task == task]


def get_metric(name: str, task: str | None = None) -> Metric:
    m = METRICS.get(name)
    if m is None:
        raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    if task is not None and m.task != task:
        raise ValueError(f"'{name}' is a {m.task} metric, not a {task} one; choose one of {metric_names(task)}")
    return m


def metric_direction(name: str) -> Direction:
    return get_metric(name).direction


def loss(direction: str, value: float) -> float:
    """The value on a lower-is-better scale (higher: negated; zero: |value|)."""
    if direction == "lower":
        return value
    if direction == "higher":
        return -value
    if direction == "zero":
        return abs(value)
    raise ValueError(f"unknown metric direction {direction!r}; known: {list(DIRECTIONS)}")


def relative_gain(direction: str, candidate: float, reference: float) -> float:
    """Relative improvement of ``candidate`` over ``reference``: positive means
    better, in the metric's own direction; 0 when the reference is 0 (a relative
    gain over nothing is undefined, and 0 never passes a gate)."""
    if reference == 0:
        return 0.0
    return (loss(direction, reference) - loss(direction, candidate)) / abs(reference)


def relative_degradation(direction: str, value: float, reference: float) -> float:
    """How much worse ``value`` is than ``reference``, relative (positive: worse;
    ``inf`` when the reference is 0 and the value is worse)."""
    diff = loss(direction, value) - loss(direction, reference)
    if reference == 0:
        return float("inf") if diff > 0 else 0.0
    return diff / abs(reference)


def describe_direction(direction: str) -> str:
    return {"lower": "lower is better", "higher": "higher is better", "zero": "closer to zero is better"}[direction]


# ---------------------------------------------------------------- computing --


def _check_inputs(task: str, y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, float), np.asarray(p, float)
    if y.shape != p.shape:
        raise ValueError(f"actuals and predictions differ in shape: {y.shape} vs {p.shape}")
    if y.size == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} predictions are NaN")
    if np.isnan(y).any():
        raise ValueError(f"{int(np.isnan(y).sum())} actuals are NaN")
    if task == "binary_classification":
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"binary_classification actuals must be 0/1; got values {sorted(set(np.unique(y).tolist()) - {0.0, 1.0})[:5]}")
        if (p < 0).any() or (p > 1).any():
            raise ValueError("binary_classification predictions must be probabilities in [0, 1]")
    return y, p


def _value(m: Metric, y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> float:
    v = m.value(y, p, threshold)
    if not np.isfinite(v):
        raise ValueError(m.undefined)
    return v


def compute_all(task: str, y: np.ndarray, p: np.ndarray, threshold: float | None = None, names: list[str] | None = None) -> dict[str, float]:
    """Every metric of ``task`` in registry order, or only ``names`` in their order."""
    names = list(names) if names else metric_names(task)
    ms = [get_metric(n, task) for n in names]
    y, p = _check_inputs(task, y, p)
    return {m.name: _value(m, y, p, threshold) for m in ms}


@dataclass(frozen=True)
class Metrics:
    """Metric values of one model on some rows."""

    values: dict[str, float]
    rows: int

    def get(self, name: str) -> float:
        if name not in self.values:
            raise KeyError(f"metric '{name}' was not computed; computed: {sorted(self.values)}")
        return float(self.values[name])

    def __getitem__(self, name: str) -> float:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __getattr__(self, name: str) -> float:
        # m.wape as a shorthand for m.get("wape"); never for private names
        # (unpickling looks some up before ``values`` exists).
        if name.startswith("_") or name in ("values", "rows"):
            raise AttributeError(name)
        try:
            return self.get(name)
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def to_dict(self) -> dict:
        return {**{k: float(v) for k, v in self.values.items()}, "rows": int(self.rows)}

    @classmethod
    def from_dict(cls, d: dict) -> Metrics:
        return cls({k: float(v) for k, v in d.items() if k != "rows"}, int(d["rows"]))


def compute(y: np.ndarray, p: np.ndarray, task: str = "regression", threshold: float | None = None, names: list[str] | None = None) -> Metrics:
    return Metrics(compute_all(task, y, p, threshold, names), int(np.asarray(y).size))


# Plain functions, for readers and tests (they raise where undefined).
def mae(y, p) -> float:
    return _value(METRICS["mae"], *_check_inputs("regression", y, p))


def rmse(y, p) -> float:
    return _value(METRICS["rmse"], *_check_inputs("regression", y, p))


def wape(y, p) -> float:
    """Weighted absolute percentage error: sum|error| / sum|actual|."""
    return _value(METRICS["wape"], *_check_inputs("regression", y, p))


def bias(y, p) -> float:
    """Signed relative bias: positive means over-forecasting (0 when every actual is 0)."""
    y, p = _check_inputs("regression", y, p)
    v = METRICS["bias"].value(y, p)
    return v if np.isfinite(v) else 0.0


def roc_auc(y, p) -> float:
    return _value(METRICS["roc_auc"], *_check_inputs("binary_classification", y, p))


def pr_auc(y, p) -> float:
    return _value(METRICS["pr_auc"], *_check_inputs("binary_classification", y, p))


def log_loss(y, p) -> float:
    return _value(METRICS["log_loss"], *_check_inputs("binary_classification", y, p))


def brier(y, p) -> float:
    return _value(METRICS["brier"], *_check_inputs("binary_classification", y, p))


def f1(y, p, threshold: float = DEFAULT_THRESHOLD) -> float:
    return _value(METRICS["f1"], *_check_inputs("binary_classification", y, p), threshold)


def ece(y, p) -> float:
    return _value(METRICS["ece"], *_check_inputs("binary_classification", y, p))


def slice_metrics(
    frame: pd.DataFrame, by: str, y: str, p: str, task: str = "regression", names: list[str] | None = None, threshold: float | None = None
) -> pd.DataFrame:
    """Metrics per value of ``by``; one row per slice, NaN where a metric is
    undefined on a slice (e.g. roc_auc of a slice with one class)."""
    names = list(names) if names else metric_names(task)
    ms = [get_metric(n, task) for n in names]
    rows = []
    for key, g in frame.groupby(by, observed=True, sort=True):
        yy, pp = g[y].to_numpy(dtype=float), g[p].to_numpy(dtype=float)
        rows.append({by: key, "rows": len(g), **{m.name: m.value(yy, pp, threshold) for m in ms}})
    return pd.DataFrame(rows, columns=[by, "rows", *names])


# ---------------------------------------------------------------- bootstrap --


@dataclass(frozen=True)
class GainInterval:
    """Relative gain of a candidate over a reference in one metric, positive =
    candidate better (in the metric's direction): (loss(ref) - loss(cand)) / |ref|."""

    point: float
    low: float
    high: float
    samples: int
    metric: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_relative_gain(
    y: np.ndarray,
    candidate: np.ndarray,
    reference: np.ndarray,
    cluster: np.ndarray,
    metric: str = "wape",
    samples: int = 300,
    confidence: float = 0.95,
    seed: int = 0,
    threshold: float | None = None,
    reference_threshold: float | None = None,
) -> GainInterval:
    """Paired cluster bootstrap of the relative gain in ``metric``.

    Both models are scored on the same resampled clusters (days), so the
    interval reflects the difference between them, not the day-to-day noise
    they share. The same seed gives the same interval. ``threshold`` is the
    candidate's decision threshold (f1), ``reference_threshold`` the
    reference's (default: the candidate's).
    """
    m = get_metric(metric)
    y, c = _check_inputs(m.task, y, candidate)
    _, r = _check_inputs(m.task, y, reference)
    rt = threshold if reference_threshold is None else reference_threshold
    codes, uniques = pd.factorize(np.asarray(cluster))
    if codes.shape != y.shape:
        raise ValueError(f"clusters and actuals differ in shape: {codes.shape} vs {y.shape}")
    k = len(uniques)
    if k < 2:
        raise ValueError("bootstrap needs at least two clusters (days)")
    point_c, point_r = _value(m, y, c, threshold), _value(m, y, r, rt)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(samples, k))
    counts = np.bincount((np.arange(samples)[:, None] * k + draws).ravel(), minlength=samples * k).reshape(samples, k).astype(float)
    if m.parts is not None:  # m.decomposable, spelled out so the type narrows
        per = np.zeros((4, k))
        for i, (pred, t) in enumerate(((c, threshold), (r, rt))):
            num, den = m.parts(y, pred, t)
            per[2 * i] = np.bincount(codes, weights=num, minlength=k)
            per[2 * i + 1] = np.bincount(codes, weights=den, minlength=k)
        sums = counts @ per.T  # (samples, 4)
        with np.errstate(divide="ignore", invalid="ignore"):
            cand, ref = sums[:, 0] / sums[:, 1], sums[:, 2] / sums[:, 3]
        if m.finish is not None:
            with np.errstate(invalid="ignore"):
                cand, ref = m.finish(cand), m.finish(ref)
    else:
        cand, ref = np.empty(samples), np.empty(samples)
        for s in range(samples):
            w = counts[s][codes]
            keep = w > 0
            yy, ww = y[keep], w[keep]
            cand[s], ref[s] = m.value(yy, c[keep], threshold, ww), m.value(yy, r[keep], rt, ww)
    valid = np.isfinite(cand) & np.isfinite(ref)
    if valid.sum() < max(10, samples // 2):
        raise ValueError(f"bootstrap of {metric}: only {int(valid.sum())} of {samples} resamples could compute it ({m.undefined})")
    cand, ref = cand[valid], ref[valid]
    lc, lr = _loss_array(m.direction, cand), _loss_array(m.direction, ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        gains = np.where(ref != 0, (lr - lc) / np.abs(ref), 0.0)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    return GainInterval(point=float(relative_gain(m.direction, point_c, point_r)), low=float(low), high=float(high), samples=int(valid.sum()), metric=metric)


def _loss_array(direction: str, v: np.ndarray) -> np.ndarray:
    if direction == "lower":
        return v
    if direction == "higher":
        return -v
    return np.abs(v)
