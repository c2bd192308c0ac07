"""Subprocess body for the promotion race test: wait for the start signal,
then promote one version through Runway's locked path."""

import os
import sys
import time
from pathlib import Path

os.environ["RUNWAY_ZENML_CONFIGURED"] = "1"

from runway.config import load_settings

workspace, feature_repo, model, version, go = sys.argv[1:6]
settings = load_settings(
    overrides={"model": {"name": model}, "environment": {"workspace": workspace, "feature_repo": feature_repo, "zenml": {"config_dir": None}}}
)
from runway.governance import registry  # noqa: E402  (imports zenml with the inherited ZENML_CONFIG_PATH)

registry.production(model)  # warm up the client before the race starts
while not Path(go).exists():
    time.sleep(0.005)
registry.set_production(settings, model, version, action="promote", reason=f"race test {version}")
print("done", version)
