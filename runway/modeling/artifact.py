"""Time-based split, training per task, and the model artifact with its hash.

``ModelArtifact`` carries the estimator together with the exact feature list
it was trained on, so inference cannot silently feed it columns in another
order, and with what the task needs to use it: the clipping range of a
regression, the decision threshold of a classifier. Its serialised bytes are
what the decision log's sha256 refers to.

Small batches (the online service's one-entity requests) take a NumPy fast
path where the estimator allows one (``runway.modeling.fastpath``): the same
trees and the same float additions, without pandas column selection and
scikit-learn's per-call validation, checked against the scikit-learn path
when it is built.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from runway.config import ModelConfig, SplitConfig
from runway.modeling.estimators import make_estimator

logger = logging.getLogger(__name__)

PICKLE_PROTOCOL = 5
# threshold "auto": tuned on the last share of the training window's days.
TUNING_SHARE = 0.2
# Batches up to this many rows take the fast path when the estimator has one.
FAST_PATH_MAX_ROWS = 16
_FAST = "_fast_path"  # instance attribute caching it; never pickled (see __getstate__)


class ArtifactIntegrityError(RuntimeError):
    """A model artifact's bytes do not match the sha256 recorded for it."""


@runtime_checkable  # ZenML builds a pydantic model of step signatures: it needs isinstance
class Estimator(Protocol):
    """A fitted scikit-learn estimator or pipeline (classifiers also have
    ``classes_`` and ``predict_proba``)."""

    def predict(self, x: pd.DataFrame, /) -> Any: ...


@dataclass
class ModelArtifact:
    estimator: Estimator
    features: list[str]
    target: str
    task: str
    trained_rows: int
    train_start: str
    train_end: str
    # Classification: predict_label is probability >= threshold.
    threshold: float | None = None
    # Regression: predictions are clipped to [clip_min, clip_max] (None: open).
    clip_min: float | None = None
    clip_max: float | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return self.task == "binary_classification"

    def __getstate__(self) -> dict:
        # The fast path is rebuilt after loading: the artifact's bytes (and so
        # its sha256) never depend on whether it has been used.
        state = dict(self.__dict__)
        state.pop(_FAST, None)
        return state

    def _matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's inputs as one float64 block, ``features`` in order.

        Filled column by column into one Fortran-ordered array (what
        ``frame[features].astype(float)`` yields, without its intermediate
        frame and block consolidation: two copies of the inputs at 1M rows);
        the frame around it keeps the column names the estimator was fitted
        with and hands scikit-learn the array itself."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"model needs features missing from the frame: {', '.join(missing)}")
        x = np.empty((len(frame), len(self.features)), dtype=float, order="F")
        for j, f in enumerate(self.features):
            x[:, j] = _float_column(frame[f])
        return pd.DataFrame(x, columns=self.features, index=frame.index, copy=False)

    def fast_path(self):
        """The estimator's NumPy fast path (built once, checked against the
        scikit-learn path), or None where it has none."""
        if _FAST not in self.__dict__:
            from runway.modeling.fastpath import build_fast_path

            try:
                fast = build_fast_path(self.estimator, len(self.features))
            except Exception as exc:  # noqa: BLE001 - no fast path: the scikit-learn one serves
                logger.warning("model fast path not used: %s", exc)
                fast = None
            self.__dict__[_FAST] = fast
        return self.__dict__[_FAST]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Regression: the (clipped) value. Classification: P(positive class)."""
        if len(frame) <= FAST_PATH_MAX_ROWS and self.fast_path() is not None:
            missing = [f for f in self.features if f not in frame.columns]
            if missing:
                raise KeyError(f"model needs features missing from the frame: {', '.join(missing)}")
            return self.predict_matrix(np.column_stack([_float_column(frame[f]) for f in self.features]))
        x = self._matrix(frame)
        if self.is_classifier:
            return _positive_proba(self.estimator, x)
        return self._clip(np.asarray(self.estimator.predict(x), dtype=float))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """``predict`` of a float matrix whose columns are ``features`` in
        order (what the online service builds without a DataFrame)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"model needs a (rows, {len(self.features)}) matrix of {', '.join(self.features)}; got shape {x.shape}")
        fast = self.fast_path() if len(x) <= FAST_PATH_MAX_ROWS else None
        if fast is None:
            return self.predict(pd.DataFrame(x, columns=self.features))
        if self.is_classifier:
            return fast.positive_proba(x)
        return self._clip(fast.predict(x))

    def _clip(self, pred: np.ndarray) -> np.ndarray:
        if self.clip_min is not None or self.clip_max is not None:
            pred = np.clip(pred, self.clip_min, self.clip_max)
        return pred

    def predict_label(self, frame: pd.DataFrame) -> np.ndarray:
        """Classification only: 1 where P(positive) >= threshold, else 0."""
        if not self.is_classifier:
            raise TypeError(f"predict_label is for classifiers; this model's task is '{self.task}'")
        return (self.predict(frame) >= self.threshold).astype(int)


def _float_column(col: pd.Series) -> np.ndarray:
    """``col.astype(float)`` as an array; plain NumPy columns without pandas' astype."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
        return np.asarray(col, dtype=float)
    return col.astype(float).to_numpy()


def _positive_proba(estimator, x) -> np.ndarray:
    classes = list(estimator.classes_)
    return np.asarray(estimator.predict_proba(x), dtype=float)[:, classes.index(1)]


def serialize(model: ModelArtifact) -> bytes:
    return pickle.dumps(model, protocol=PICKLE_PROTOCOL)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Second line of defence behind the hash check: what an artifact may name.
# Module prefixes whose classes and functions a fitted model is made of ...
ALLOWED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "runway.modeling.")
ALLOWED_MODULES = frozenset({"sklearn", "numpy", "scipy", "runway.modeling"})
# ... the few plain builtins / collections types it holds ...
ALLOWED_BUILTINS = frozenset(
    {
        ("builtins", n)
        for n in ("object", "int", "float", "complex", "bool", "str", "bytes", "bytearray", "list", "tuple", "dict", "set", "frozenset", "slice", "range")
    }
    | {("collections", n) for n in ("OrderedDict", "defaultdict", "deque", "Counter")}
    | {("copyreg", "_reconstructor"), ("_codecs", "encode")}
)
# ... and never anything that reads, writes or runs (numpy.save / load / memmap,
# fromfile, ...), even inside an allowed module.
_DENIED_NAME = re.compile(r"(load|save|file|open|exec|eval|system|popen|spawn|remove|unlink|rmtree|write|import|compile|memmap|attr|globals|subprocess)", re.I)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only what a ``ModelArtifact`` is made of.

    Not a sandbox: it narrows what a pickle can reach to scikit-learn, NumPy,
    SciPy, ``runway.modeling`` and basic containers, and refuses anything
    named like I/O or code execution. The hash check against a trusted
    record comes first.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_BUILTINS:
            return super().find_class(module, name)
        if not _allowed_module(module) or _DENIED_NAME.search(name):
            raise ArtifactIntegrityError(f"model artifact refers to {module}.{name}, which a model artifact may not contain; refusing to load it")
        obj = super().find_class(module, name)
        # A dotted name or a re-export can reach outside the allowed modules
        # (sklearn.x.os.system): the object itself must be defined inside them.
        home = getattr(obj, "__module__", None) or module
        if not _allowed_module(home):
            raise ArtifactIntegrityError(f"model artifact refers to {module}.{name}, defined in {home}; refusing to load it")
        return obj


def _allowed_module(module: str) -> bool:
    return module in ALLOWED_MODULES or module.startswith(ALLOWED_MODULE_PREFIXES)


def restricted_loads(data: bytes) -> Any:
    return RestrictedUnpickler(io.BytesIO(data)).load()


def deserialize_verified(data: bytes, expected_sha256: str | None) -> ModelArtifact:
    """Unpickle only bytes whose hash matches a trusted record (pickle runs code),
    and then only through ``RestrictedUnpickler``.

    ``expected_sha256`` must come from outside the artifact store (the
    verified decision log, or the content hash ZenML recorded at save time);
    None refuses.
    """
    if not expected_sha256:
        raise ArtifactIntegrityError("no trusted sha256 recorded for this model artifact; refusing to unpickle it")
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(f"model artifact sha256 {actual[:12]}… does not match the recorded {expected_sha256[:12]}…; refusing to load it")
    try:
        model = restricted_loads(data)
    except ArtifactIntegrityError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle is an integrity problem, said once
        raise ArtifactIntegrityError(f"model artifact does not unpickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, ModelArtifact):
        raise ArtifactIntegrityError(f"artifact holds a {type(model).__name__}, not a ModelArtifact")
    return model


def time_split(frame: pd.DataFrame, timestamp: str, cfg: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last ``holdout_days`` days are the holdout; everything before trains."""
    if frame.empty:
        raise ValueError("cannot split an empty training frame")
    end = frame[timestamp].max()
    cut = end - pd.Timedelta(days=cfg.holdout_days - 1)
    train, holdout = frame[frame[timestamp] < cut], frame[frame[timestamp] >= cut]
    train_days = train[timestamp].dt.normalize().nunique()
    if train_days < cfg.min_train_days:
        raise ValueError(f"only {train_days} training days before the {cfg.holdout_days}-day holdout; split.min_train_days is {cfg.min_train_days}")
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _labels(y: pd.Series, target: str) -> np.ndarray:
    """A binary target as 0/1 ints (bools and 0.0/1.0 accepted)."""
    values = pd.unique(y)
    bad = [v for v in values if v not in (0, 1)]  # True == 1, False == 0
    if bad:
        raise ValueError(f"binary_classification needs a 0/1 (or boolean) target; '{target}' has values like {bad[:5]}")
    return y.astype(float).astype(int).to_numpy()


def _fit(cfg: ModelConfig, x: pd.DataFrame, y: np.ndarray, what: str):
    if cfg.task == "binary_classification":
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(f"{what}: every row has '{cfg.target}' = {int(classes[0])}; a classifier needs both classes")
    est = make_estimator(cfg)
    est.fit(x, y)
    return est


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of ``p >= threshold``; the lowest such threshold on ties."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    i = int(np.argmax(f1))
    return float(np.clip(thresholds[i], 1e-6, 1 - 1e-6)), float(f1[i])


def _tune_threshold(labelled: pd.DataFrame, features: list[str], cfg: ModelConfig, timestamp: str) -> tuple[float, dict]:
    """F1-best threshold on the last ``TUNING_SHARE`` of the training days,
    scored by a model fit on the earlier days only. Sees nothing but the
    training window it is given (never the holdout)."""
    day = labelled[timestamp].dt.normalize()
    days = np.sort(day.unique())
    if days.size < 2:
        raise ValueError("model.threshold 'auto' needs at least two training days (fit on the earlier 80%, tune on the rest)")
    n_fit = min(days.size - 1, max(1, int(np.floor(days.size * (1 - TUNING_SHARE)))))
    cut = days[n_fit]
    early, late = labelled[day < cut], labelled[day >= cut]
    y_late = _labels(late[cfg.target], cfg.target)
    if np.unique(y_late).size < 2:
        raise ValueError(
            f"model.threshold 'auto': the tuning days ({str(late[timestamp].min())[:10]} to {str(late[timestamp].max())[:10]}) "
            "hold one class only; set a fixed threshold"
        )
    est = _fit(cfg, early[features].astype(float), _labels(early[cfg.target], cfg.target), "model.threshold 'auto' (fit on the first 80% of training days)")
    threshold, best = best_f1_threshold(y_late, _positive_proba(est, late[features].astype(float)))
    detail = {
        "method": f"F1-best on the last {TUNING_SHARE:.0%} of training days, scored by a model fit on the earlier {1 - TUNING_SHARE:.0%}",
        "fit_rows": len(early),
        "fit_start": str(early[timestamp].min()),
        "fit_end": str(early[timestamp].max()),
        "tune_rows": len(late),
        "tune_start": str(late[timestamp].min()),
        "tune_end": str(late[timestamp].max()),
        "tune_f1": best,
    }
    return threshold, detail


def train(frame: pd.DataFrame, features: list[str], cfg: ModelConfig, timestamp: str) -> ModelArtifact:
    """Fit ``cfg``'s estimator on the labelled rows of ``frame`` (the training window only)."""
    labelled = frame.dropna(subset=[cfg.target])
    if labelled.empty:
        raise ValueError(f"no training rows with a known '{cfg.target}'")
    x = labelled[features].astype(float)
    metadata: dict = {"estimator": cfg.estimator, "params": dict(cfg.params), "task": cfg.task}
    # The review queue's attribution reference (runway.serving.review).
    metadata["feature_medians"] = {f: float(v) if np.isfinite(v) else 0.0 for f, v in x.median().items()}
    threshold = None
    if cfg.task == "binary_classification":
        y = _labels(labelled[cfg.target], cfg.target)
        if cfg.threshold == "auto":
            threshold, detail = _tune_threshold(labelled, features, cfg, timestamp)
            metadata |= {"threshold": threshold, "threshold_source": "auto", "threshold_detail": detail}
        else:
            threshold = float(cfg.threshold)
            metadata |= {"threshold": threshold, "threshold_source": "configured"}
        metadata["positive_rate"] = float(y.mean())
    else:
        y = labelled[cfg.target].to_numpy(dtype=float)
    est = _fit(cfg, x, y, "training window")
    return ModelArtifact(
        estimator=est,
        features=list(features),
        target=cfg.target,
        task=cfg.task,
        trained_rows=len(labelled),
        train_start=str(labelled[timestamp].min()),
        train_end=str(labelled[timestamp].max()),
        threshold=threshold,
        clip_min=cfg.clip_min if cfg.task == "regression" else None,
        clip_max=cfg.clip_max if cfg.task == "regression" else None,
        metadata=metadata,
    )
