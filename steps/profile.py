"""whylogs profiles: the reference profile stored with each model version."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from whylogs.core import DatasetProfileView
from zenml import log_metadata, step

import runway.monitoring.profiling as profiling_lib
from runway.config import Settings
from runway.modeling.artifact import ModelArtifact
from steps.caching import depends_on
from steps.materializers import ProfileViewMaterializer


@step(cache_policy=depends_on(profiling_lib), output_materializers=ProfileViewMaterializer)
def profile_reference(settings: Settings, train_frame: pd.DataFrame, model: ModelArtifact) -> Annotated[DatasetProfileView, "reference_profile"]:
    cols = [*model.features, settings.target]
    view = profiling_lib.profile_frame(train_frame[cols])
    log_metadata({"profiled_columns": len(cols), "profiled_rows": len(train_frame)})
    return view
