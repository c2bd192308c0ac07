"""The training steps' frame materializer: same frame back, written with snappy (not ZenML's gzip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from zenml.client import Client
from zenml.io import fileio

from steps.materializers import FrameMaterializer


def test_frame_round_trips_with_snappy():
    uri = f"{Client().active_stack.artifact_store.path}/frame-materializer-test"
    df = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=50, freq="h"), "x": np.arange(50.0), "k": list("ab") * 25})
    df.loc[3, "x"] = np.nan
    fileio.makedirs(uri)
    mat = FrameMaterializer(uri)
    mat.save(df)
    pd.testing.assert_frame_equal(FrameMaterializer(uri).load(pd.DataFrame), df)
    assert pq.ParquetFile(mat.parquet_path).metadata.row_group(0).column(0).compression == "SNAPPY"
