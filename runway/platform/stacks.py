"""Remote ZenML stacks (Kubeflow, Kubernetes) and a local ZenML server.

* ``ensure_stack(settings, kind)`` registers, or reuses and updates, the stack
  ``runway-<env>-<kind>``: the orchestrator, an S3 artifact store and a
  container registry, all configured from ``environment.stack``.
* ``local_server(settings)`` starts a local ZenML server (the daemon that
  ``zenml login --local`` starts) on SQLite or MySQL/MariaDB, connects the
  client to it and always stops it on exit.
* ``remote_session(settings, kind, pipelines)`` prepares a run of pipelines on a remote
  stack after the Kubernetes preflight.
* ``stack_from_terraform(path)`` maps ``terraform output -json`` onto
  ``StackConfig`` fields.

Images are never built: ``DockerSettings(parent_image=..., skip_build=True)``
runs every step in the Runway image (``infra/Dockerfile``), which already holds
the code. ZenML is imported inside the functions, so this module can be
imported before ``runway.platform.runtime.configure``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from runway.config import Settings, StackConfig, redact_url

Kind = Literal["kubeflow", "kubernetes"]
KINDS: tuple[str, ...] = ("kubeflow", "kubernetes")

DEFAULT_SERVER_PORT = 8237  # the port `zenml login --local` uses
SERVER_START_TIMEOUT_S = 90
# Standalone Kubeflow Pipelines (infra/terraform/modules/kubeflow_pipelines)
# lives in this namespace; its pipeline pods run there too.
KFP_NAMESPACE = "kubeflow"
# The uid/gid of the Runway image (infra/Dockerfile: USER 10001:10001).
IMAGE_UID = 10001

# Pod and container security for the restricted Pod Security Standard the
# workload namespaces enforce (same values as infra/k8s/*/monitor-cronjob.yaml).
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": IMAGE_UID,
    "runAsGroup": IMAGE_UID,
    "fsGroup": IMAGE_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": IMAGE_UID,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
STEP_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
ORCHESTRATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "400Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}

# For the orchestrator Job and every step Job. zenml 0.98's default for step
# Jobs leaves out onPodConditions[].status, which the Job schema requires
# (kubernetes-validate --strict rejects it for 1.30 to 1.32); this is its
# orchestrator-Job policy, with the status, for both: a disruption does not
# count, exit code 45 (ZenML's "run already failed") fails the Job at once,
# any other failure counts towards backoffLimit.
POD_FAILURE_POLICY: dict[str, Any] = {
    "rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [45]}},
        {"action": "Count", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [0]}},
    ]
}

# `terraform output -json` name -> StackConfig field (see infra/README.md).
TERRAFORM_OUTPUTS: dict[str, str] = {
    "kubernetes_context": "kubernetes_context",
    "kubernetes_namespace": "kubernetes_namespace",
    "kubernetes_service_account": "service_account",
    "kubeflow_host": "kubeflow_host",
    "artifact_store_path": "artifact_store_path",
    "artifact_store_endpoint": "artifact_store_endpoint",
    "container_registry": "container_registry_uri",
    "image": "parent_image",
    "preflight_secrets": "required_secrets",
}

# AWS S3 needs no endpoint; MinIO (the Terraform default) does.
OPTIONAL_OUTPUTS = frozenset({"artifact_store_endpoint"})


class StackError(RuntimeError):
    """A remote stack cannot be registered, reached or used; the message says why."""


class LocalServerError(StackError):
    """The local ZenML server cannot be started (port taken, another server running, ...)."""


# ------------------------------------------------------------------ helpers --


def _check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ValueError(f"stack kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind  # type: ignore[return-value]


def stack_name(settings: Settings, kind: str) -> str:
    return f"runway-{settings.environment.name}-{_check_kind(kind)}"


def with_stack(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with ``environment.stack`` fields replaced."""
    env = settings.environment
    stack = StackConfig.model_validate({**env.stack.model_dump(), **changes})
    return settings.model_copy(update={"environment": env.model_copy(update={"stack": stack})})


def _boot(settings: Settings) -> None:
    """ZenML's environment must be set before its first import (runway.platform.runtime)."""
    if "zenml" not in sys.modules:
        from runway.platform import runtime

        runtime.configure(settings)


def docker_settings(settings: Settings):
    """Run every step in the configured image as is: no build, no code upload
    (the image holds the code, see infra/Dockerfile)."""
    from zenml.config import DockerSettings

    return DockerSettings(
        parent_image=settings.environment.stack.parent_image,
        skip_build=True,
        allow_download_from_code_repository=False,
        allow_download_from_artifact_store=False,
    )


def stack_environment(settings: Settings) -> dict[str, str]:
    """Non-secret variables every step container gets (stack ``environment``).
    Secrets reach pods only as Kubernetes secret references (``envFrom``)."""
    return {
        "RUNWAY_ENV": settings.environment.name,
        "RUNWAY_USE_CASE": settings.use_case,
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_ENABLE_RICH_TRACEBACK": "false",
        # The step entrypoint imports ZenML before any Runway code.
        "RUNWAY_ZENML_CONFIGURED": "1",
    }


def pod_settings(settings: Settings, role: Literal["step", "orchestrator"] = "step") -> dict[str, Any]:
    """``KubernetesPodSettings`` (as a dict) for the restricted Pod Security Standard:
    non-root uid 10001, RuntimeDefault seccomp, no privilege escalation, all
    capabilities dropped, read-only root filesystem with an emptyDir on /tmp,
    requests and limits. Step pods get the required secrets as ``envFrom``."""
    sc = settings.environment.stack
    labels = {"app.kubernetes.io/part-of": "runway", "runway.io/environment": settings.environment.name, "app.kubernetes.io/name": f"runway-{role}"}
    if role == "orchestrator":
        labels["runway.io/kube-api-access"] = "true"  # it creates the step Jobs
    out: dict[str, Any] = {
        "labels": labels,
        "resources": ORCHESTRATOR_RESOURCES if role == "orchestrator" else STEP_RESOURCES,
        "container_security_context": CONTAINER_SECURITY_CONTEXT,
        "additional_pod_spec_args": {"security_context": POD_SECURITY_CONTEXT, "automount_service_account_token": role == "orchestrator"},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}],
        "volume_mounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir mount in the pod
    }
    if role == "step" and sc.required_secrets:
        out["env_from"] = [{"secretRef": {"name": name}} for name in sc.required_secrets]
    return out


def orchestrator_config(settings: Settings, kind: str) -> dict[str, Any]:
    """Orchestrator component configuration. ``None`` values are unset on update."""
    sc = settings.environment.stack
    if _check_kind(kind) == "kubeflow":
        # Pod settings other than node selectors are ignored by ZenML's
        # Kubeflow orchestrator with KFP 2.x, and standalone KFP runs pods in
        # its own namespace: the workload namespace/service account apply to
        # the Kubernetes orchestrator only.
        return {
            "kubernetes_context": sc.kubernetes_context or None,
            "kubeflow_hostname": sc.kubeflow_host or None,
            "kubeflow_namespace": KFP_NAMESPACE,
            "synchronous": True,
            "timeout": 3600,
        }
    # No context configured and running in a pod (the monitor CronJob): use
    # the pod's service account.
    incluster = not sc.kubernetes_context and "KUBERNETES_SERVICE_HOST" in os.environ
    return {
        "kubernetes_context": sc.kubernetes_context or None,
        "incluster": incluster,
        "kubernetes_namespace": sc.kubernetes_namespace,
        "service_account_name": sc.service_account,
        "step_pod_service_account_name": sc.service_account,
        "synchronous": True,
        "ttl_seconds_after_finished": 86400,
        "pod_failure_policy": POD_FAILURE_POLICY,
        "pod_settings": pod_settings(settings, "step"),
        "orchestrator_pod_settings": pod_settings(settings, "orchestrator"),
    }


def _components(settings: Settings, kind: str) -> dict[Any, tuple[str, str, dict[str, Any]]]:
    from zenml.enums import StackComponentType as T

    sc = settings.environment.stack
    name = stack_name(settings, kind)
    return {
        T.ORCHESTRATOR: (f"{name}-orchestrator", kind, orchestrator_config(settings, kind)),
        T.ARTIFACT_STORE: (
            f"{name}-artifacts",
            "s3",
            {"path": sc.artifact_store_path, **({"client_kwargs": {"endpoint_url": sc.artifact_store_endpoint}} if sc.artifact_store_endpoint else {})},
        ),
        T.CONTAINER_REGISTRY: (f"{name}-registry", "default", {"uri": sc.container_registry_uri}),
    }


def _normalized(flavor: str, ctype: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as ZenML stores it (validated, unset keys dropped)."""
    from zenml.stack.utils import validate_stack_component_config

    validated = validate_stack_component_config(
        configuration_dict={k: v for k, v in config.items() if v is not None}, flavor=flavor, component_type=ctype, validate_custom_flavors=True
    )
    if validated is None:
        raise StackError(f"ZenML could not validate the {flavor} {ctype} configuration")
    return json.loads(json.dumps(validated.model_dump(mode="json", exclude_unset=True)))


def _ensure_component(client: Any, ctype: Any, name: str, flavor: str, config: dict[str, Any]) -> tuple[Any, bool]:
    """Create or update one component; returns (id, changed)."""
    try:
        existing = client.get_stack_component(ctype, name, allow_name_prefix_match=False)
    except KeyError:
        created = client.create_stack_component(name, flavor, ctype, {k: v for k, v in config.items() if v is not None})
        return created.id, True
    if existing.flavor_name != flavor:
        raise StackError(
            f"ZenML {ctype.value} '{name}' has flavor '{existing.flavor_name}', expected '{flavor}': "
            f"remove it (zenml stack delete / zenml {ctype.value.replace('_', '-')} delete {name}) and run again"
        )
    current = json.loads(json.dumps(existing.configuration))
    if current == _normalized(flavor, ctype, config):
        return existing.id, False
    # Keys set to None are removed by ZenML's merge.
    unset = {k: None for k in current if config.get(k) is None}
    client.update_stack_component(name, ctype, configuration={**unset, **config})
    return existing.id, True


def ensure_stack(settings: Settings, kind: Kind) -> str:
    """Register the stack ``runway-<env>-<kind>`` on the connected ZenML store,
    or reuse it and update whatever changed; returns its name. Idempotent.

    Components: the ``kind`` orchestrator, an ``s3`` artifact store at
    ``stack.artifact_store_path`` and a ``default`` container registry at
    ``stack.container_registry_uri``; the stack's environment is
    ``stack_environment(settings)``. The image settings are pipeline settings
    (``docker_settings``), applied by ``run_on_stack`` and ``compile_all``.
    The s3 flavor needs s3fs and boto3 installed to be *used* (registering
    works without them).
    """
    _check_kind(kind)
    _boot(settings)
    from zenml.client import Client

    client = Client()
    name = stack_name(settings, kind)
    ids = {ctype: _ensure_component(client, ctype, cname, flavor, cfg)[0] for ctype, (cname, flavor, cfg) in _components(settings, kind).items()}
    env = stack_environment(settings)
    try:
        stack = client.get_stack(name, allow_name_prefix_match=False)
    except KeyError:
        stack = client.create_stack(name, components=ids)
    else:
        current = {ctype: [c.id for c in comps] for ctype, comps in stack.components.items()}
        if any(current.get(ctype) != [cid] for ctype, cid in ids.items()):
            stack = client.update_stack(stack.id, component_updates=ids)
    if dict(stack.environment or {}) != env:
        stale = {k: None for k in (stack.environment or {}) if k not in env}
        client.update_stack(stack.id, environment={**stale, **env})
    return name


@contextlib.contextmanager
def active_stack(name_or_id: Any) -> Iterator[None]:
    """Activate a stack for the block, then restore the previous one."""
    from zenml.client import Client

    client = Client()
    previous = client.active_stack_model.id
    client.activate_stack(name_or_id)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            Client().activate_stack(previous)


@contextlib.contextmanager
def pipeline_options(pipelines: list[Any], **options: Any) -> Iterator[None]:
    """``pipeline.configure(**options)`` on module-level pipeline objects for the
    block (the ``run_*`` helpers call ``with_options`` on them, which copies
    this configuration), then restore their configuration."""
    saved = [(p, p._configuration) for p in pipelines]  # noqa: SLF001 - restored below
    try:
        for p in pipelines:
            p.configure(**options)
        yield
    finally:
        for p, cfg in saved:
            p._configuration = cfg  # noqa: SLF001


def run_options(settings: Settings, kind: str) -> dict[str, Any]:
    """Pipeline options a remote stack needs: the image settings and, for
    Kubeflow (which only supports it), CONTINUE_ON_FAILURE execution; KFP
    still skips every step downstream of a failed one."""
    from zenml.enums import ExecutionMode

    opts: dict[str, Any] = {"settings": {"docker": docker_settings(settings)}}
    if _check_kind(kind) == "kubeflow":
        opts["execution_mode"] = ExecutionMode.CONTINUE_ON_FAILURE
    return opts


# ------------------------------------------------------------- local server --


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _zenml_store_url(url: str) -> str:
    """ZenML accepts ``sqlite:///path`` and ``mysql://user:pw@host:port/db`` only."""
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception as exc:  # noqa: BLE001 - sqlalchemy raises several types
        raise LocalServerError(f"not a database URL: {redact_url(url)} ({type(exc).__name__})") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend in ("mysql", "mariadb"):
        if not (u.username and u.password and u.database):
            raise LocalServerError(
                f"ZenML needs a MySQL/MariaDB user with a password and a database in the URL (got {redact_url(url)}): use mysql://user:password@host:port/database"
            )
        return u.set(drivername="mysql").render_as_string(hide_password=False)
    raise LocalServerError(f"the local ZenML server runs on SQLite or MySQL/MariaDB, not {backend}: {redact_url(url)}")


@contextlib.contextmanager
def _env(set_: dict[str, str] | None = None, drop_prefix: str | None = None) -> Iterator[None]:
    """Set ``set_`` and hide variables starting with ``drop_prefix`` for the
    block; restore exactly those keys afterwards."""
    touched = set(set_ or {}) | ({k for k in os.environ if k.startswith(drop_prefix)} if drop_prefix else set())
    saved = {k: os.environ.get(k) for k in touched}
    try:
        for k in touched:
            os.environ.pop(k, None)
        os.environ.update(set_ or {})
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _keep_client_store() -> Iterator[None]:
    """Restore the client's store, active stack and project after the block."""
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration

    gc = GlobalConfiguration()
    previous = gc.store_configuration.model_copy(deep=True)
    stack_id, project_id = gc.active_stack_id, gc.active_project_id
    try:
        yield
    finally:
        gc = GlobalConfiguration()
        gc.active_stack_id, gc.active_project_id = stack_id, project_id
        gc.set_store(previous)
        client = Client()
        if stack_id:
            with contextlib.suppress(Exception):
                client.activate_stack(stack_id)
        if project_id:
            with contextlib.suppress(Exception):
                client.set_active_project(project_id)


@contextlib.contextmanager
def local_server(settings: Settings, store_url: str | None = None, *, port: int | None = None, timeout: int = SERVER_START_TIMEOUT_S) -> Iterator[str]:
    """Start a local ZenML server, connect the client to it, yield its URL, and
    stop it on exit (also on error), restoring the client's previous store.

    ``store_url`` None: the server uses this ZenML config's local SQLite store
    (what ``zenml login --local`` does). Otherwise a ``sqlite:///...`` or
    ``mysql[+pymysql]://user[:pw]@host:port/db`` URL (MariaDB works); the
    database is created/migrated first. The URL reaches the server process
    through its environment only. A server that ``zenml login --local``
    already started for this config is reused (and left running) when
    ``store_url`` is None, and refused otherwise.

    Raises LocalServerError if the port is taken or the server does not start.
    """
    _boot(settings)
    from zenml.enums import ServerProviderType
    from zenml.zen_server.deploy.deployer import LocalServerDeployer
    from zenml.zen_server.deploy.deployment import LocalServerDeploymentConfig
    from zenml.zen_server.deploy.exceptions import ServerDeploymentNotFoundError

    host = "127.0.0.1"
    port = port or DEFAULT_SERVER_PORT
    deployer = LocalServerDeployer()
    try:
        existing = deployer.get_server()
    except ServerDeploymentNotFoundError:
        existing = None
    if existing is not None and existing.is_running:
        url = existing.status.url if existing.status else "?"
        if store_url is not None:
            raise LocalServerError(f"a local ZenML server is already running for this ZenML config ({url}); stop it first with `zenml logout --local`")
        with _keep_client_store(), _env(drop_prefix="ZENML_STORE_"):
            deployer.connect_to_server()
            yield str(url)
        return
    if existing is not None:  # a stale deployment (crashed or killed server)
        with contextlib.suppress(Exception):
            deployer.remove_server(timeout=30)
    if _port_in_use(host, port):
        raise LocalServerError(
            f"port {port} on {host} is already in use, so a local ZenML server cannot start there "
            "(another ZenML server? `zenml logout --local` stops one started by zenml); pass another port"
        )

    daemon_env: dict[str, str] = {}
    if store_url is not None:
        url = _zenml_store_url(store_url)
        from zenml.zen_stores.base_zen_store import BaseZenStore
        from zenml.zen_stores.sql_zen_store import SqlZenStoreConfiguration

        # The daemon starts with migrations disabled: create the schema here.
        try:
            with _env(drop_prefix="ZENML_STORE_"):
                store = BaseZenStore.create_store(SqlZenStoreConfiguration(url=url))
        except Exception as exc:  # noqa: BLE001 - one clear line
            raise LocalServerError(f"cannot initialise the ZenML database {redact_url(url)}: {' '.join(str(exc).split())[:300]}") from None
        with contextlib.suppress(Exception):
            store.engine.dispose()  # type: ignore[attr-defined]
        daemon_env["ZENML_STORE_URL"] = url

    # Extra fields are the daemon provider's (as in `zenml login --local --port`).
    config = LocalServerDeploymentConfig(provider=ServerProviderType.DAEMON, port=port, ip_address=host)  # type: ignore[call-arg]
    try:
        with _keep_client_store():
            # The daemon copies this process's environment when it starts.
            with _env(daemon_env, drop_prefix="ZENML_STORE_"):
                try:
                    server = deployer.deploy_server(config, timeout=timeout)
                except Exception as exc:  # noqa: BLE001
                    raise LocalServerError(f"the local ZenML server did not start on {host}:{port}: {' '.join(str(exc).split())[:300]}") from None
            if not server.is_running or not server.status or not server.status.url:
                raise LocalServerError(f"the local ZenML server did not start on {host}:{port} within {timeout}s")
            # ZENML_STORE_* variables would override the connection to the server.
            with _env(drop_prefix="ZENML_STORE_"):
                deployer.connect_to_server()
                yield server.status.url
    finally:
        # The client is back on its own store by now, so this only stops the server.
        with contextlib.suppress(Exception):
            deployer.remove_server(timeout=30)


def server_running(url: str) -> bool:
    """Whether something answers on the host:port of ``url``."""
    from urllib.parse import urlparse

    u = urlparse(url)
    with contextlib.suppress(OSError), socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=1):
        return True
    return False


# ------------------------------------------------------------ remote runs --


@contextlib.contextmanager
def remote_server(settings: Settings) -> Iterator[None]:
    """Connect the client to ``zenml.server_url`` for the block (with the
    service account key in ``ZENML_STORE_API_KEY``), then restore its own
    store. Without a server URL the current store must already be a remote
    server (e.g. ``ZENML_STORE_URL``/``ZENML_STORE_API_KEY`` in the
    environment): pods cannot reach a local store or a local server."""
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration
    from zenml.enums import StoreType
    from zenml.zen_stores.rest_zen_store import RestZenStoreConfiguration

    server_url = (settings.environment.zenml.server_url or "").rstrip("/")
    current = GlobalConfiguration().store_configuration
    with contextlib.ExitStack() as es:
        if server_url and (current.type != StoreType.REST or current.url.rstrip("/") != server_url):
            es.enter_context(_keep_client_store())
            key = os.environ.get("ZENML_STORE_API_KEY")
            # While connected, ZENML_STORE_* variables (e.g. the SQL store of
            # local runs) would override the server, also in the pods' env.
            es.enter_context(_env(drop_prefix="ZENML_STORE_"))
            try:
                extra: dict[str, Any] = {"api_key": key} if key else {}  # moved into ZenML's credentials store
                GlobalConfiguration().set_store(RestZenStoreConfiguration(url=server_url, **extra))
            except Exception as exc:  # noqa: BLE001 - one clear line
                raise StackError(
                    f"cannot connect to the ZenML server {server_url}: {' '.join(str(exc).split())[:300]} "
                    "(set ZENML_STORE_API_KEY to a service account's API key, see docs/kubernetes.md step 3)"
                ) from None
        if Client().zen_store.is_local_store():
            raise StackError(
                "remote stacks need a ZenML server the cluster's pods can reach, but the client uses a local store or server: "
                "set zenml.server_url in the environment config (RUNWAY_ZENML_SERVER_URL, terraform output zenml_server_url) "
                "and ZENML_STORE_API_KEY"
            )
        yield


@contextlib.contextmanager
def remote_session(settings: Settings, kind: Kind, pipelines: list[Any], *, kubeconfig: str | None = None) -> Iterator[Settings]:
    """Everything a run on the ``kind`` stack needs, in order: Kubernetes
    preflight (context, API, namespace, service account, secrets; raises
    ``PreflightError`` with one line per problem), the ZenML server
    (``remote_server``), ``ensure_stack``, then ``run_options`` (image
    settings; CONTINUE_ON_FAILURE on Kubeflow) on ``pipelines``. Yields the
    settings to run with; the client's store and stack are restored after."""
    from runway.platform.k8s_preflight import preflight

    _check_kind(kind)
    sc = settings.environment.stack
    report = preflight(sc.kubernetes_context or None, sc.kubernetes_namespace, sc.service_account, list(sc.required_secrets), kubeconfig)
    report.raise_if_failed()
    if not sc.kubernetes_context and report.context:
        settings = with_stack(settings, kubernetes_context=report.context)
    _boot(settings)
    with remote_server(settings):
        name = ensure_stack(settings, kind)
        with active_stack(name), pipeline_options(pipelines, **run_options(settings, kind)):
            yield settings


# ---------------------------------------------------------------- terraform --


def stack_from_terraform(outputs_json_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Map ``terraform output -json`` (a file) onto ``StackConfig`` fields.

    Returns e.g. ``{"kubernetes_context": ..., "parent_image": ...}``, ready
    for ``load_settings(..., overrides={"environment": {"stack": mapping}})``.
    Raises ValueError naming every missing or malformed output.
    """
    path = Path(outputs_json_path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found (write it with `terraform -chdir=infra/terraform/envs/<env> output -json > {path.name}`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}); expected `terraform output -json`") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of outputs, got {type(data).__name__}")
    missing = [name for name in TERRAFORM_OUTPUTS if name not in data and name not in OPTIONAL_OUTPUTS]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ValueError(f"{path}: missing terraform output{plural}: {', '.join(missing)} (did `terraform apply` finish for this environment?)")
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, field in TERRAFORM_OUTPUTS.items():
        if name not in data:
            continue  # optional and absent
        entry = data[name]
        if not isinstance(entry, dict) or "value" not in entry:
            problems.append(f"output '{name}' has no 'value' (is this `terraform output -json`?)")
            continue
        if entry.get("sensitive"):
            problems.append(f"output '{name}' is marked sensitive; Runway reads no secret output")
            continue
        value = entry["value"]
        if field == "required_secrets":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                problems.append(f"output '{name}' must be a list of secret names, got {value!r}")
                continue
        elif not isinstance(value, str) or not value:
            problems.append(f"output '{name}' must be a non-empty string, got {value!r}")
            continue
        out[field] = value
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    try:
        StackConfig.model_validate(out)
    except Exception as exc:  # noqa: BLE001 - pydantic error, one line
        raise ValueError(f"{path}: outputs do not fit the stack settings: {' '.join(str(exc).split())}") from None
    return out


def placeholder_kubeconfig(contexts: list[str], namespace: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """A kubeconfig whose contexts point at an address nothing listens on
    (127.0.0.1:9), for code paths that only check that a context exists."""
    names = list(dict.fromkeys(contexts))
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "runway-placeholder", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "runway-placeholder", "user": {"token": "placeholder"}}],
        "contexts": [{"name": n, "context": {"cluster": "runway-placeholder", "user": "runway-placeholder", "namespace": namespace}} for n in names],
        "current-context": names[0],
    }
    fd, name = tempfile.mkstemp(prefix="runway-kubeconfig-", suffix=".yaml", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)  # JSON is YAML
    return Path(name)
