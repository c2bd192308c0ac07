"""Cache keys that cover what a step really depends on.

ZenML's default key covers a step's own source, parameters and inputs, not
the library modules it calls. Each step names its library modules here, so
changing one re-runs exactly the steps that call it.
"""

from __future__ import annotations

from types import ModuleType

from zenml.config import CachePolicy


def depends_on(*modules: ModuleType) -> CachePolicy:
    return CachePolicy(source_dependencies=list(modules))
