"""Where predictions go: partitioned parquet locally, a SQL table where the
environment names one. Re-running a batch replaces that batch of that use
case (and model) only, atomically; other writers' rows are never touched.

A fleet writes with ``tenant_column``: its rows are keyed by (use case,
model, tenant, batch) — the SQL table gets a ``tenant`` column — and a
writer replaces only the tenants it writes, so two tenants writing the same
batch keep both."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from runway.config import Settings, reveal
from runway.data.io import write_parquet_atomic

TABLE = "runway_predictions"
BATCH_PREFIX = "batch="


def sink_location(sink: str) -> str:
    """The sink URL as shown to users: the password masked by SQLAlchemy's own
    URL parser (an '@' inside a password broke the old split-at-'@')."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(sink).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never echo an unparsable URL, it may hold a secret
        return "<unparsable URL>"


def partition_dir(settings: Settings, batch_label: str) -> Path:
    return settings.use_case_path("predictions", f"{BATCH_PREFIX}{batch_label}")


def _owner(settings: Settings) -> dict[str, str]:
    # The columns that key a writer's rows in a shared table.
    return {"use_case": settings.use_case, "model": settings.model.name}


TENANT = "tenant"  # the owner column of a fleet's rows in the SQL table


def _merge_tenants(path: Path, frame: pd.DataFrame, tenant_column: str | None) -> pd.DataFrame:
    """A fleet's parquet: the file's rows of other tenants, then ``frame``."""
    if tenant_column is None or not path.exists():
        return frame
    old = pd.read_parquet(path)
    if tenant_column not in old.columns:
        return frame
    keep = old[~old[tenant_column].isin(frame[tenant_column].unique())]
    return pd.concat([keep, frame], ignore_index=True) if len(keep) else frame


def write_predictions(settings: Settings, predictions: pd.DataFrame, inputs: pd.DataFrame, batch_label: str, tenant_column: str | None = None) -> str:
    """Store predictions (and the model inputs beside them, for monitoring).

    With ``tenant_column`` (a fleet), only the tenants in ``predictions`` are replaced."""
    part = partition_dir(settings, batch_label)
    write_parquet_atomic(_merge_tenants(part / "inputs.parquet", inputs, tenant_column), part / "inputs.parquet")
    sink = reveal(settings.environment.predictions_sink)
    if sink:
        import sqlalchemy as sa

        owner = _owner(settings)
        engine = sa.create_engine(sink)
        rows = predictions.assign(batch=batch_label, **owner)
        try:
            with engine.begin() as conn:  # delete + insert in one transaction
                exists = sa.inspect(conn).has_table(TABLE)
                if tenant_column is not None:
                    rows = rows.rename(columns={tenant_column: TENANT}) if tenant_column != TENANT else rows
                    if exists and TENANT not in {c["name"] for c in sa.inspect(conn).get_columns(TABLE)}:
                        conn.execute(sa.text(f"ALTER TABLE {TABLE} ADD COLUMN {TENANT} VARCHAR(64)"))
                    if exists:
                        stmt = sa.text(
                            f"DELETE FROM {TABLE} WHERE batch = :b AND use_case = :u AND model = :m AND {TENANT} IN :t"  # noqa: S608 - constant names
                        ).bindparams(sa.bindparam("t", expanding=True))
                        conn.execute(stmt, {"b": batch_label, "u": owner["use_case"], "m": owner["model"], "t": sorted(rows[TENANT].astype(str).unique())})
                elif exists:
                    conn.execute(
                        sa.text(f"DELETE FROM {TABLE} WHERE batch = :b AND use_case = :u AND model = :m"),  # noqa: S608 - constant table name
                        {"b": batch_label, "u": owner["use_case"], "m": owner["model"]},
                    )
                rows.to_sql(TABLE, conn, if_exists="append", index=False, chunksize=10_000)
        finally:
            engine.dispose()
        return f"{sink_location(sink)} table {TABLE} (use_case={settings.use_case}, batch={batch_label})"
    write_parquet_atomic(_merge_tenants(part / "predictions.parquet", predictions, tenant_column), part / "predictions.parquet")
    return str(part / "predictions.parquet")


def read_predictions(settings: Settings, batch_labels: list[str] | None = None) -> pd.DataFrame:
    sink = reveal(settings.environment.predictions_sink)
    if sink:
        import sqlalchemy as sa

        owner = _owner(settings)
        engine = sa.create_engine(sink)
        try:
            df = pd.read_sql(sa.text(f"SELECT * FROM {TABLE} WHERE use_case = :u AND model = :m"), engine, params={"u": owner["use_case"], "m": owner["model"]})  # noqa: S608
        finally:
            engine.dispose()
        df = df.drop(columns=["use_case", "model"])
        return df[df["batch"].isin(batch_labels)] if batch_labels else df
    root = settings.use_case_path("predictions")
    parts = sorted(root.glob(f"{BATCH_PREFIX}*/predictions.parquet"))
    if batch_labels:
        parts = [p for p in parts if p.parent.name.removeprefix(BATCH_PREFIX) in batch_labels]
    if not parts:
        raise FileNotFoundError(f"no predictions under {root}" + (f" for batches {', '.join(batch_labels)}" if batch_labels else ""))
    return pd.concat([pd.read_parquet(p).assign(batch=p.parent.name.removeprefix(BATCH_PREFIX)) for p in parts], ignore_index=True)


def read_inputs(settings: Settings, batch_labels: list[str]) -> pd.DataFrame:
    parts = [partition_dir(settings, b) / "inputs.parquet" for b in batch_labels]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise FileNotFoundError(f"model inputs missing for monitoring: {', '.join(missing)}")
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def scored_batches(settings: Settings) -> list[date]:
    """Batches with stored model inputs (every scored batch has them, whatever the sink)."""
    root = settings.use_case_path("predictions")
    return sorted(date.fromisoformat(p.name.removeprefix(BATCH_PREFIX)) for p in root.glob(f"{BATCH_PREFIX}*") if (p / "inputs.parquet").exists())
