"""Point-in-time (as-of) retrieval: Runway's ASOF offline store through Feast
vs Feast's own offline stores, pandas ``merge_asof`` and a hand-written DuckDB
``ASOF JOIN`` (the floor: the same joins with no Feast around them).

Data (``build``): an entity frame (``store_id``, ``item_id``,
``event_timestamp``, ``row_id``) and three feature views of 10 features each
(9 float64 with 2 % nulls, 1 nullable int64), TTL 7 days, each a parquet
source with ``event_timestamp`` and ``created_timestamp``:

* ``sales`` and ``price`` keyed by (store_id, item_id), ``item_stats`` by
  item_id; about 20 rows per (store, item) series over 120 days (20 stores x
  5,000 items at full size), so many entity rows find their latest row older
  than the TTL (nulls);
* 1 % of source rows are corrections: same key and event time, created a day
  later, other values (the later created row must win);
* entity rows: stores drawn from 10 % more stores than the sources know (no
  value: nulls), 5 % duplicate rows, timestamps up to 10 days past the data.

Every contestant returns the entity rows in their original order with the 30
features; ``check`` compares each contestant's values with the floor's cell by
cell (a null only matches a null).

Module top level: standard library only (the harness imports it everywhere).
"""

# ruff: noqa: S608 - SQL over the benchmark's own generated files and column names

from __future__ import annotations

import math
import time
from pathlib import Path

TITLE = "Point-in-time retrieval (3 feature views x 10 features, TTL 7 days)"
VIEWS = {"sales": ["store_id", "item_id"], "price": ["store_id", "item_id"], "item_stats": ["item_id"]}
TTL_DAYS = 7
SERVICE = "bench_pit"
CONTESTANTS = {
    "runway_asof": {"what": "Feast `get_historical_features` with Runway's ASOF offline store (`runway.features.offline_store`)", "env": "project"},
    "feast_duckdb": {"what": "Feast `get_historical_features`, Feast's DuckDB offline store", "env": "project"},
    # Feast 0.67's file store drops entity rows whose entity has source rows
    # but none inside [ts - ttl, ts] (dask.py _filter_ttl) and collapses
    # duplicate entity rows (_drop_duplicates); check() verifies that exactly
    # those rows are missing and that every returned cell agrees.
    "feast_file": {"what": "Feast `get_historical_features`, Feast's file (dask) offline store", "env": "project", "drops_rows": True},
    "pandas_merge_asof": {"what": "pandas `merge_asof` per view (`by` keys, `tolerance`=TTL), sources read with pandas", "env": "project"},
    "duckdb_asof": {"what": "hand-written DuckDB `ASOF LEFT JOIN` per view over the parquet files, no Feast (floor)", "env": "project"},
}
PEER = "duckdb_asof"


def _case(name: str, entity_rows: int, source_rows: int, contestants: list[str], seed: int) -> dict:
    # ~20 rows per (store, item) series at every size; 20 stores x 5,000 items at full size,
    # so an item has ~400 rows over 120 days (~23 inside a TTL).
    series = max(15, source_rows // 20)
    stores = max(3, round(math.sqrt(series / 250)))
    items = max(5, round(series / stores))
    return {
        "name": name,
        "title": TITLE,
        "params": {"entity_rows": entity_rows, "source_rows": source_rows, "stores": stores, "items": items, "seed": seed, "ttl_days": TTL_DAYS},
        "contestants": contestants,
        "peer": PEER,
        "rows": entity_rows,
        "rows_label": "entity rows",
        "describe": (
            f"{entity_rows:,} entity rows x 3 views x 10 features, {source_rows:,} source rows per view "
            f"({stores} stores x {items} items, ~{source_rows // max(1, stores * items)} rows per series over 120 days; "
            f"1 % corrections; unknown stores and 5 % duplicate entity rows), TTL {TTL_DAYS} days"
        ),
    }


def cases(smoke: bool, opts: dict) -> list[dict]:
    seed = int(opts.get("seed", 0))
    if smoke:
        return [_case("pit_smoke", 2_000, 4_000, list(CONTESTANTS), seed)]
    big = [c for c in CONTESTANTS if c != "feast_file"]
    return [
        _case("pit", int(opts.get("entity_rows", 1_000_000)), int(opts.get("source_rows", 2_000_000)), big, seed),
        _case("pit_small", int(opts.get("small_entity_rows", 20_000)), int(opts.get("small_source_rows", 40_000)), list(CONTESTANTS), seed),
    ]


# ------------------------------------------------------------------ data ---


def build(case: dict, workdir: Path) -> dict:
    import numpy as np
    import pandas as pd

    p = case["params"]
    n_ent, n_src, n_stores, n_items = p["entity_rows"], p["source_rows"], p["stores"], p["items"]
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(p["seed"])
    us = 10**6
    t0 = pd.Timestamp("2024-01-01", tz="UTC").value // 1000
    span = 120 * 86_400 * us
    stores = np.array([f"S{i:04d}" for i in range(n_stores + max(1, n_stores // 10))], dtype=object)  # the extra ones are unknown
    items = np.array([f"I{i:05d}" for i in range(n_items)], dtype=object)
    views = {}
    for v, (name, keys) in enumerate(VIEWS.items()):
        n_main = n_src - n_src // 100
        n_fix = n_src - n_main
        si = rng.integers(0, n_stores, n_main)
        ii = rng.integers(0, n_items, n_main)
        ts = t0 + rng.integers(0, span, n_main)
        ts -= ts % us  # whole seconds
        cr = ts + 3600 * us + np.arange(n_main)  # created an hour later, all distinct
        fix = rng.choice(n_main, n_fix, replace=False)  # each corrected once: no full (event, created) ties
        si, ii = np.concatenate([si, si[fix]]), np.concatenate([ii, ii[fix]])
        ts, cr = np.concatenate([ts, ts[fix]]), np.concatenate([cr, cr[fix] + 86_400 * us])
        cols: dict[str, object] = {}
        if "store_id" in keys:
            cols["store_id"] = stores[si]
        cols["item_id"] = items[ii]
        cols["event_timestamp"] = pd.to_datetime(ts, unit="us", utc=True)
        cols["created_timestamp"] = pd.to_datetime(cr, unit="us", utc=True)
        feats = []
        for f in range(9):
            x = rng.normal(size=n_src)
            x[rng.random(n_src) < 0.02] = np.nan
            cols[f"{name}_f{f}"] = x
            feats.append(f"{name}_f{f}")
        n9 = pd.array(rng.integers(0, 1000, n_src), dtype="Int64")
        n9[rng.random(n_src) < 0.02] = pd.NA
        cols[f"{name}_n9"] = n9
        feats.append(f"{name}_n9")
        path = workdir / f"{name}.parquet"
        pd.DataFrame(cols).sample(frac=1.0, random_state=v).to_parquet(path, index=False, row_group_size=128 * 1024)
        views[name] = {"path": str(path), "keys": keys, "features": feats}
    si = rng.integers(0, len(stores), n_ent)
    ii = rng.integers(0, n_items, n_ent)
    ts = t0 + rng.integers(0, span + 10 * 86_400 * us, n_ent)
    ent = pd.DataFrame({"store_id": stores[si], "item_id": items[ii], "event_timestamp": pd.to_datetime(ts, unit="us", utc=True)})
    n_dup = n_ent // 20
    ent.iloc[rng.integers(0, n_ent, n_dup)] = ent.iloc[rng.integers(0, n_ent, n_dup)].to_numpy()
    ent["event_timestamp"] = ent["event_timestamp"].astype("datetime64[ns, UTC]")
    ent["row_id"] = np.arange(n_ent, dtype="int64")
    epath = workdir / "entity.parquet"
    ent.to_parquet(epath, index=False)
    return {"entity": str(epath), "views": views, "ttl_s": TTL_DAYS * 86_400}


# ----------------------------------------------------------- contestants ---


def _versions(*mods: str) -> dict[str, str]:
    import importlib

    out = {}
    for m in mods:
        try:
            out[m] = importlib.import_module(m).__version__
        except Exception:  # noqa: BLE001
            out[m] = "?"
    return out


def _feast_store(kind: str, data: dict, root: Path):
    from datetime import timedelta

    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.types import Float64, Int64

    from runway.features.offline_store import offline_store_config

    offline = {"type": "file"} if kind == "file" else offline_store_config(kind)
    root.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project=SERVICE,
        provider="local",
        registry={"registry_type": "file", "path": str(root / "registry.db"), "cache_ttl_seconds": 600},
        offline_store=offline,
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        entity_key_serialization_version=3,
        repo_path=root,
    )
    ents = {
        "store_id": Entity(name="store", join_keys=["store_id"], value_type=ValueType.STRING),
        "item_id": Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING),
    }
    fvs = []
    for name, v in data["views"].items():
        fvs.append(
            FeatureView(
                name=name,
                entities=[ents[k] for k in v["keys"]],
                ttl=timedelta(seconds=data["ttl_s"]),
                schema=[Field(name=f, dtype=Int64 if f.endswith("_n9") else Float64) for f in v["features"]],
                source=FileSource(name=f"{name}_source", path=v["path"], timestamp_field="event_timestamp", created_timestamp_column="created_timestamp"),
                online=False,
            )
        )
    store = FeatureStore(config=config)
    store.apply([*ents.values(), *fvs, FeatureService(name=SERVICE, features=fvs)])
    return store


def _write_output(df, data: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    feats = [f for v in data["views"].values() for f in v["features"]]
    pq.write_table(pa.Table.from_pandas(df[["row_id", *feats]], preserve_index=False), path)


def _merge_asof(ent, data: dict) -> tuple:
    import pandas as pd

    steps = {}
    t = time.perf_counter()
    left = ent.sort_values("event_timestamp", kind="stable")
    tol = pd.Timedelta(seconds=data["ttl_s"])
    for name, v in data["views"].items():
        t1 = time.perf_counter()
        src = pd.read_parquet(v["path"], columns=[*v["keys"], "event_timestamp", "created_timestamp", *v["features"]])
        src = src.rename(columns={"event_timestamp": "__ts"}).sort_values(["__ts", "created_timestamp"], kind="stable")
        src = src.drop(columns="created_timestamp")
        left = pd.merge_asof(left, src, left_on="event_timestamp", right_on="__ts", by=v["keys"], tolerance=tol, direction="backward", allow_exact_matches=True)
        left = left.drop(columns="__ts")
        steps[f"view {name}"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    out = left.sort_values("row_id", kind="stable").reset_index(drop=True)  # merge_asof keeps the left (time) order
    steps["restore order"] = time.perf_counter() - t2
    steps["total"] = time.perf_counter() - t
    return out, steps


def _duckdb_floor(ent, data: dict) -> tuple:
    """The joins written by hand for this schema: per view one ASOF LEFT JOIN
    on the keys and (event, created) time, TTL as a CASE, ordered by row."""
    import duckdb
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    steps = {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register(
        "ent",
        pa.table(
            {"store_id": pa.array(ent["store_id"]), "item_id": pa.array(ent["item_id"]), "ts": pa.array(ent["event_timestamp"]), "r": np.arange(len(ent))}
        ),
    )
    ttl_us = data["ttl_s"] * 10**6
    cols = {}
    for name, v in data["views"].items():
        t1 = time.perf_counter()
        on = " AND ".join(f"e.{k} = f.{k}" for k in v["keys"])
        sel = ", ".join(f"CASE WHEN f.ts >= e.ts - INTERVAL {ttl_us} MICROSECOND THEN f.{c} END AS {c}" for c in v["features"])
        sql = f"""
            SELECT {sel}
            FROM (SELECT store_id, item_id, CAST(ts AS TIMESTAMPTZ) AS ts, r FROM ent) e
            ASOF LEFT JOIN (
                SELECT {", ".join(v["keys"])}, CAST(event_timestamp AS TIMESTAMPTZ) AS ts,
                       CAST(created_timestamp AS TIMESTAMPTZ) AS cr, {", ".join(v["features"])}
                FROM read_parquet('{v["path"]}')
            ) f
            ON {on} AND (e.ts, 'infinity'::TIMESTAMPTZ) >= (f.ts, f.cr)
            ORDER BY e.r"""
        tbl = con.sql(sql).to_arrow_table()
        cols.update({c: tbl.column(c) for c in tbl.column_names})
        steps[f"view {name}"] = time.perf_counter() - t1
    con.close()
    t2 = time.perf_counter()
    out = pd.concat([ent.reset_index(drop=True), pa.table(cols).to_pandas()], axis=1, copy=False)
    steps["to pandas"] = time.perf_counter() - t2
    return out, steps


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    import pandas as pd

    ent = pd.read_parquet(data["entity"])
    versions = _versions("pandas", "pyarrow", "numpy", "duckdb")
    steps: dict[str, float] = {}
    if name in ("runway_asof", "feast_duckdb", "feast_file"):
        import contextlib
        import io
        import warnings

        import feast

        versions["feast"] = feast.__version__
        if name == "feast_file":
            versions.update(_versions("dask"))
        kind = {"runway_asof": "runway_asof", "feast_duckdb": "duckdb", "feast_file": "file"}[name]
        store = _feast_store(kind, data, outdir / f"feast_{name}")
        service = store.get_feature_service(SERVICE)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu0, t = time.process_time(), time.perf_counter()
            job = store.get_historical_features(entity_df=ent, features=service)
            t1 = time.perf_counter()
            df = job.to_df()
            t2 = time.perf_counter()
            if not df["row_id"].is_monotonic_increasing:  # Feast's own stores return any order
                df = df.sort_values("row_id", kind="stable").reset_index(drop=True)
            t3 = time.perf_counter()
            cpu = time.process_time() - cpu0
        steps = {"get_historical_features": t1 - t, "to_df": t2 - t1, "sort by row": t3 - t2}
        compute = t3 - t
    elif name == "pandas_merge_asof":
        cpu0, t = time.process_time(), time.perf_counter()
        df, steps = _merge_asof(ent, data)
        compute, cpu = time.perf_counter() - t, time.process_time() - cpu0
    elif name == "duckdb_asof":
        cpu0, t = time.process_time(), time.perf_counter()
        df, steps = _duckdb_floor(ent, data)
        compute, cpu = time.perf_counter() - t, time.process_time() - cpu0
    else:
        raise SystemExit(f"unknown contestant {name!r}")
    out = outdir / f"{name}.parquet"
    _write_output(df, data, out)
    return {"compute_s": compute, "compute_cpu_s": cpu, "steps": steps, "versions": versions, "output": str(out), "rows": len(df)}


# ----------------------------------------------------------------- check ---


def _diagnostics(data: dict) -> tuple[dict[str, int], dict[str, object]]:
    """Per view: how many entity rows find their latest row (no TTL) older
    than the TTL (the cells that are null *because of* the TTL), and which
    entity rows (by row_id) get a row whose event time is shared by another
    row of the same entity (a correction: only created_timestamp decides)."""
    import duckdb
    import numpy as np

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    expired, tied = {}, {}
    ent = f"(SELECT *, CAST(event_timestamp AS TIMESTAMPTZ) AS ts FROM read_parquet('{data['entity']}'))"
    for name, v in data["views"].items():
        keys = ", ".join(v["keys"])
        on = " AND ".join(f"e.{k} = f.{k}" for k in v["keys"])
        grouped = f"(SELECT {keys}, CAST(event_timestamp AS TIMESTAMPTZ) AS ts, count(*) AS n FROM read_parquet('{v['path']}') GROUP BY ALL)"
        rows = con.sql(
            f"""SELECT e.row_id, f.ts < e.ts - INTERVAL {data["ttl_s"]} SECOND AS old, f.n > 1 AS tie
                FROM {ent} e ASOF JOIN {grouped} f ON {on} AND e.ts >= f.ts"""
        ).fetchnumpy()
        expired[name] = int(rows["old"].sum())
        tied[name] = np.sort(rows["row_id"][(~rows["old"]) & rows["tie"]])
    con.close()
    return expired, tied


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    problems: list[str] = []
    facts: list[str] = []
    n = case["params"]["entity_rows"]
    if PEER not in results:
        return [f"the floor ({PEER}) did not finish: nothing to compare with"], []
    feats = [f for v in data["views"].values() for f in v["features"]]

    def load(path: str) -> dict:
        t = pq.read_table(path)
        out = {}
        for c in t.column_names:
            col = t.column(c)
            out[c] = col.to_numpy() if c == "row_id" else col.cast(pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN
        return out

    floor = load(results[PEER]["output"])
    if not np.array_equal(floor["row_id"], np.arange(n)):
        problems.append(f"{PEER}: rows are not the {n:,} entity rows in order")
    ent = pd.read_parquet(data["entity"])
    expired, tied = _diagnostics(data)
    present = {}  # view -> entity rows whose key occurs in the view's source
    for vname, v in data["views"].items():
        src_keys = pq.read_table(v["path"], columns=v["keys"]).group_by(v["keys"]).aggregate([]).to_pandas()
        present[vname] = pd.MultiIndex.from_frame(ent[v["keys"]]).isin(pd.MultiIndex.from_frame(src_keys[v["keys"]]))
    no_value = {vname: np.logical_and.reduce([np.isnan(floor[f]) for f in v["features"]]) for vname, v in data["views"].items()}
    for name, res in results.items():
        if name == PEER:
            continue
        got = load(res["output"])
        rows = got["row_id"]
        where = rows
        if CONTESTANTS[name].get("drops_rows"):
            dropped = np.logical_or.reduce([present[v] & no_value[v] for v in data["views"]])
            kept = ent.loc[~dropped, ["store_id", "item_id", "event_timestamp"]]
            want = set(kept.drop_duplicates().itertuples(index=False, name=None))
            have = ent.set_index("row_id").loc[rows, ["store_id", "item_id", "event_timestamp"]]
            have_set = set(have.itertuples(index=False, name=None))
            if len(rows) != len(want) or have_set != want:
                problems.append(
                    f"{name}: returned {len(rows):,} rows; expected the {len(want):,} distinct entity rows that have a value "
                    "inside the TTL in every view or no source row at all"
                )
                continue
            facts.append(
                f"{name}: returned {len(rows):,} of {n:,} entity rows: it drops the {int(dropped.sum()):,} rows whose entity has "
                "source rows but none inside the TTL window, and keeps one of each set of duplicate rows (Feast 0.67 file store); "
                "exactly those rows are missing"
            )
        elif len(rows) != n or not np.array_equal(rows, np.arange(n)):
            problems.append(f"{name}: returned {len(rows):,} rows, not the {n:,} entity rows in order")
            continue
        bad_cols, bad_rows = [], {}
        for vname, v in data["views"].items():
            for c in v["features"]:
                a, b = got[c], floor[c][where]
                bad = ~((a == b) | (np.isnan(a) & np.isnan(b)))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    bad_cols.append(f"{c} ({int(bad.sum()):,} cells, first row_id {int(rows[i])}: {a[i]} vs {b[i]})")
                    bad_rows[vname] = np.union1d(bad_rows.get(vname, []), rows[bad]).astype("int64")
        if bad_cols and CONTESTANTS[name].get("drops_rows"):
            # Known: the file store's sorts do not keep the created_timestamp order
            # among rows with the same event time. Accept exactly that.
            ties_only = all(np.isin(r, tied[vn]).all() for vn, r in bad_rows.items())
            n_bad = len(np.unique(np.concatenate(list(bad_rows.values()))))
            if ties_only:
                facts.append(
                    f"{name}: differs from {PEER} on {n_bad:,} of the rows it returned, all of them rows whose latest source row "
                    "shares its event time with a correction: it does not pick the latest created_timestamp (Feast 0.67 file store)"
                )
                bad_cols = []
        if bad_cols:
            problems.append(f"{name} differs from {PEER} in " + "; ".join(bad_cols[:5]))
        else:
            facts.append(
                f"{name}: all other cells of the rows it returned equal to {PEER}'s"
                if CONTESTANTS[name].get("drops_rows")
                else f"{name}: all {len(rows) * len(feats):,} cells equal to {PEER}'s"
            )
    dups = int(ent.duplicated(["store_id", "item_id", "event_timestamp"]).sum())
    known_stores = set()
    for v in data["views"].values():
        if "store_id" in v["keys"]:
            known_stores |= set(pq.read_table(v["path"], columns=["store_id"]).column(0).unique().to_pylist())
    unknown = int((~ent["store_id"].isin(known_stores)).sum())
    nulls = {name: int(no_value[name].sum()) for name in data["views"]}
    facts.append(
        f"compared {n:,} entity rows incl. {dups:,} duplicate rows and {unknown:,} rows of unknown stores; "
        + "; ".join(
            f"{name}: {nulls[name]:,} rows without a value ({expired[name]:,} of them because the latest row is older than the TTL), "
            f"{len(tied[name]):,} rows whose value is decided by created_timestamp"
            for name in data["views"]
        )
    )
    return problems, facts


if __name__ == "__main__":  # pragma: no cover
    import subprocess
    import sys

    sys.exit(subprocess.call([sys.executable, str(Path(__file__).with_name("run.py")), "pit", *sys.argv[1:]]))
