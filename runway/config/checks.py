"""Cross-section checks of a use case, run when the settings load.

Each failure names the dotted key, so the loader can prefix the file: a
target that is not a column, a feature of an unknown column, a metric the
task does not have, a lag inside the forecast horizon are all refused
before any step runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runway.config.schema import Settings


def _fail(key: str, message: str) -> None:
    # pydantic turns a ValueError raised in a validator into one error line;
    # the key goes first so the loader can point at the file that set it.
    raise ValueError(f"{key}: {message}")


def check_references(s: Settings) -> None:
    columns = s.contract.columns
    if s.model.target not in columns:
        _fail("model.target", f"'{s.model.target}' is not a column of the contract ({sorted(columns)})")
    entities = {e.name: e for e in s.entities}
    if len(entities) != len(s.entities):
        _fail("entities", "entity names must be unique")
    for e in s.entities:
        for k in e.join_keys:
            if k not in s.contract.keys:
                _fail(f"entities.{e.name}.join_keys", f"'{k}' is not one of contract.keys {s.contract.keys}")
    _check_features(s, entities)
    if s.tenants is not None:
        t = s.tenants
        if t.source == "column" and t.tenant_column not in columns:
            _fail("tenants.tenant_column", f"'{t.tenant_column}' is not a column of the contract (tenants.source is 'column')")
        if t.source == "folders" and t.tenant_column in columns:
            _fail("tenants.tenant_column", f"'{t.tenant_column}' is a contract column, but tenants.source 'folders' adds it from the folder name")
        if t.tenant_column in s.contract.keys:
            _fail("tenants.tenant_column", "is part of every key by itself: do not list it in contract.keys")
    for key, cols in (("monitoring.segment_by", s.monitoring.segment_by), ("monitoring.categorical", s.monitoring.categorical)):
        for c in cols:
            if c not in columns:
                _fail(key, f"'{c}' is not a column of the contract")
    if s.evaluation.slice_by is not None and s.evaluation.slice_by not in columns:
        _fail("evaluation.slice_by", f"'{s.evaluation.slice_by}' is not a column of the contract")
    _check_metrics(s)
    _check_estimator_params(s)
    _check_privacy(s)
    if s.inference.review_band is not None and s.model.task != "binary_classification":
        _fail("inference.review_band", f"a review band of scores applies to binary_classification only (model.task is '{s.model.task}')")
    if s.model.task == "binary_classification":
        if s.evaluation.baseline.kind != "prior_rate":
            _fail("evaluation.baseline.kind", f"'{s.evaluation.baseline.kind}' is a forecasting rule; binary_classification uses 'prior_rate'")
        if s.model.clip_min is not None or s.model.clip_max is not None:
            _fail("model.clip_min", "clipping applies to regression only")
    elif s.evaluation.baseline.kind == "prior_rate":
        _fail("evaluation.baseline.kind", "'prior_rate' is for binary_classification; regression uses 'seasonal_naive' or 'last_value'")


def _check_features(s: Settings, entities: dict) -> None:
    f, columns = s.features, s.contract.columns
    for c in f.request:
        if c not in columns:
            _fail("features.request", f"'{c}' is not a column of the contract")
        if c == s.model.target:
            _fail("features.request", f"the target '{c}' cannot be a request feature")
    produced: list[str] = []
    lagged = False
    for v in f.views:
        for name in v.entities:
            if name not in entities:
                _fail(f"features.views.{v.name}.entities", f"unknown entity '{name}'; declared: {sorted(entities)}")
        lagged |= v.known == "lagged"
        for i, spec in enumerate(v.features):
            key = f"features.views.{v.name}.features[{i}]"
            if spec.column is not None and spec.column not in columns:
                _fail(f"{key}.column", f"'{spec.column}' is not a column of the contract")
            if v.known == "ahead" and spec.column == s.model.target:
                _fail(f"{key}.column", f"the target '{spec.column}' is only known late: its view must be 'known: lagged'")
            if v.known == "lagged" and spec.transform == "lag":
                short = [d for d in spec.days if d < f.horizon_days]
                if short:
                    _fail(f"{key}.days", f"lags {short} are shorter than features.horizon_days ({f.horizon_days}): they would read labels inside the horizon")
            if spec.transform in ("calendar", "days_to_next") and v.entities:
                _fail(f"{key}.transform", f"'{spec.transform}' belongs in a view without entities (keyed by date only)")
        from runway.features.naming import feature_names

        produced += feature_names(v)
    dup = sorted({n for n in produced if produced.count(n) > 1})
    if dup:
        _fail("features.views", f"feature name(s) {dup} produced twice")
    clash = [c for c in f.request if c in served_names(s)]
    if clash:
        _fail("features.request", f"{clash} are also served by a view: mark that feature 'serve: false'")
    if lagged:
        need = s.schedule.batch_days + s.schedule.label_delay_days
        if f.horizon_days < need:
            _fail(
                "features.horizon_days",
                f"{f.horizon_days} must be at least schedule.batch_days + label_delay_days ({need}) when a view is 'known: lagged': "
                "otherwise the last days of a batch are scored with stale features",
            )


def pii_uses(s: Settings) -> list[tuple[str, str]]:
    """(dotted key, column) of every place a column reaches past ingestion."""
    uses = [("contract.keys", k) for k in s.contract.keys]
    uses += [(f"entities.{e.name}.join_keys", k) for e in s.entities for k in e.join_keys]
    uses += [("features.request", c) for c in s.features.request]
    for v in s.features.views:
        uses += [(f"features.views.{v.name}.features[{i}].column", f.column) for i, f in enumerate(v.features) if f.column]
    if s.evaluation.slice_by:
        uses.append(("evaluation.slice_by", s.evaluation.slice_by))
    uses += [("monitoring.segment_by", c) for c in s.monitoring.segment_by]
    uses += [("monitoring.categorical", c) for c in s.monitoring.categorical]
    if s.tenants is not None:
        uses.append(("tenants.tenant_column", s.tenants.tenant_column))
    return uses


def _check_privacy(s: Settings) -> None:
    """A ``pii: true`` column is dropped at ingestion unless ``privacy.columns``
    hashes it; one that is used anywhere must be hashed."""
    columns, how = s.contract.columns, s.privacy.columns
    for c, transform in how.items():
        if c not in columns:
            _fail(f"privacy.columns.{c}", "is not a column of the contract")
        if not columns[c].pii:
            _fail(f"privacy.columns.{c}", f"the column is not marked pii: true under contract.columns.{c}")
        if transform == "hash" and columns[c].dtype not in ("string", "int"):
            _fail(f"privacy.columns.{c}", f"hash applies to string or int columns ('{c}' is {columns[c].dtype}); use drop")
    if columns.get(s.model.target) is not None and columns[s.model.target].pii:
        _fail("model.target", f"the target '{s.model.target}' is marked pii: a model cannot learn a transformed label")
    if columns[s.contract.timestamp].pii:
        _fail("contract.timestamp", f"'{s.contract.timestamp}' is marked pii: the timestamp orders every batch and cannot be dropped or hashed")
    for key, c in pii_uses(s):
        if c in columns and columns[c].pii and how.get(c, "drop") != "hash":
            _fail(
                key,
                f"'{c}' is marked pii and would be {'dropped' if c not in how else 'dropped (privacy.columns)'} at ingestion; "
                f"set privacy.columns.{c}: hash (a keyed hash, privacy.hash_key) or stop using it here",
            )


def served_names(s: Settings) -> list[str]:
    from runway.features.naming import feature_names

    return [n for v in s.features.views for n in feature_names(v, served_only=True)]


def _check_metrics(s: Settings) -> None:
    from runway.evaluation.metrics import metric_names

    known = metric_names(s.model.task)
    if s.evaluation.primary_metric not in known:
        _fail("evaluation.primary_metric", f"'{s.evaluation.primary_metric}' is not a {s.model.task} metric; choose one of {known}")
    for m in s.evaluation.metrics:
        if m not in known:
            _fail("evaluation.metrics", f"'{m}' is not a {s.model.task} metric; choose from {known}")


def _check_estimator_params(s: Settings) -> None:
    from runway.modeling.estimators import check_params

    problem = check_params(s.model)
    if problem:
        _fail("model.params", problem)
