"""Where predictions go: partitioned parquet locally, a SQL table where the
environment names one. Re-running a batch replaces that batch, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from runway.config import Settings, reveal
from runway.simulate import write_parquet_atomic

TABLE = "runway_predictions"


def partition_dir(settings: Settings, batch_label: str) -> Path:
    return settings.workspace_path("predictions", f"batch={batch_label}")


def write_predictions(settings: Settings, predictions: pd.DataFrame, inputs: pd.DataFrame, batch_label: str) -> str:
    """Store predictions (and the model inputs beside them, for monitoring)."""
    part = partition_dir(settings, batch_label)
    write_parquet_atomic(inputs, part / "inputs.parquet")
    sink = reveal(settings.environment.predictions_sink)
    if sink:
        import sqlalchemy as sa

        engine = sa.create_engine(sink)
        try:
            with engine.begin() as conn:  # delete + insert in one transaction
                if sa.inspect(conn).has_table(TABLE):
                    conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE batch = :b"), {"b": batch_label})
                predictions.assign(batch=batch_label).to_sql(TABLE, conn, if_exists="append", index=False)
        finally:
            engine.dispose()
        return f"{sink.split('@')[-1]} table {TABLE} (batch={batch_label})"
    write_parquet_atomic(predictions, part / "predictions.parquet")
    return str(part / "predictions.parquet")


def read_predictions(settings: Settings, batch_labels: list[str] | None = None) -> pd.DataFrame:
    sink = reveal(settings.environment.predictions_sink)
    if sink:
        import sqlalchemy as sa

        engine = sa.create_engine(sink)
        try:
            df = pd.read_sql(sa.text(f"SELECT * FROM {TABLE}"), engine)
        finally:
            engine.dispose()
        return df[df["batch"].isin(batch_labels)] if batch_labels else df
    root = settings.workspace_path("predictions")
    parts = sorted(root.glob("batch=*/predictions.parquet"))
    if batch_labels:
        parts = [p for p in parts if p.parent.name.removeprefix("batch=") in batch_labels]
    if not parts:
        raise FileNotFoundError(f"no predictions under {root}" + (f" for batches {', '.join(batch_labels)}" if batch_labels else ""))
    return pd.concat([pd.read_parquet(p).assign(batch=p.parent.name.removeprefix("batch=")) for p in parts], ignore_index=True)


def read_inputs(settings: Settings, batch_labels: list[str]) -> pd.DataFrame:
    parts = [partition_dir(settings, b) / "inputs.parquet" for b in batch_labels]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise FileNotFoundError(f"model inputs missing for monitoring: {', '.join(missing)}")
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
