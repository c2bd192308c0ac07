"""The typed configuration model: use case sections, then environment sections.

The core knows entities, a timestamp, a target, a task type, declared
features, metrics with a direction, a baseline, a schedule and (later)
tenants. It names no column of any use case: every column name below comes
from a use case's YAML. What YAML cannot say lives in the use case's plug-in
module (``plugin:``), loaded by name (see ``runway.plugins``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _project_root() -> Path:
    """$RUNWAY_HOME, else the clone holding runway/ (source or editable install), else the working directory."""
    if env := os.environ.get("RUNWAY_HOME"):
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent.parent
    return here if (here / "configs").is_dir() else Path.cwd().resolve()


PROJECT_ROOT = _project_root()


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or holds an invalid value."""


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True)


_SLUG = r"^[a-z][a-z0-9_]*$"

# ----------------------------------------------------------------- schedule --


class ScheduleConfig(_Strict):
    """When batches arrive and when their labels do: the loop's clock."""

    # A scoring batch covers this many days, starting on its batch date.
    batch_days: int = Field(7, ge=1, le=92)
    # Labels of a batch are recorded this many days after it closes.
    label_delay_days: int = Field(3, ge=0, le=365)
    # Performance is judged only when this share of a window's predictions has a label.
    min_label_completeness: float = Field(0.9, gt=0, le=1)


class StreamsConfig(_Strict):
    """Names of the two raw streams (sub-folders or table suffixes of the source)."""

    # Rows with the target (labels arrive late, stamped in ``recorded_at``).
    history: str = Field("history", pattern=_SLUG)
    # Rows to score: the same columns without the target, one batch per period.
    scoring: str = Field("scoring", pattern=_SLUG)

    @model_validator(mode="after")
    def _distinct(self) -> StreamsConfig:
        if self.history == self.scoring:
            raise ValueError("streams.history and streams.scoring must differ")
        return self


# ----------------------------------------------------------------- contract --

ColumnType = Literal["string", "int", "float", "bool", "datetime"]


class ColumnContract(_Strict):
    dtype: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = None
    max_missing_fraction: float | None = Field(None, ge=0, le=1)
    # Personal data: never stored, profiled, reported or logged as delivered;
    # ingestion drops it, or hashes it when ``privacy.columns`` says so.
    pii: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> ColumnContract:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}): no value could pass")
        if self.allowed is not None and not self.allowed:
            raise ValueError("allowed is empty: no value could pass")
        if self.pii and self.allowed is not None:
            raise ValueError("a pii column cannot list allowed values: the list would put personal data in the config")
        return self


class OutlierRule(_Strict):
    """Robust z-score (median/MAD) rule: more than ``max_fraction`` rows beyond
    ``z`` is a violation; a few real spikes are not. ``log1p`` judges
    multiplicative data on the scale it varies on."""

    column: str
    z: float = Field(8.0, gt=0)
    max_fraction: float = Field(0.01, ge=0, le=1)
    transform: Literal["none", "log1p"] = "none"


class ContractConfig(_Strict):
    keys: list[str] = Field(min_length=1)
    timestamp: str
    columns: dict[str, ColumnContract] = Field(min_length=1)
    max_missing_fraction: float = Field(0.05, ge=0, le=1)
    outliers: list[OutlierRule] = Field(default_factory=list)
    max_rows: int = Field(50_000_000, ge=1)

    @model_validator(mode="after")
    def _keys_are_columns(self) -> ContractConfig:
        for name in [*self.keys, self.timestamp, *(o.column for o in self.outliers)]:
            if name not in self.columns:
                raise ValueError(f"'{name}' is used as key/timestamp/outlier column but is not declared under columns")
        if self.timestamp not in self.keys:
            raise ValueError(f"the timestamp '{self.timestamp}' must be one of the keys {self.keys}")
        return self


# ------------------------------------------------------------------ privacy --

PiiTransform = Literal["hash", "drop"]
_ENV_REFERENCE = r"^\{env:[A-Za-z_][A-Za-z0-9_]*\}$"


class PrivacyConfig(_Strict):
    """How ingestion transforms the contract's ``pii: true`` columns.

    ``drop`` (the default for a pii column not listed): the column is removed
    as the batch enters the pipeline. ``hash``: replaced by a keyed hash
    (HMAC-SHA256 with ``hash_key``; a string column becomes 32 hex
    characters, an int column a non-negative 63-bit integer), so equal values
    still join and group, and nobody without the key can test a guess.
    ``hash_key`` must be an environment reference (dollar-brace VAR in the
    YAML; no literal): it is a secret, kept as ``{env:VAR}`` and resolved at
    use. (No dollar-brace text in this docstring: ZenML expands it.)
    """

    hash_key: str | None = Field(None, pattern=_ENV_REFERENCE)
    columns: dict[str, PiiTransform] = Field(default_factory=dict)

    @field_validator("hash_key", mode="before")
    @classmethod
    def _reference(cls, v: Any) -> Any:
        if isinstance(v, str) and not re.fullmatch(_ENV_REFERENCE, v):
            raise ValueError("must be an environment reference such as ${RUNWAY_PII_KEY} (the key is a secret), not a literal value")
        return v

    @model_validator(mode="after")
    def _key_for_hash(self) -> PrivacyConfig:
        if "hash" in self.columns.values() and not self.hash_key:
            raise ValueError("privacy.columns hashes a column but privacy.hash_key is not set (e.g. hash_key: ${RUNWAY_PII_KEY})")
        return self


# ----------------------------------------------------------------- features --


class EntityConfig(_Strict):
    name: str = Field(pattern=_SLUG)
    join_keys: list[str] = Field(min_length=1)
    description: str = ""


Transform = Literal["value", "lag", "rolling", "ratio_to_mean", "calendar", "days_to_next", "one_hot"]
RollingStat = Literal["mean", "std", "sum", "count", "min", "max"]
CalendarPart = Literal["day_of_week", "week_of_year", "month", "day_of_year_sin", "day_of_year_cos"]
Aggregate = Literal["max", "min", "mean", "sum", "first"]


class FeatureSpec(_Strict):
    """One declared feature (or a family of them, one per day count / stat).

    Default names: value ``{column}``; lag ``{column}_lag_{days}d``; rolling
    ``{column}_{stat}_{days}d``; ratio_to_mean ``{column}_rel_{days}d``;
    days_to_next ``days_to_next_{column}``; one_hot ``{column}_is_{category}``;
    calendar: the part's name. ``name`` may be a template with ``{column}``,
    ``{days}``, ``{stat}`` and ``{category}``.
    """

    transform: Transform
    column: str | None = None
    days: list[int] = Field(default_factory=list)
    stats: list[RollingStat] = Field(default_factory=list)
    parts: list[CalendarPart] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    name: str | None = None
    # How rows of one (view keys, date) are combined when the view's grain is
    # coarser than the rows (a store view over store x item rows).
    aggregate: Aggregate = "first"
    # Observations a rolling statistic needs (default: max(2, ceil(days/2))
    # for label-derived views, 1 for values known ahead).
    min_periods: int | None = Field(None, ge=1)
    # False: computed and stored, but not part of the feature service (the
    # model gets the column from the request row instead).
    serve: bool = True

    @model_validator(mode="after")
    def _shape(self) -> FeatureSpec:
        t = self.transform
        if t != "calendar" and not self.column:
            raise ValueError(f"transform '{t}' needs a column")
        if t in ("lag", "rolling", "ratio_to_mean") and not self.days:
            raise ValueError(f"transform '{t}' needs days (a list of day counts)")
        if any(d < 1 for d in self.days):
            raise ValueError(f"days must be >= 1, got {self.days}")
        if t == "rolling" and not self.stats:
            raise ValueError("transform 'rolling' needs stats (mean, std, sum, count, min, max)")
        if t == "calendar" and not self.parts:
            raise ValueError("transform 'calendar' needs parts")
        if t == "one_hot" and not self.categories:
            raise ValueError("transform 'one_hot' needs categories")
        return self


class FeatureViewConfig(_Strict):
    """A Feast feature view: its entities, how its rows are stamped, its features.

    ``known: ahead`` — values are known on the date they apply (plans,
    prices, snapshots): a row stamped ``t`` holds the value of ``t``, and
    rolling statistics use the days strictly before ``t``.
    ``known: lagged`` — values derived from labels (actuals): a row stamped
    ``t`` only uses data of dates ``<= t - horizon_days``, and is emitted on a
    complete daily grid so every target date of the horizon has one.
    """

    name: str = Field(pattern=_SLUG)
    entities: list[str] = Field(default_factory=list)
    known: Literal["ahead", "lagged"] = "ahead"
    ttl_days: float = Field(7, gt=0, le=3650)
    features: list[FeatureSpec] = Field(min_length=1)
    description: str = ""


class FeaturesConfig(_Strict):
    """What the model reads: declared once, built into Feast objects by
    ``runway.features.definitions`` and computed by ``runway.features.engine``."""

    service: str = Field(pattern=_SLUG)
    version: int = Field(1, ge=1)
    # Columns passed straight from the row being scored (known at prediction time).
    request: list[str] = Field(default_factory=list)
    # How far past the last known label a prediction reaches; only label-derived
    # (lagged) views use it, and then it must cover batch_days + label_delay_days.
    horizon_days: int = Field(0, ge=0, le=3650)
    views: list[FeatureViewConfig] = Field(min_length=1)
    # A plug-in hook that builds the feature tables itself (rarely needed).
    builder: str | None = None

    @property
    def service_name(self) -> str:
        return f"{self.service}_v{self.version}"

    @model_validator(mode="after")
    def _unique(self) -> FeaturesConfig:
        names = [v.name for v in self.views]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feature view name(s) {dup} declared twice")
        return self


# -------------------------------------------------------------------- model --

Task = Literal["regression", "binary_classification"]
EstimatorName = Literal["hist_gradient_boosting", "random_forest", "ridge", "logistic_regression"]
ESTIMATORS_BY_TASK: dict[str, tuple[str, ...]] = {
    "regression": ("hist_gradient_boosting", "random_forest", "ridge"),
    "binary_classification": ("hist_gradient_boosting", "random_forest", "logistic_regression"),
}


class ModelConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]{1,63}$")
    task: Task = "regression"
    target: str
    estimator: EstimatorName = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    random_state: int = 0
    # Regression: clip predictions to this range (e.g. min 0 for counts).
    clip_min: float | None = None
    clip_max: float | None = None
    # Classification: the decision threshold, or "auto": the F1-best
    # threshold on the last part of the training window (never the holdout).
    threshold: float | Literal["auto"] = 0.5

    @model_validator(mode="after")
    def _estimator_fits_task(self) -> ModelConfig:
        allowed = ESTIMATORS_BY_TASK[self.task]
        if self.estimator not in allowed:
            raise ValueError(f"estimator '{self.estimator}' is not available for task '{self.task}'; choose one of {list(allowed)}")
        if isinstance(self.threshold, float) and not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1) or 'auto', got {self.threshold}")
        return self


class SplitConfig(_Strict):
    holdout_days: int = Field(28, ge=1)
    min_train_days: int = Field(56, ge=7)
    # Rows this close to the first date have too little history for their
    # features and are left out of training (default: the longest window).
    warmup_days: int | None = Field(None, ge=0)


class BaselineConfig(_Strict):
    """The rule every model must beat, and the last level of the fallback chain."""

    kind: Literal["seasonal_naive", "last_value", "prior_rate"] = "seasonal_naive"
    period_days: int = Field(7, ge=1)


class EvaluationConfig(_Strict):
    primary_metric: str = "wape"
    # Reported beside the primary one (default: every metric of the task).
    metrics: list[str] = Field(default_factory=list)
    baseline: BaselineConfig = BaselineConfig()
    slice_by: str | None = None
    bootstrap_samples: int = Field(300, ge=50, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int = 0
    # Permutation feature importance on the holdout (every training run):
    # a seeded sample of at most this many rows, shuffled this many times.
    importance_rows: int = Field(2000, ge=50, le=100_000)
    importance_repeats: int = Field(3, ge=1, le=20)


class PromotionConfig(_Strict):
    """The gate a candidate must pass to become production (fails closed)."""

    # Relative improvement of the primary metric over production, with the
    # bootstrap interval of the gain entirely above it.
    min_improvement_vs_production: float = Field(0.01, ge=0, le=1)
    min_improvement_vs_baseline: float = Field(0.0, ge=0, le=1)
    # A slice may be at most this much (relative) worse than the reference.
    slice_regression_tolerance: float = Field(0.10, ge=0, le=10)
    min_slice_rows: int = Field(20, ge=1)


# --------------------------------------------------------------- monitoring --


class DriftThresholds(_Strict):
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    # Significance level every test must pass (KS, PSI's chi-square, missing
    # rate): the effect-size thresholds alone would alarm on tiny windows.
    ks_pvalue: float = Field(0.001, gt=0, lt=1)
    ks_statistic: float = Field(0.1, gt=0, le=1)
    js_alert: float = Field(0.1, gt=0, le=1)
    missing_rate_change: float = Field(0.05, gt=0, le=1)
    psi_bins: int = Field(10, ge=2, le=100)

    @model_validator(mode="after")
    def _order(self) -> DriftThresholds:
        if self.psi_warn > self.psi_alert:
            raise ValueError(f"psi_warn ({self.psi_warn}) is above psi_alert ({self.psi_alert})")
        return self


class AlertPolicyConfig(_Strict):
    breaches_required: int = Field(2, ge=1)
    window_count: int = Field(3, ge=1)
    cooldown_windows: int = Field(2, ge=0)
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _n_of_m(self) -> AlertPolicyConfig:
        if self.breaches_required > self.window_count:
            raise ValueError("breaches_required cannot exceed window_count")
        return self


class RetrainingConfig(_Strict):
    on_drift: bool = True
    on_performance: bool = True
    # Performance trigger: the live primary metric worse than the serving
    # version's holdout value by this share (relative, in the metric's bad
    # direction) ...
    max_degradation: float = Field(0.2, gt=0)
    # ... or beyond this absolute bound, if set.
    limit: float | None = None
    schedule_cron: str | None = "0 3 * * 1"
    # Roll back automatically when the live primary metric is worse than the
    # promoted version's holdout value by this share.
    auto_rollback: bool = False
    rollback_degradation: float = Field(0.25, gt=0)
    # Monitoring windows after a retrain in which drift/performance alone do
    # not retrain again (on demand and schedule still do).
    cooldown_windows: int = Field(1, ge=0, le=52)

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v:
            from croniter import croniter

            if not croniter.is_valid(v):
                raise ValueError(f"not a valid cron expression: {v!r}")
        return v


class KpiConfig(_Strict):
    """A business KPI computed by a plug-in hook (``<plugin>.kpi_frame``)."""

    currency: str = "EUR"
    # Passed to the hook as is; the plug-in documents (and may type) them.
    params: dict[str, Any] = Field(default_factory=dict)


class MonitoringConfig(_Strict):
    drift: DriftThresholds = DriftThresholds()
    alerts: AlertPolicyConfig = AlertPolicyConfig()
    retraining: RetrainingConfig = RetrainingConfig()
    kpi: KpiConfig | None = None
    segment_by: list[str] = Field(default_factory=list)
    # Columns drift-tested as categories (entity keys are not, unless listed).
    categorical: list[str] = Field(default_factory=list)
    # Compare a window with the same weeks one season (52 weeks) earlier, so
    # expected seasonality is not reported as drift.
    seasonal_reference: bool = False
    seasonal_pad_days: int = Field(14, ge=0, le=90)
    # Deterministic functions of the date: they cannot drift.
    drift_exclude: list[str] = Field(default_factory=list)
    # Rolling aggregates whose consecutive days are near-duplicates: tested on
    # one row per entity and week (otherwise p-values overstate evidence).
    slow_features: list[str] = Field(default_factory=list)


FallbackLevel = Literal["production", "last_known_good", "baseline"]


def _default_fallback() -> list[FallbackLevel]:
    return ["production", "last_known_good", "baseline"]


class ReviewBandConfig(_Strict):
    """Scores with ``low <= score <= high`` go to a human review queue
    (``<workspace>/<use case>/review/batch=<date>.parquet``) with the
    features that moved them most (``top_features``)."""

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    top_features: int = Field(3, ge=1, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> ReviewBandConfig:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class InferenceConfig(_Strict):
    shadow_share: float = Field(0.0, ge=0, le=1)
    # Classification only: the uncertainty band sent to human review.
    review_band: ReviewBandConfig | None = None
    # "baseline" is the use case's rule (evaluation.baseline), which always answers.
    fallback: list[FallbackLevel] = Field(default_factory=_default_fallback, min_length=1)

    @field_validator("fallback")
    @classmethod
    def _ends_with_rule(cls, v: list[str]) -> list[str]:
        if v[-1] != "baseline":
            raise ValueError("the fallback chain must end with 'baseline' (the rule that always answers)")
        return v


class ServingConfig(_Strict):
    """The online scoring service (``python run.py serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Seconds between registry polls: a promotion or rollback swaps the model.
    poll_seconds: float = Field(10.0, gt=0, le=3600)
    # Answer from the batch pipeline's predictions when it scored the entity
    # for the requested date (hybrid), else compute online.
    use_batch_predictions: bool = False
    # Deterministic, entity-sticky share of requests scored by the staging candidate.
    canary_share: float = Field(0.0, ge=0, le=1)
    max_entities_per_request: int = Field(1000, ge=1, le=100_000)


# ------------------------------------------------------------------ tenants --

_TENANT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"


class TenantOverrides(_Strict):
    """What one tenant may change: its gate margins and its alert sink."""

    min_improvement_vs_production: float | None = Field(None, ge=0, le=1)
    min_improvement_vs_baseline: float | None = Field(None, ge=0, le=1)
    # Where this tenant's alerts go (a webhook); None: the use case's.
    webhook_url: str | None = None


class TenantsConfig(_Strict):
    """A fleet: one model per tenant, trained, gated, served and monitored
    by the one fleet pipeline (``python run.py fleet ...``).

    Tenants are ``ids``, or the lines of ``file`` (relative paths: the project
    root, then the workspace), or, with neither, discovered in the data:
    ``source: folders`` — each tenant has its own raw sub-folder
    ``raw/<tenant>/<stream>/batch=<date>.parquet``; ``source: column`` — the
    raw batches hold every tenant, ``tenant_column`` names it.
    """

    ids: list[str] = Field(default_factory=list)
    file: str | None = None
    source: Literal["folders", "column"] = "folders"
    # The tenant's column in the fleet's frames (and in the raw data with source 'column').
    tenant_column: str = Field("tenant", pattern=_SLUG)
    overrides: dict[str, TenantOverrides] = Field(default_factory=dict)
    # Tenants per chunk step (ZenML grows quadratically past ~100 artifacts in one step).
    chunk_size: int = Field(100, ge=1, le=100)
    # Processes that fit tenants inside a chunk step.
    workers: int = Field(2, ge=1, le=64)
    # Cold start: a tenant whose labelled history leaves fewer than
    # split.min_train_days training dates after the warm-up and the holdout,
    # or has fewer labelled days than this, is served by the pooled fleet model.
    min_history_days: int | None = Field(None, ge=1)
    # Train the pooled fleet model (all tenants, tenant as a feature).
    pooled: bool = True

    @field_validator("ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not re.fullmatch(_TENANT_ID, t)]
        if bad:
            raise ValueError(f"tenant ids must match {_TENANT_ID}: {bad[:5]}")
        if len(set(v)) != len(v):
            raise ValueError("tenant ids are listed twice")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> TenantsConfig:
        if self.ids and self.file:
            raise ValueError("give tenants.ids or tenants.file, not both")
        return self


def valid_tenant_id(value: str) -> bool:
    return bool(re.fullmatch(_TENANT_ID, value))


# -------------------------------------------------------------- environment --


class SourceConfig(_Strict):
    """Where raw batches come from."""

    kind: Literal["parquet", "csv", "sql"] = "parquet"
    # Folder (parquet/csv) relative to the workspace, or a SQLAlchemy URL (sql).
    location: str = "raw"
    table: str | None = None

    @model_validator(mode="after")
    def _sql_needs_table(self) -> SourceConfig:
        if self.kind == "sql" and not self.table:
            raise ValueError("source.kind 'sql' needs source.table")
        return self


class FeastConfig(_Strict):
    registry: str = "feast/registry.db"  # path under the workspace, or a SQLAlchemy URL
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str | None = None
    project: str = "runway"
    # The offline store: Runway's DuckDB ASOF plug-in (default: the point-in-time join
    # as ASOF JOINs, see runway.features.offline_store), or Feast's own DuckDB store.
    offline_store: Literal["runway_asof", "duckdb"] = "runway_asof"

    @model_validator(mode="after")
    def _redis_needs_connection(self) -> FeastConfig:
        if self.online_store == "redis" and not self.redis_connection:
            raise ValueError("feast.online_store 'redis' needs feast.redis_connection")
        return self


class ZenMLConfig(_Strict):
    # Folder for ZenML's global config (relative paths: inside the workspace),
    # so runs never touch a user's own ZenML store. Empty means ZenML's default.
    config_dir: str | None = "zenml"
    # A MySQL/MariaDB URL with a user and password (ZenML refuses one without):
    # with no server_url, run.py starts a local ZenML server on it for the
    # command and stops it afterwards (runway.platform.runtime.managed_server).
    store_url: str | None = None
    server_url: str | None = None
    # Where that local server listens (127.0.0.1).
    server_port: int = Field(8237, ge=1024, le=65535)


class LockConfig(_Strict):
    """Serialises promotions (ZenML's set_stage has no lock)."""

    backend: Literal["file", "sql"] = "file"
    url: str | None = None  # SQLAlchemy URL for backend 'sql'

    @model_validator(mode="after")
    def _sql_needs_url(self) -> LockConfig:
        if self.backend == "sql" and not self.url:
            raise ValueError("lock.backend 'sql' needs lock.url (a MySQL/MariaDB or PostgreSQL SQLAlchemy URL)")
        return self


class DecisionLogConfig(_Strict):
    """Where the HMAC-chained decision log lives: a JSONL file in the
    workspace (local), or two SQL tables shared by every machine of an
    environment (``<table>`` for the entries, ``<table>_head`` for the MAC'd
    head) on PostgreSQL or MySQL/MariaDB."""

    backend: Literal["file", "sql"] = "file"
    url: str | None = None  # SQLAlchemy URL for backend 'sql' (a secret: give it as ${VAR})
    table: str = Field("runway_decision_log", pattern=r"^[a-z][a-z0-9_]{0,47}$")

    @model_validator(mode="after")
    def _url_matches_backend(self) -> DecisionLogConfig:
        if self.backend == "sql" and not self.url:
            raise ValueError("decision_log.backend 'sql' needs decision_log.url (a PostgreSQL or MySQL/MariaDB SQLAlchemy URL, as ${VAR})")
        if self.backend == "file" and self.url:
            raise ValueError("decision_log.url is set but decision_log.backend is 'file'; set backend: sql to use it, or remove the url")
        return self


class StackConfig(_Strict):
    """Remote stack settings (Kubeflow / Kubernetes orchestrators)."""

    parent_image: str = "ghcr.io/example/runway:0.1.0"
    kubernetes_context: str | None = None
    kubernetes_namespace: str = "runway"
    service_account: str = "runway-pipeline-runner"
    kubeflow_host: str | None = None
    artifact_store_path: str = "s3://runway-artifacts"
    artifact_store_endpoint: str | None = None
    container_registry_uri: str = "ghcr.io/example"
    required_secrets: list[str] = Field(default_factory=lambda: ["runway-object-store"])


class ApprovalConfig(_Strict):
    """A human sign-off between the gate's pass and production (per environment).

    With ``required``, a candidate that passes the gate waits in stage staging
    ("awaiting approval") until one of ``approvers`` runs ``run.py approve``;
    with ``four_eyes``, not the identity that triggered its training.
    """

    required: bool = False
    # Identities allowed to approve or reject ($RUNWAY_USER, else the ZenML user name);
    # a list, or one comma-separated string (e.g. from ${RUNWAY_APPROVERS}).
    approvers: list[str] = Field(default_factory=list)
    four_eyes: bool = True

    @field_validator("approvers", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v


class EnvironmentConfig(_Strict):
    name: str
    workspace: str = ".runway"
    # The Feast repo to use; tests point this at a temporary copy.
    feature_repo: str = "feature_repo"
    source: SourceConfig = SourceConfig()
    feast: FeastConfig = FeastConfig()
    zenml: ZenMLConfig = ZenMLConfig()
    lock: LockConfig = LockConfig()
    decision_log: DecisionLogConfig = DecisionLogConfig()
    stack: StackConfig = StackConfig()
    predictions_sink: str | None = None  # SQLAlchemy URL; None writes parquet
    approval: ApprovalConfig = ApprovalConfig()
    # Relative paths (feast.registry, source.location, zenml.config_dir) must
    # stay inside the workspace; absolute ones elsewhere only with this set.
    allow_external_paths: bool = False


# ---------------------------------------------------------------- settings --


class Settings(_Strict):
    use_case: str
    description: str = ""
    # Python module (dotted name) with the use case's hooks: simulate, kpi_frame, ...
    plugin: str | None = None
    # Typed by the plug-in's SIMULATION_CONFIG model when it has one.
    simulation: dict[str, Any] | None = None
    schedule: ScheduleConfig = ScheduleConfig()
    streams: StreamsConfig = StreamsConfig()
    contract: ContractConfig
    privacy: PrivacyConfig = PrivacyConfig()
    entities: list[EntityConfig] = Field(min_length=1)
    features: FeaturesConfig
    model: ModelConfig
    split: SplitConfig = SplitConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    inference: InferenceConfig = InferenceConfig()
    serving: ServingConfig = ServingConfig()
    tenants: TenantsConfig | None = None
    environment: EnvironmentConfig

    @field_validator("use_case")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.fullmatch(_SLUG, v):
            raise ValueError("must be lower_snake_case")
        return v

    @field_validator("plugin")
    @classmethod
    def _module_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", v):
            raise ValueError(f"must be a dotted Python module name, got {v!r}")
        return v

    # Derived facts the core uses ------------------------------------------
    @property
    def entity_keys(self) -> list[str]:
        """Join keys of all entities, in declaration order."""
        return list(dict.fromkeys(k for e in self.entities for k in e.join_keys))

    @property
    def timestamp(self) -> str:
        return self.contract.timestamp

    @property
    def target(self) -> str:
        return self.model.target

    @model_validator(mode="after")
    def _references(self) -> Settings:
        """Every column, entity and metric the use case names must exist."""
        from runway.config.checks import check_references

        check_references(self)
        return self

    # Paths ---------------------------------------------------------------
    @property
    def workspace(self) -> Path:
        return resolve_path(self.environment.workspace)

    def workspace_path(self, *parts: str) -> Path:
        """Shared by every use case of the environment (ZenML store, decision log)."""
        return self.workspace.joinpath(*parts)

    def use_case_path(self, *parts: str) -> Path:
        """This use case's own folder: raw data, quarantine, predictions,
        alerts, reports; two use cases in one workspace never share a file."""
        return self.workspace.joinpath(self.use_case, *parts)

    @property
    def raw_dir(self) -> Path:
        """Folder of the raw streams (parquet/CSV sources): <use case>/<source.location>."""
        return resolve_path(self.use_case_path(self.environment.source.location))

    @property
    def zenml_config_dir(self) -> Path | None:
        d = self.environment.zenml.config_dir
        if not d:
            return None
        p = Path(d).expanduser()
        return p if p.is_absolute() else self.workspace / p

    @property
    def feature_repo(self) -> Path:
        return resolve_path(self.environment.feature_repo)


def resolve_path(value: str | Path) -> Path:
    """Relative paths are relative to the project root, never the CWD."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()
