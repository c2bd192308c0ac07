"""Training steps: time-based split and model fit."""

from __future__ import annotations

from typing import Annotated, Tuple

import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

import runway.features.store as fs_lib
import runway.modeling.artifact as modeling_lib
import runway.features.frames as training_lib
from runway.config import Settings
from runway.modeling.artifact import ForecastModel
from steps.caching import depends_on
from steps.materializers import ForecastModelMaterializer


@step(cache_policy=depends_on(modeling_lib, training_lib))
def split_frame(settings: Settings, frame: pd.DataFrame) -> Tuple[Annotated[pd.DataFrame, "train_frame"], Annotated[pd.DataFrame, "holdout_frame"]]:
    usable = training_lib.drop_warmup(frame.dropna(subset=[settings.model.target]), settings)
    train, holdout = modeling_lib.time_split(usable, settings.contract.timestamp, settings.split)
    log_metadata({"train_rows": len(train), "holdout_rows": len(holdout), "holdout_start": str(holdout[settings.contract.timestamp].min())})
    return train, holdout


@step(cache_policy=depends_on(modeling_lib, training_lib, fs_lib), output_materializers=ForecastModelMaterializer)
def train_model(settings: Settings, train_frame: pd.DataFrame) -> Annotated[ForecastModel, ArtifactConfig(name="model", artifact_type=ArtifactType.MODEL)]:
    store = fs_lib.open_store(settings)
    features = training_lib.model_feature_list(fs_lib.feature_names(store, settings.features.feature_service), settings)
    model = modeling_lib.train(train_frame, features, settings.model, settings.contract.timestamp)
    log_metadata({"features": features, "estimator": settings.model.estimator, "trained_rows": model.trained_rows})
    return model
