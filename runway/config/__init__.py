"""One typed, validated configuration model, layered: use case, then environment.

``schema`` holds the model, ``checks`` the cross-section checks, ``loader``
the YAML layering and ``${VAR}`` references. Import from here.
"""

from runway.config.loader import (
    CONFIG_DIR,
    DEFAULT_ENV,
    DEFAULT_USE_CASE,
    SECRET_KEYS,
    environment_file,
    list_names,
    load_settings,
    redact_url,
    reveal,
    use_case_file,
)
from runway.config.schema import *  # noqa: F403 - the model's classes are the package's API
from runway.config.schema import PROJECT_ROOT, ConfigError, Settings, resolve_path

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_ENV",
    "DEFAULT_USE_CASE",
    "PROJECT_ROOT",
    "SECRET_KEYS",
    "ConfigError",
    "Settings",
    "environment_file",
    "list_names",
    "load_settings",
    "redact_url",
    "resolve_path",
    "reveal",
    "use_case_file",
]
