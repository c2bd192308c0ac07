"""Feast definitions for the ``feast`` CLI, built from a use case's YAML.

Nothing is declared here: the entities, sources, feature views and the
versioned feature service come from ``configs/use_cases/<use case>.yaml``
through ``runway.features.definitions.build_objects`` (the same objects
``runway.features.store.apply`` registers). The use case is named by the
environment variable ``RUNWAY_USE_CASE`` (default ``retail_demand``); its
sources are ``<this dir>/data/<use case>/<view>.parquet``, its Feast project
``runway_<use case>`` (``feature_store.yaml``'s ``project`` must say the same:
the CLI refuses a mismatch rather than mixing two use cases).

``feast apply`` imports this file with only the repo directory on
``sys.path``, so it first puts the project root there: the parent of this
directory, or ``RUNWAY_PROJECT_ROOT`` for a copy of the repo elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _project_root() -> Path | None:
    for candidate in (os.environ.get("RUNWAY_PROJECT_ROOT"), _HERE.parent):
        if candidate and (Path(candidate) / "runway" / "config" / "schema.py").is_file():
            return Path(candidate).resolve()
    return None


_root = _project_root()
if _root is not None and str(_root) not in sys.path:
    sys.path.insert(0, str(_root))

from feast.feature_view import DUMMY_ENTITY  # noqa: E402

from runway.config import load_settings  # noqa: E402
from runway.features.definitions import build_objects  # noqa: E402
from runway.features.store import feature_data_dir  # noqa: E402

_settings = load_settings(os.environ.get("RUNWAY_USE_CASE", "retail_demand"), "local")
_objects = build_objects(_settings, feature_data_dir(_settings, _HERE))

# Module globals are what the CLI collects (by type, whatever their names);
# Feast adds the dummy entity of views without entities itself.
project = _objects.projects[0]
for _e in _objects.entities:
    if _e is not DUMMY_ENTITY:
        globals()[f"entity_{_e.name}"] = _e
for _s in _objects.data_sources:
    globals()[f"source_{_s.name}"] = _s
for _fv in _objects.feature_views:
    globals()[f"view_{_fv.name}"] = _fv
for _fs in _objects.feature_services:
    globals()[f"service_{_fs.name}"] = _fs
