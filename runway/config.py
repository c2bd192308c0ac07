"""One typed, validated configuration model, layered: use case, then environment.

A run's settings come from two YAML files merged in order:

1. ``configs/use_cases/<name>.yaml``: what the model is (schema, features,
   estimator, gates, monitoring policy),
2. ``configs/environments/<env>.yaml``: where it runs (paths, stores, stack).

The environment file may override any key of the use case. Values of the form
``${VAR}`` or ``${VAR:-default}`` are read from the process environment, so no
environment file ever holds a secret. Every error names the key and the file
that set it.

Keys that carry credentials (``SECRET_KEYS``: connection URLs) keep their
``${VAR}`` reference inside ``Settings``: settings travel as pipeline
parameters into ZenML's database and compiled specs, so they must never hold
a password. ``reveal`` resolves a reference at the point of use.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"
DEFAULT_USE_CASE = "retail_demand"
DEFAULT_ENV = "local"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or holds an invalid value."""


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------- use case --


class SimulationConfig(_Strict):
    """Knobs of the seeded retail simulator (see runway.simulate)."""

    stores: int = Field(6, ge=1, le=10_000)
    items: int = Field(8, ge=1, le=10_000)
    regions: list[str] = Field(default_factory=lambda: ["north", "south", "east"], min_length=1)
    start: date = date(2024, 1, 1)
    history_days: int = Field(546, ge=56)
    batch_days: int = Field(7, ge=1, le=92)
    label_delay_days: int = Field(3, ge=0, le=60)
    seed: int = 7
    noise: float = Field(0.15, ge=0, le=2)
    stockout_rate: float = Field(0.01, ge=0, le=0.5)
    promo_rate: float = Field(0.1, ge=0, le=1)
    # Weeks after the history that `python run.py` scores and monitors.
    live_weeks: int = Field(3, ge=1, le=52)


ColumnType = Literal["string", "int", "float", "bool", "datetime"]


class ColumnContract(_Strict):
    dtype: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = None
    max_missing_fraction: float | None = Field(None, ge=0, le=1)


class OutlierRule(_Strict):
    """Robust z-score (median/MAD) rule: more than ``max_fraction`` rows beyond
    ``z`` is a violation; a few real spikes are not. ``log1p`` judges
    multiplicative data (sales, prices) on the scale it varies on, so a popular
    item is not an outlier next to a slow one."""

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
    def _keys_are_columns(self) -> "ContractConfig":
        for name in [*self.keys, self.timestamp, *(o.column for o in self.outliers)]:
            if name not in self.columns:
                raise ValueError(f"'{name}' is used as key/timestamp/outlier column but is not declared under columns")
        return self


class FeatureConfig(_Strict):
    """What the model reads from Feast."""

    feature_service: str
    entity_keys: list[str] = Field(default_factory=lambda: ["store_id", "item_id"])
    # Features passed straight from the request row (known at prediction time).
    request_features: list[str] = Field(default_factory=list)
    # How far past the last known actual a forecast reaches. A weekly batch
    # scored at the week's start with labels arriving label_delay_days late
    # needs batch_days + label_delay_days, rounded up to whole weeks so lags
    # stay on the same weekday. Features never read sales inside it.
    horizon_days: int = Field(14, ge=1, le=364)
    lags_days: list[int] = Field(default_factory=lambda: [14, 21, 28])
    rolling_windows_days: list[int] = Field(default_factory=lambda: [7, 28])

    @model_validator(mode="after")
    def _lags_outside_horizon(self) -> "FeatureConfig":
        short = [k for k in self.lags_days if k < self.horizon_days]
        if short:
            raise ValueError(f"lags_days {short} are shorter than horizon_days {self.horizon_days}: they would read sales inside the forecast horizon")
        return self


EstimatorName = Literal["hist_gradient_boosting", "random_forest", "ridge"]


class ModelConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]{1,63}$")
    target: str
    estimator: EstimatorName = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    random_state: int = 0


class SplitConfig(_Strict):
    holdout_days: int = Field(28, ge=1)
    min_train_days: int = Field(56, ge=7)


class EvaluationConfig(_Strict):
    primary_metric: Literal["wape", "mae"] = "wape"
    seasonal_period_days: int = Field(7, ge=1)
    slice_by: str = "store_id"
    bootstrap_samples: int = Field(300, ge=50, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int = 0


class PromotionConfig(_Strict):
    """The gate a candidate must pass to become production (fails closed)."""

    # Relative improvement of the primary metric the candidate must show over
    # production, with the bootstrap interval of the gain entirely above it.
    min_improvement_vs_production: float = Field(0.01, ge=0, le=1)
    min_improvement_vs_baseline: float = Field(0.0, ge=0, le=1)
    # A slice may be at most this much (relative) worse than production.
    slice_regression_tolerance: float = Field(0.10, ge=0, le=10)
    min_slice_rows: int = Field(20, ge=1)


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


class AlertPolicyConfig(_Strict):
    breaches_required: int = Field(2, ge=1)
    window_count: int = Field(3, ge=1)
    cooldown_windows: int = Field(2, ge=0)
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _n_of_m(self) -> "AlertPolicyConfig":
        if self.breaches_required > self.window_count:
            raise ValueError("breaches_required cannot exceed window_count")
        return self


class RetrainingConfig(_Strict):
    on_drift: bool = True
    on_performance: bool = True
    # Performance trigger: live WAPE worse than the serving version's holdout
    # WAPE by this share (relative, so it fits any series' noise level) ...
    max_wape_increase: float = Field(0.2, gt=0)
    # ... or above this absolute bound, if set.
    max_wape: float | None = Field(None, gt=0)
    schedule_cron: str | None = "0 3 * * 1"
    min_label_completeness: float = Field(0.9, gt=0, le=1)
    # Roll back automatically when live WAPE exceeds the promoted version's
    # holdout WAPE by this share (labels complete enough to judge).
    auto_rollback: bool = False
    rollback_wape_increase: float = Field(0.25, gt=0)
    # Monitoring windows after a retrain in which drift/performance alone do
    # not retrain again (on demand and schedule still do): the new candidate
    # needs new data before another attempt can differ.
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
    """Retail costs of forecast error, in currency per unit."""

    currency: str = "EUR"
    margin_per_unit: float = Field(2.0, ge=0)
    holding_cost_per_unit: float = Field(0.5, ge=0)


class MonitoringConfig(_Strict):
    drift: DriftThresholds = DriftThresholds()
    alerts: AlertPolicyConfig = AlertPolicyConfig()
    retraining: RetrainingConfig = RetrainingConfig()
    kpi: KpiConfig = KpiConfig()
    segment_by: list[str] = Field(default_factory=lambda: ["store_id", "region"])
    # Compare a window with the same weeks one season (52 weeks) earlier, so
    # expected seasonality is not reported as drift.
    seasonal_reference: bool = True
    seasonal_pad_days: int = Field(14, ge=0, le=90)
    # Deterministic functions of the date: they cannot drift, only move with
    # the calendar, so they are left out of drift tests.
    drift_exclude: list[str] = Field(default_factory=list)
    # Rolling aggregates whose consecutive days are near-duplicates: within a
    # window each entity carries about one independent value, so they are
    # tested on one row per entity (otherwise p-values overstate evidence).
    slow_features: list[str] = Field(default_factory=list)


class InferenceConfig(_Strict):
    shadow_share: float = Field(0.0, ge=0, le=1)
    fallback: list[Literal["production", "last_known_good", "seasonal_naive"]] = Field(
        default_factory=lambda: ["production", "last_known_good", "seasonal_naive"], min_length=1
    )


# -------------------------------------------------------------- environment --


class SourceConfig(_Strict):
    """Where raw batches come from."""

    kind: Literal["parquet", "csv", "sql"] = "parquet"
    # Folder (parquet/csv) relative to the workspace, or a SQLAlchemy URL (sql).
    location: str = "raw"
    table: str | None = None

    @model_validator(mode="after")
    def _sql_needs_table(self) -> "SourceConfig":
        if self.kind == "sql" and not self.table:
            raise ValueError("source.kind 'sql' needs source.table")
        return self


class FeastConfig(_Strict):
    registry: str = "feast/registry.db"  # path under the workspace, or a SQLAlchemy URL
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str | None = None
    project: str = "runway"

    @model_validator(mode="after")
    def _redis_needs_connection(self) -> "FeastConfig":
        if self.online_store == "redis" and not self.redis_connection:
            raise ValueError("feast.online_store 'redis' needs feast.redis_connection")
        return self


class ZenMLConfig(_Strict):
    # Folder for ZenML's global config (relative paths: inside the workspace),
    # so runs never touch a user's own ZenML store and each workspace has its
    # own registry. Empty means ZenML's default location.
    config_dir: str | None = "zenml"
    # A SQL store URL (mysql://user@host/db) connects ZenML straight to a
    # database; a server URL goes through a ZenML server. Empty: embedded SQLite.
    store_url: str | None = None
    server_url: str | None = None


class LockConfig(_Strict):
    """Serialises promotions (ZenML's set_stage has no lock)."""

    backend: Literal["file", "sql"] = "file"
    url: str | None = None  # SQLAlchemy URL for backend 'sql'

    @model_validator(mode="after")
    def _sql_needs_url(self) -> "LockConfig":
        if self.backend == "sql" and not self.url:
            raise ValueError("lock.backend 'sql' needs lock.url (a MySQL/MariaDB or PostgreSQL SQLAlchemy URL)")
        return self


class StackConfig(_Strict):
    """Remote stack settings (Kubeflow / Kubernetes orchestrators)."""

    parent_image: str = "ghcr.io/example/runway:0.1.0"
    kubernetes_context: str | None = None
    kubernetes_namespace: str = "runway"
    service_account: str = "runway-pipeline-runner"
    kubeflow_host: str | None = None
    artifact_store_path: str = "s3://runway-artifacts"
    # S3-compatible endpoint (MinIO); empty means AWS S3 itself.
    artifact_store_endpoint: str | None = None
    container_registry_uri: str = "ghcr.io/example"
    required_secrets: list[str] = Field(default_factory=lambda: ["runway-object-store"])


class EnvironmentConfig(_Strict):
    name: str
    workspace: str = ".runway"
    # The Feast repo to use; tests point this at a temporary copy.
    feature_repo: str = "feature_repo"
    source: SourceConfig = SourceConfig()
    feast: FeastConfig = FeastConfig()
    zenml: ZenMLConfig = ZenMLConfig()
    lock: LockConfig = LockConfig()
    stack: StackConfig = StackConfig()
    predictions_sink: str | None = None  # SQLAlchemy URL; None writes parquet


class Settings(_Strict):
    use_case: str
    description: str = ""
    simulation: SimulationConfig = SimulationConfig()
    contract: ContractConfig
    features: FeatureConfig
    model: ModelConfig
    split: SplitConfig = SplitConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    inference: InferenceConfig = InferenceConfig()
    environment: EnvironmentConfig

    @field_validator("use_case")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError("must be lower_snake_case")
        return v

    # Paths ---------------------------------------------------------------
    @property
    def workspace(self) -> Path:
        return resolve_path(self.environment.workspace)

    @model_validator(mode="after")
    def _horizon_covers_batch_and_delay(self) -> "Settings":
        need = self.simulation.batch_days + self.simulation.label_delay_days
        if self.features.horizon_days < need:
            raise ValueError(
                f"features.horizon_days ({self.features.horizon_days}) must be at least simulation.batch_days + label_delay_days ({need}): "
                "otherwise the last days of a batch are scored with stale features"
            )
        return self

    def workspace_path(self, *parts: str) -> Path:
        return self.workspace.joinpath(*parts)

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


# ------------------------------------------------------------------ loading --

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Dotted keys whose values are connection strings that may embed passwords.
SECRET_KEYS = frozenset(
    {
        "environment.source.location",
        "environment.feast.registry",
        "environment.feast.redis_connection",
        "environment.zenml.store_url",
        "environment.lock.url",
        "environment.predictions_sink",
    }
)


def reveal(value: str | None) -> str | None:
    """Resolve ``${VAR}`` references in a secret-bearing value, at use time."""
    if value is None:
        return None
    return _substitute(value, lambda name: f"environment variable {name} is not set (needed for a connection string)")


def _substitute(value: str, unset_message) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; an unset VAR without a default
    raises ConfigError(unset_message(VAR))."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(unset_message(name))

    return _ENV_REF.sub(sub, value)


def resolve_path(value: str | os.PathLike[str]) -> Path:
    """Relative paths are relative to the project root, never the CWD."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _interpolate(value: Any, key: str, origin: Path) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{key}.{k}" if key else k, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def missing(name: str) -> str:
        return f"{origin}: key '{key}' needs environment variable {name}, which is not set"

    if key in SECRET_KEYS and _ENV_REF.search(value):
        # Checked now (an unset variable names key and file), kept as a
        # reference; an empty optional one means "not set".
        return value if _substitute(value, missing) else None
    return _substitute(value, missing)


def _merge(base: dict[str, Any], over: dict[str, Any], origins: dict[str, Path], src: Path, prefix: str = "") -> dict[str, Any]:
    """Deep-merge ``over`` into ``base``, remembering which file set each key."""
    out = dict(base)
    for k, v in over.items():
        dotted = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, origins, src, dotted)
        else:
            out[k] = v
            origins[dotted] = src
            _record_leaves(v, dotted, origins, src)
    return out


def _record_leaves(value: Any, prefix: str, origins: dict[str, Path], src: Path) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            origins[f"{prefix}.{k}"] = src
            _record_leaves(v, f"{prefix}.{k}", origins, src)


def _origin_of(loc: str, origins: dict[str, Path], fallback: Path) -> Path:
    parts = loc.split(".")
    while parts:
        if ".".join(parts) in origins:
            return origins[".".join(parts)]
        parts.pop()
    return fallback


def use_case_file(name: str) -> Path:
    return CONFIG_DIR / "use_cases" / f"{name}.yaml"


def environment_file(name: str) -> Path:
    return CONFIG_DIR / "environments" / f"{name}.yaml"


def load_settings(
    use_case: str | os.PathLike[str] = DEFAULT_USE_CASE,
    env: str | os.PathLike[str] = DEFAULT_ENV,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Load and validate settings; ``use_case``/``env`` are names or file paths.

    ``overrides`` (a nested mapping) is applied last, e.g. by tests or the CLI.
    """
    uc_path = Path(use_case) if str(use_case).endswith((".yaml", ".yml")) else use_case_file(str(use_case))
    env_path = Path(env) if str(env).endswith((".yaml", ".yml")) else environment_file(str(env))
    origins: dict[str, Path] = {}
    uc = _interpolate(_read_yaml(uc_path), "", uc_path)
    raw_env = _read_yaml(env_path)
    raw_overrides = raw_env.pop("overrides", {}) or {}
    env_data = _interpolate(raw_env, "environment", env_path)
    env_data["overrides"] = _interpolate(raw_overrides, "", env_path) if isinstance(raw_overrides, dict) else raw_overrides
    merged = _merge({}, uc, origins, uc_path)
    # The environment file holds the `environment` section and may override
    # any use-case key under `overrides:`.
    env_overrides = env_data.pop("overrides", {}) or {}
    if not isinstance(env_overrides, dict):
        raise ConfigError(f"{env_path}: key 'overrides' must be a mapping")
    merged = _merge(merged, {"environment": env_data}, origins, env_path)
    merged = _merge(merged, env_overrides, origins, env_path)
    if overrides:
        merged = _merge(merged, overrides, origins, Path("<overrides>"))
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            origin = _origin_of(loc, origins, uc_path)
            value = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            problems.append(f"{origin}: key '{loc}': {err['msg']}{value}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def list_names(kind: Literal["use_cases", "environments"]) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / kind).glob("*.yaml"))
