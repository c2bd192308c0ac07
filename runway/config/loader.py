"""One typed, validated configuration model, layered: use case, then environment.

A run's settings come from two YAML files merged in order:

1. ``configs/use_cases/<name>.yaml``: what the model is (schema, features,
   estimator, gates, monitoring policy),
2. ``configs/environments/<env>.yaml``: where it runs (paths, stores, stack).

The environment file may override any key of the use case. Values of the form
``${VAR}`` or ``${VAR:-default}`` are read from the process environment, so no
environment file ever holds a secret. Every error names the key and the file
that set it.

Keys that carry credentials (``SECRET_KEYS``: connection URLs) keep a
*reference* inside ``Settings``, in a form ZenML does not expand:
``${VAR}`` in the YAML becomes ``{env:VAR}`` (``${VAR:-d}``: ``{env:VAR:-d}``).
Settings travel as pipeline parameters into ZenML's database and compiled
specs, and ZenML itself substitutes ``${VAR}`` in a pipeline's configuration
when it builds a run, so a ``${VAR}`` kept as is *did* reach its store.
``reveal`` resolves a reference at the point of use, never earlier.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, overload

import yaml
from pydantic import ValidationError

from runway.config.schema import PROJECT_ROOT, ConfigError, Settings

CONFIG_DIR = PROJECT_ROOT / "configs"
DEFAULT_USE_CASE = "retail_demand"
DEFAULT_ENV = "local"


# ------------------------------------------------------------------ loading --

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# The form a reference takes inside Settings: ZenML expands ${VAR}, not this.
_SECRET_REF = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Dotted keys whose values are connection strings that may embed passwords.
SECRET_KEYS = frozenset(
    {
        "environment.source.location",
        "environment.feast.registry",
        "environment.feast.redis_connection",
        "environment.zenml.store_url",
        "environment.lock.url",
        "environment.decision_log.url",
        "environment.predictions_sink",
        "privacy.hash_key",  # the pii hash key (runway.data.privacy)
    }
)


@overload
def reveal(value: str) -> str: ...
@overload
def reveal(value: None) -> None: ...
@overload
def reveal(value: str | None) -> str | None: ...
def reveal(value: str | None) -> str | None:
    """Resolve ``{env:VAR}`` (and ``${VAR}``) references in a secret-bearing value, at use time."""
    if value is None:
        return None

    def unset(name: str) -> str:
        return f"environment variable {name} is not set (needed for a connection string)"

    return _substitute(_substitute(value, unset, _SECRET_REF), unset)


def redact_url(url: str) -> str:
    """A database URL fit for a message or a log: the password replaced by
    ``***`` (SQLAlchemy's own rendering, so a password holding ``@`` or ``:``
    cannot leak part of itself); anything unparsable is not echoed at all."""
    import contextlib

    from sqlalchemy.engine import make_url

    with contextlib.suppress(Exception):
        return make_url(url).render_as_string(hide_password=True)
    return "<unparsable URL>"


def secret_reference(value: str) -> str:
    """``${VAR}`` / ``${VAR:-d}`` -> ``{env:VAR}`` / ``{env:VAR:-d}``: a reference ZenML leaves alone."""
    return _ENV_REF.sub(lambda m: "{env:" + m.group(1) + (f":-{m.group(2)}" if m.group(2) is not None else "") + "}", value)


def _substitute(value: str, unset_message, pattern: re.Pattern[str] = _ENV_REF) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; an unset VAR without a default
    raises ConfigError(unset_message(VAR))."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(unset_message(name))

    return pattern.sub(sub, value)


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
        # reference ZenML does not expand; an empty optional one means "not set".
        return secret_reference(value) if _substitute(value, missing) else None
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
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_problems(exc, origins, uc_path))) from None
    _check_paths(settings, origins, env_path)
    _check_plugin(settings, origins, uc_path)
    return settings


def _is_url(value: str) -> bool:
    return "://" in value


def _check_paths(settings: Settings, origins: dict[str, Path], fallback: Path) -> None:
    """Every path of the environment stays inside the workspace.

    A relative path that climbs out (``feast.registry: ../../x``) is refused,
    naming key and file; an absolute path outside the workspace only with
    ``allow_external_paths: true``. The workspace itself may not be a
    filesystem root, the home folder or the project (or a folder above it).
    """
    env = settings.environment
    workspace = settings.workspace.resolve()
    home = Path.home().resolve()
    if workspace == Path(workspace.anchor) or workspace == home or PROJECT_ROOT.resolve().is_relative_to(workspace):
        key = "environment.workspace"
        raise ConfigError(
            f"{_origin_of(key, origins, fallback)}: key '{key}': the workspace {workspace} is a root, home or project folder; use a folder of its own"
        )
    candidates: list[tuple[str, str | None, Path]] = [
        ("environment.feast.registry", reveal(env.feast.registry), workspace),
        ("environment.zenml.config_dir", env.zenml.config_dir, workspace),
    ]
    if env.source.kind != "sql":
        candidates.append(("environment.source.location", reveal(env.source.location), workspace / settings.use_case))
    for key, value, base in candidates:
        if not value or _is_url(value):
            continue
        p = Path(value).expanduser()
        where = _origin_of(key, origins, fallback)
        if p.is_absolute():
            if not p.resolve().is_relative_to(workspace) and not env.allow_external_paths:
                raise ConfigError(
                    f"{where}: key '{key}': {value} is outside the workspace {workspace}; "
                    "use a path inside it, or set environment.allow_external_paths: true for an absolute path elsewhere"
                )
            continue
        resolved = (base / p).resolve()
        if not resolved.is_relative_to(workspace):
            raise ConfigError(
                f"{where}: key '{key}': relative path {value!r} resolves to {resolved}, outside the workspace {workspace}; a relative path must stay inside it"
            )


_CROSS_KEY = re.compile(r"^(?:Value error, )?([a-z_]+(?:[.\[][\w\]\[.]*)?): (.*)$", re.S)


def _problems(exc: ValidationError, origins: dict[str, Path], fallback: Path) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        # Cross-section checks (runway.config.checks) put the key in the message.
        m = _CROSS_KEY.match(msg) if not loc or loc == "environment" else None
        if (m and "." in m.group(1)) or (m and m.group(1) in ("entities", "features")):
            loc, msg = m.group(1), m.group(2)
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        origin = _origin_of(re.sub(r"\[\d+\]", "", loc), origins, fallback)
        value = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], (dict, list)) else ""
        out.append(f"{origin}: key '{loc or '(top level)'}': {msg}{value}")
    return out


def _check_plugin(settings: Settings, origins: dict[str, Path], fallback: Path) -> None:
    """The plug-in module must import, and may type its own ``simulation`` section."""
    if settings.plugin is None:
        if settings.simulation is not None:
            raise ConfigError(f"{_origin_of('simulation', origins, fallback)}: key 'simulation': set, but no 'plugin' provides a simulator")
        return
    from runway.plugins import PluginError, load_plugin

    try:
        plugin = load_plugin(settings)
        plugin.simulation_config(settings)
    except PluginError as exc:
        raise ConfigError(f"{_origin_of('plugin', origins, fallback)}: {exc}") from None
    except ValidationError as exc:
        lines = [
            f"{_origin_of(key, origins, fallback)}: key '{key}': {e['msg']}"
            for e in exc.errors()
            for key in ["simulation." + ".".join(str(p) for p in e["loc"])]
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def list_names(kind: Literal["use_cases", "environments"]) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / kind).glob("*.yaml"))
