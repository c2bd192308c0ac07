"""Subprocess body for the kill -9 tests: promote through Runway's locked path,
but stop dead (waiting to be SIGKILLed) at the moment the decision log would
be written, i.e. after ZenML's stage already changed."""

import os
import sys
import time
from pathlib import Path

os.environ["RUNWAY_ZENML_CONFIGURED"] = "1"

from runway.config import load_settings

workspace, feature_repo, model, version, signal = sys.argv[1:6]
settings = load_settings(
    overrides={"model": {"name": model}, "environment": {"workspace": workspace, "feature_repo": feature_repo, "zenml": {"config_dir": None}}}
)
from runway.governance import decision_log, registry  # noqa: E402


def _stall(self, entry):
    Path(signal).touch()
    time.sleep(600)


decision_log.DecisionLog.append = _stall
registry.set_production(settings, model, version, action="promote", reason="kill test")
