"""Throwaway databases on the loopback services (.ci/run's URLs): each helper
creates its own, uniquely named, and drops it on exit, also on failure."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator


def unique(prefix: str = "runway_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database on the server of ``admin_url``; yields its URL."""
    import sqlalchemy as sa

    url = sa.engine.make_url(admin_url)
    name = unique()
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def mysql_database(admin_url: str, *, with_user: bool = False) -> Iterator[str]:
    """A new MariaDB/MySQL database (and, with ``with_user``, a user with a
    password that owns it: ZenML refuses a user without one); yields its URL."""
    import pymysql
    import sqlalchemy as sa

    url = sa.engine.make_url(admin_url)
    database = user = unique()
    password = uuid.uuid4().hex
    hosts = ("%", "localhost")
    conn = pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root", password=url.password or "", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
            if with_user:
                for host in hosts:
                    cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
                    cur.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}'")
        if with_user:
            yield url.set(username=user, password=password, database=database).render_as_string(hide_password=False)
        else:
            yield url.set(database=database).render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            if with_user:
                for host in hosts:
                    cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        conn.close()
