"""The decision log's SQL store: the same signed lines, in a shared database.

For environments where several machines (CI runners, pods, laptops) decide
about the same models, the log lives in PostgreSQL or MySQL/MariaDB instead of
a workspace file. ``runway.governance.decision_log.DecisionLog`` still signs,
chains and verifies every line; this module only stores them:

* ``<table>``: one row per entry, ``seq`` (1, 2, ...) and the entry's exact
  JSON line (what ``prev_sha256`` hashes), plus ``model`` / ``version`` /
  ``action`` copied out for people who query the table. Nothing reads those
  copies back: verification uses the line only.
* ``<table>_head``: one row, the MAC'd head record (entry count, last MAC), so
  deleting the newest rows is detected like a truncated file.

Appends are one transaction: ``SELECT ... FOR UPDATE`` on the head row (the
row lock serialises appenders across processes and machines), read and verify
the lines, insert the new rows, update the head, commit. Readers read the
head first, then the rows (READ COMMITTED), so a concurrent append can only
add rows beyond the head, which verify accepts.

The code offers no update or delete. On creation the store also installs
triggers that refuse ``UPDATE`` and ``DELETE`` on the entries table (and
``TRUNCATE`` on PostgreSQL) and ``DELETE`` of the head row, where the
database user may create triggers; otherwise it warns once and relies on the
chain and the head, which detect the change anyway. What a database
superuser (or the table owner) can still do is in docs/governance.md: drop
or disable the triggers, then edit or delete rows. The MACs make such an
edit visible to ``decisions --verify``; only a replay of an older copy of
both tables goes unseen without an outside anchor.

The URL is a secret: it is never logged, stored or put into a message
(``where`` shows it with the password hidden).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from runway.governance.decision_log import Builder

_ENGINES: dict[str, sa.Engine] = {}
_READY: set[tuple[str, str]] = set()
_GUARD = threading.Lock()
SUPPORTED = ("postgresql", "mysql", "mariadb")
REFUSED = "runway decision log is append-only"


class DecisionStoreError(RuntimeError):
    """The SQL decision log's database cannot be used (wrong dialect, unreachable)."""


def redacted(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - sqlalchemy raises several types
        return "<unparsable URL>"


def _engine(url: str) -> sa.Engine:
    with _GUARD:
        engine = _ENGINES.get(url)
        if engine is None:
            try:
                u = sa.engine.make_url(url)
            except Exception:  # noqa: BLE001
                raise DecisionStoreError("environment.decision_log.url is not a SQLAlchemy URL") from None
            if u.get_backend_name() not in SUPPORTED:
                raise DecisionStoreError(
                    f"environment.decision_log.url: the SQL decision log runs on PostgreSQL or MySQL/MariaDB, not {u.get_backend_name()} ({redacted(url)})"
                )
            # NullPool: no connection outlives an append (steps fork, pods scale).
            engine = sa.create_engine(u, poolclass=sa.pool.NullPool, isolation_level="READ COMMITTED")
            _ENGINES[url] = engine
        return engine


def _tables(table: str) -> tuple[sa.Table, sa.Table]:
    md = sa.MetaData()
    line_type = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
    entries = sa.Table(
        table,
        md,
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("model", sa.String(255)),
        sa.Column("version", sa.String(64)),
        sa.Column("action", sa.String(64)),
        sa.Column("line", line_type, nullable=False),
    )
    head = sa.Table(
        f"{table}_head",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("last_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64)),  # NULL: no entry was ever appended
    )
    return entries, head


def _trigger_sql(dialect: str, table: str) -> list[tuple[str, str, str]]:
    """(trigger name, table, CREATE statement(s)) refusing changes."""
    head = f"{table}_head"
    if dialect == "postgresql":
        fn = f"{table}_refuse"
        create_fn = (
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION USING MESSAGE = '{REFUSED}: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused'; END $$"
        )
        return [
            (
                f"{table}_no_change",
                table,
                f"{create_fn};\nCREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {fn}()",
            ),
            (f"{table}_no_truncate", table, f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"),
            (f"{head}_no_delete", head, f"CREATE TRIGGER {head}_no_delete BEFORE DELETE OR TRUNCATE ON {head} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"),
        ]
    signal = f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{REFUSED}'"
    return [
        (f"{table}_no_update", table, f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} FOR EACH ROW {signal}"),
        (f"{table}_no_delete", table, f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW {signal}"),
        (f"{head}_no_delete", head, f"CREATE TRIGGER {head}_no_delete BEFORE DELETE ON {head} FOR EACH ROW {signal}"),
    ]


def _existing_triggers(conn: sa.Connection, dialect: str) -> set[str]:
    if dialect == "postgresql":
        rows = conn.execute(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    else:
        rows = conn.execute(sa.text("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"))
    return {str(r[0]) for r in rows}


class SqlStore:
    """The log's lines as rows of ``table``, its head in ``<table>_head``."""

    def __init__(self, url: str, table: str = "runway_decision_log"):
        self._url = url
        self.table = table
        self.entries_table, self.head_table = _tables(table)
        self.where = f"{redacted(url)} table {table}"
        self.head_name = f"{table}_head"

    @property
    def engine(self) -> sa.Engine:
        return _engine(self._url)

    # ----------------------------------------------------------- set-up --

    def ensure(self) -> None:
        """Create the tables, the head row and the triggers once (idempotent,
        serialised across processes by a database lock)."""
        if (self._url, self.table) in _READY:
            return
        from runway.governance.locks import sql_lock

        engine = self.engine
        try:
            with sql_lock(self._url, f"runway-decision-log-setup-{self.table}"):
                self.entries_table.metadata.create_all(engine, checkfirst=True)
                with engine.begin() as conn:
                    if conn.execute(sa.select(self.head_table.c.id).where(self.head_table.c.id == 1)).first() is None:
                        conn.execute(sa.insert(self.head_table).values(id=1, count=0, last_mac="0" * 64, mac=None))
                self._install_triggers(engine)
        except sa.exc.OperationalError as exc:
            raise DecisionStoreError(f"cannot open the decision log at {self.where}: {' '.join(str(exc.orig).split())[:200]}") from None
        _READY.add((self._url, self.table))

    def _install_triggers(self, engine: sa.Engine) -> None:
        dialect = engine.dialect.name
        with engine.connect() as conn:
            have = _existing_triggers(conn, dialect)
        for name, _table, ddl in _trigger_sql(dialect, self.table):
            if name in have:
                continue
            try:
                with engine.begin() as conn:
                    for stmt in ddl.split(";\n"):
                        conn.exec_driver_sql(stmt)
            except sa.exc.DBAPIError as exc:
                warnings.warn(
                    f"decision log {self.where}: trigger {name} not installed ({' '.join(str(exc.orig).split())[:160]}); "
                    "updates and deletes are still detected by the MAC chain and head, but not refused by the database",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def triggers(self) -> set[str]:
        """Names of the refusing triggers installed on this store's tables."""
        self.ensure()
        expected = {name for name, _t, _d in _trigger_sql(self.engine.dialect.name, self.table)}
        with self.engine.connect() as conn:
            return expected & _existing_triggers(conn, self.engine.dialect.name)

    # ------------------------------------------------------------ store --

    def _head_record(self, row: Any) -> Any:
        if row is None or row.mac is None:
            return None
        return {"count": int(row.count), "last_mac": row.last_mac, "mac": row.mac}

    def _lines(self, conn: sa.Connection) -> list[str]:
        e = self.entries_table
        return [str(r[0]) for r in conn.execute(sa.select(e.c.line).order_by(e.c.seq))]

    def read(self) -> tuple[list[str], Any]:
        self.ensure()
        h = self.head_table
        with self.engine.connect() as conn:
            head = self._head_record(conn.execute(sa.select(h).where(h.c.id == 1)).first())
            return self._lines(conn), head

    def append(self, build: Builder) -> None:
        import json

        self.ensure()
        h, e = self.head_table, self.entries_table
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(h).where(h.c.id == 1).with_for_update()).first()
            if row is None:
                # The head row was removed (only possible without the trigger):
                # an empty log starts again, a non-empty one fails verification.
                conn.execute(sa.insert(h).values(id=1, count=0, last_mac="0" * 64, mac=None))
                row = conn.execute(sa.select(h).where(h.c.id == 1).with_for_update()).first()
            lines = self._lines(conn)
            new_lines, head = build(lines, self._head_record(row))
            rows = []
            for n, line in enumerate(new_lines, len(lines) + 1):
                rec = json.loads(line)
                rows.append(
                    {
                        "seq": n,
                        "model": None if rec.get("model") is None else str(rec["model"])[:255],
                        "version": None if rec.get("version") is None else str(rec["version"])[:64],
                        "action": None if rec.get("action") is None else str(rec["action"])[:64],
                        "line": line,
                    }
                )
            conn.execute(sa.insert(e), rows)
            conn.execute(sa.update(h).where(h.c.id == 1).values(count=head["count"], last_mac=head["last_mac"], mac=head["mac"]))


def drop(url: str, table: str) -> None:
    """Drop a store's tables, triggers and function (tests and teardown only:
    the log's code paths never call it)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}, {table}_head")
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {table}_refuse()")
            else:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}, {table}_head")
    finally:
        engine.dispose()
        _READY.discard((url, table))
