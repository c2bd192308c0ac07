"""Process set-up that must happen before ZenML is imported.

ZenML reads its global config location and analytics switch from the
environment when it is first imported, so ``configure`` runs first, in
``run.py`` and in the test suite.
"""

from __future__ import annotations

import os
import sys

from runway.config import Settings, reveal


def configure(settings: Settings) -> None:
    if "zenml" in sys.modules and os.environ.get("RUNWAY_ZENML_CONFIGURED") != "1":
        raise RuntimeError("runway.platform.runtime.configure must run before zenml is imported")
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")
    os.environ.setdefault("AUTO_OPEN_DASHBOARD", "false")
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")  # no network here; and no phoning home
    # Feast logs every registry refresh at INFO: noise in every step's log.
    import logging
    import warnings

    logging.getLogger("feast").setLevel(logging.WARNING)
    # Raised inside ZenML's own pydantic models on every step: not actionable here.
    warnings.filterwarnings("ignore", message=r".*__get_pydantic_core_schema__.*")
    zc = settings.environment.zenml
    if settings.zenml_config_dir:
        settings.zenml_config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["ZENML_CONFIG_PATH"] = str(settings.zenml_config_dir)
    if zc.store_url:
        os.environ["ZENML_STORE_URL"] = reveal(zc.store_url)
    os.environ["RUNWAY_ZENML_CONFIGURED"] = "1"


def dashboard_hint(settings: Settings) -> str:
    zc = settings.environment.zenml
    prefix = f"ZENML_CONFIG_PATH={settings.zenml_config_dir} " if settings.zenml_config_dir else ""
    if zc.server_url:
        return f"open {zc.server_url}"
    return f"{prefix}zenml login --local   (then open http://127.0.0.1:8237)"
