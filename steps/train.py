"""Training steps: time-based split and model fit."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

import runway.features.frames as frames_lib
import runway.features.store as fs_lib
import runway.modeling.artifact as modeling_lib
import runway.modeling.estimators as estimators_lib
from runway.config import Settings
from runway.modeling.artifact import ModelArtifact
from steps.caching import depends_on
from steps.materializers import FrameMaterializer, ModelArtifactMaterializer


@step(cache_policy=depends_on(modeling_lib, frames_lib), output_materializers=FrameMaterializer)
def split_frame(settings: Settings, frame: pd.DataFrame) -> tuple[Annotated[pd.DataFrame, "train_frame"], Annotated[pd.DataFrame, "holdout_frame"]]:
    usable = frames_lib.drop_warmup(frame.dropna(subset=[settings.target]), settings)
    train, holdout = modeling_lib.time_split(usable, settings.timestamp, settings.split)
    log_metadata({"train_rows": len(train), "holdout_rows": len(holdout), "holdout_start": str(holdout[settings.timestamp].min())})
    return train, holdout


@step(cache_policy=depends_on(modeling_lib, estimators_lib, frames_lib, fs_lib), output_materializers=ModelArtifactMaterializer)
def train_model(settings: Settings, train_frame: pd.DataFrame) -> Annotated[ModelArtifact, ArtifactConfig(name="model", artifact_type=ArtifactType.MODEL)]:
    store = fs_lib.open_store(settings)
    features = frames_lib.model_feature_list(fs_lib.feature_names(store, settings.features.service_name), settings)
    model = modeling_lib.train(train_frame, features, settings.model, settings.timestamp)
    log_metadata(
        {
            "features": features,
            "task": settings.model.task,
            "estimator": settings.model.estimator,
            "trained_rows": model.trained_rows,
            **({"threshold": model.threshold} if model.threshold is not None else {}),
        }
    )
    return model
