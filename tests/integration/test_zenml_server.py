"""The local ZenML server of runway.platform.stacks.local_server, for real: the daemon
ZenML's `zenml login --local` starts, on SQLite and on MariaDB/MySQL (in its
own throwaway database), with pipeline-free client calls against it, stack
registration, and the port closed again afterwards, also after an error."""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _store():
    from zenml.config.global_config import GlobalConfiguration

    return GlobalConfiguration().store_configuration


class Boom(RuntimeError):
    pass


def test_sqlite_server_serves_the_client_and_stops_even_on_error(settings) -> None:
    from zenml.client import Client
    from zenml.enums import StackComponentType, StoreType

    from runway.platform.stacks import ensure_stack, local_server, stack_name

    before = _store()
    assert before.type == StoreType.SQL
    port = free_port()
    with pytest.raises(Boom), local_server(settings, port=port) as url:
        assert url == f"http://127.0.0.1:{port}" and port_open(port)
        client = Client()
        assert _store().type == StoreType.REST and _store().url == url
        assert client.zen_store.get_store_info().auth_scheme.value == "NO_AUTH"
        assert "default" in [s.name for s in client.list_stacks()]
        client.list_models()

        # ...but remote runs refuse it: pods could not reach 127.0.0.1.
        from runway.platform.stacks import StackError, remote_server

        with pytest.raises(StackError, match="local store or server"), remote_server(settings):
            pass

        # Registering a remote stack works on it, and again without changes.
        name = ensure_stack(settings, "kubernetes")
        assert name == stack_name(settings, "kubernetes") == "runway-local-kubernetes"
        stack = client.get_stack(name)
        first = {t: [c.id for c in cs] for t, cs in stack.components.items()}
        assert ensure_stack(settings, "kubernetes") == name
        again = client.get_stack(name)
        assert {t: [c.id for c in cs] for t, cs in again.components.items()} == first
        assert again.updated == stack.updated
        orchestrator = again.components[StackComponentType.ORCHESTRATOR][0]
        assert orchestrator.configuration["kubernetes_namespace"] == settings.environment.stack.kubernetes_namespace
        assert again.environment["RUNWAY_ENV"] == "local"

        # A changed setting updates the same component in place.
        from runway.platform.stacks import with_stack

        moved = with_stack(settings, kubernetes_namespace="runway-moved", artifact_store_path="s3://moved")
        ensure_stack(moved, "kubernetes")
        updated = client.get_stack(name)
        assert updated.components[StackComponentType.ORCHESTRATOR][0].id == orchestrator.id
        assert updated.components[StackComponentType.ORCHESTRATOR][0].configuration["kubernetes_namespace"] == "runway-moved"
        assert updated.components[StackComponentType.ARTIFACT_STORE][0].configuration["path"] == "s3://moved"
        raise Boom("the block fails")
    assert not port_open(port), "the server still listens after the block"
    assert _store() == before, "the client is not back on its own store"
    # The stacks were registered in the local SQLite store the server used.
    assert Client().get_stack("runway-local-kubernetes")


def test_port_in_use_is_a_clear_error(settings) -> None:
    from runway.platform.stacks import LocalServerError, local_server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalServerError, match=rf"port {port} on 127.0.0.1 is already in use"), local_server(settings, port=port):
            pass


@pytest.mark.services
def test_mariadb_server_in_its_own_database(settings, mysql_url) -> None:
    import pymysql
    from sqlalchemy.engine import make_url
    from zenml.client import Client
    from zenml.enums import StoreType

    from runway.platform.stacks import LocalServerError, ensure_stack, local_server

    url = make_url(mysql_url)
    database = user = f"runway_test_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    conn = pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root", password=url.password or "", autocommit=True)
    before = _store()
    port = free_port()
    hosts = ("%", "localhost")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
            # ZenML refuses a MySQL user without a password: one just for this database.
            for host in hosts:
                cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
                cur.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}'")
        root_url = url.set(username="root", password=None, database=database).render_as_string(hide_password=False)
        with pytest.raises(LocalServerError, match="needs a MySQL/MariaDB user with a password"), local_server(settings, root_url, port=port):
            pass
        store_url = url.set(username=user, password=password, database=database).render_as_string(hide_password=False)
        with local_server(settings, store_url, port=port) as server_url:
            assert port_open(port)
            assert _store().type == StoreType.REST and _store().url == server_url
            info = Client().zen_store.get_store_info()
            assert info.database_type.value == "mysql"
            assert [s.name for s in Client().list_stacks()] == ["default"]
            Client().list_models()
            ensure_stack(settings, "kubeflow")
        assert not port_open(port)
        assert _store() == before
        with conn.cursor() as cur:
            cur.execute(f"SELECT name FROM `{database}`.stack")
            assert {r[0] for r in cur.fetchall()} == {"default", "runway-local-kubeflow"}
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            for host in hosts:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        conn.close()
