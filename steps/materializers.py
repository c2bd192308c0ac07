"""ZenML materializers for Runway's own artifact types.

* ``ModelArtifact``: stored as ``model.pkl``. Loading trusts nothing in the
  artifact store: the bytes must hash to the content hash ZenML recorded in
  its own database for this artifact version when it was saved (handed to
  the materializer by ZenML's loader, else looked up by ``self.uri``), and
  then unpickle only through ``runway.modeling.artifact``'s restricted
  unpickler. Whoever can rewrite the artifact folder cannot make it load.
* ``pd.DataFrame`` between training steps (``FrameMaterializer``): ZenML's
  pandas materializer, but parquet with snappy instead of gzip (gzip was ~4.5x
  the CPU of snappy on a 65k-row frame, paid once per frame per run).
  Opted into per step, so other steps keep ZenML's default.
* whylogs ``DatasetProfileView``: stored in whylogs' own binary format, with
  an HTML summary shown in the ZenML dashboard.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pandas as pd
from whylogs.core import DatasetProfileView
from zenml.enums import ArtifactType, VisualizationType
from zenml.integrations.pandas.materializers.pandas_materializer import PandasMaterializer
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from runway.governance.registry import MODEL_FILE
from runway.modeling.artifact import ArtifactIntegrityError, ModelArtifact, deserialize_verified, serialize, sha256_bytes

PROFILE_FILE = "profile.bin"


class ModelArtifactMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ModelArtifact,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def save(self, data: ModelArtifact) -> None:
        blob = serialize(data)
        with fileio.open(os.path.join(self.uri, MODEL_FILE), "wb") as fh:
            fh.write(blob)
        # ZenML records compute_content_hash's answer right after save: the
        # hash of exactly these bytes, not of a second pickling.
        self._saved = (id(data), sha256_bytes(blob))

    def _recorded_hash(self) -> str | None:
        """The content hash in ZenML's database for the artifact version at ``self.uri``."""
        if self.expected_content_hash:
            return self.expected_content_hash
        from zenml.client import Client

        found = Client().list_artifact_versions(uri=self.uri, size=2)
        if found.total != 1:
            return None
        return found.items[0].content_hash

    def load(self, data_type: type[Any]) -> ModelArtifact:
        expected = self._recorded_hash()
        if not expected:
            raise ArtifactIntegrityError(f"ZenML has no recorded content hash for the model artifact at {self.uri}; refusing to unpickle it")
        with fileio.open(os.path.join(self.uri, MODEL_FILE), "rb") as fh:
            return deserialize_verified(fh.read(), expected)

    def compute_content_hash(self, data: ModelArtifact) -> str:
        saved = getattr(self, "_saved", None)
        if saved is not None and saved[0] == id(data):
            return str(saved[1])
        return sha256_bytes(serialize(data))

    def extract_metadata(self, data: ModelArtifact) -> dict[str, Any]:
        meta = {
            "task": data.task,
            "features": len(data.features),
            "trained_rows": data.trained_rows,
            "train_start": data.train_start,
            "train_end": data.train_end,
            "estimator": data.metadata.get("estimator", ""),
        }
        if data.threshold is not None:
            meta |= {"threshold": float(data.threshold), "threshold_source": data.metadata.get("threshold_source", "")}
        return meta


class FrameMaterializer(PandasMaterializer):
    # Not registered as pd.DataFrame's default: only the steps that name it use it.
    SKIP_REGISTRATION: ClassVar[bool] = True

    def save(self, df: pd.DataFrame | pd.Series) -> None:
        if isinstance(df, pd.Series):
            df = df.to_frame(name="series")
        if not self.pyarrow_exists:
            super().save(df)
            return
        # Same file name as ZenML's (its load() reads it); parquet records its codec, so load needs no change.
        with self.artifact_store.open(self.parquet_path, mode="wb") as fh:
            df.to_parquet(fh, compression="snappy")


class ProfileViewMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (DatasetProfileView,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.STATISTICS

    def save(self, data: DatasetProfileView) -> None:
        with fileio.open(os.path.join(self.uri, PROFILE_FILE), "wb") as fh:
            fh.write(data.serialize())

    def load(self, data_type: type[Any]) -> DatasetProfileView:
        with fileio.open(os.path.join(self.uri, PROFILE_FILE), "rb") as fh:
            return DatasetProfileView.deserialize(fh.read())

    def compute_content_hash(self, data: DatasetProfileView) -> str:
        return sha256_bytes(data.serialize())

    def save_visualizations(self, data: DatasetProfileView) -> dict[str, VisualizationType]:
        cols = [
            c
            for c in data.to_pandas().columns
            if c.split("/")[0] in ("counts", "distribution", "types") or c.endswith(("/n", "/null", "/mean", "/stddev", "/min", "/max", "/median"))
        ]
        table = data.to_pandas()[cols].round(4).to_html(classes="profile", border=0)
        path = os.path.join(self.uri, "profile.html")
        with fileio.open(path, "w") as fh:
            fh.write(f"<html><body><h3>whylogs profile</h3>{table}</body></html>")
        return {path: VisualizationType.HTML}

    def extract_metadata(self, data: DatasetProfileView) -> dict[str, Any]:
        df = data.to_pandas()
        return {"columns": len(df), "rows": int(df["counts/n"].max()) if "counts/n" in df else 0}
