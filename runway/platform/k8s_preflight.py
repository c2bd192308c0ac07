"""Preflight checks before Runway submits anything to a Kubernetes cluster.

``preflight(...)`` answers, in a few seconds and with one line per problem:
does the kube context exist, does its API answer, and do the namespace, the
pipeline service account and the secrets the steps read exist? It uses the
official ``kubernetes`` client and nothing from ZenML, so it can run (and be
imported) before any stack is registered.

Secrets are read as metadata only (``PartialObjectMetadata``), so their values
never travel to this process.
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass, field

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

DEFAULT_TIMEOUT_S = 5.0
# Ask for metadata only; a server that cannot do that falls back to JSON.
_METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


class PreflightError(RuntimeError):
    """The cluster is not ready for Runway; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Kubernetes preflight failed ({n} problem{'s' if n != 1 else ''}):\n{lines}")


@dataclass
class PreflightReport:
    context: str | None
    namespace: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self) -> None:
        if self.problems:
            raise PreflightError(self.problems)

    def __str__(self) -> str:
        if self.ok:
            return f"preflight ok (context {self.context!r}): " + ", ".join(self.checked)
        return str(PreflightError(self.problems))


def _kubeconfig_path(kubeconfig: str | None) -> str:
    if kubeconfig:
        return os.path.expanduser(kubeconfig)
    env = os.environ.get("KUBECONFIG", "")
    # KUBECONFIG may list several files; the client reads the first one.
    first = env.split(os.pathsep)[0] if env else ""
    return os.path.expanduser(first or "~/.kube/config")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _reason(exc: BaseException, timeout: float) -> str:
    """A short human reason for a transport failure (no stack trace)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        # Checked first: urllib3's NewConnectionError subclasses its timeout error.
        if isinstance(cur, ConnectionRefusedError) or "connection refused" in str(cur).lower():
            return "connection refused"
        if isinstance(cur, (socket.timeout, TimeoutError, urllib3.exceptions.TimeoutError)):
            return f"no answer within {timeout:g}s"
        if isinstance(cur, (ssl.SSLError, urllib3.exceptions.SSLError)):
            return f"TLS error: {_one_line(cur)}"
        if isinstance(cur, socket.gaierror):
            return "host name does not resolve"
        nxt = getattr(cur, "reason", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return type(exc).__name__


def _in_cluster_client(report: PreflightReport) -> client.ApiClient | None:
    """Inside a pod (the scheduled monitor) there is no kubeconfig: use the
    service account token Kubernetes mounts."""
    cfg = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=cfg)
    except ConfigException as exc:
        report.problems.append(f"in-cluster config is not usable: {_one_line(exc)}")
        return None
    report.context = report.context or "in-cluster"
    cfg.retries = False
    return client.ApiClient(cfg)


def _api_client(path: str, context: str | None, report: PreflightReport) -> client.ApiClient | None:
    if not os.path.isfile(path) and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster_client(report)
    if not os.path.isfile(path):
        report.problems.append(f"kubeconfig '{path}' not found")
        return None
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        report.problems.append(f"kubeconfig '{path}' is not usable: {_one_line(exc)}")
        return None
    names = [c["name"] for c in contexts or []]
    if context is None:
        if not active:
            report.problems.append(f"kubeconfig '{path}' has no current-context; pass a context")
            return None
        context = active["name"]
    report.context = context
    if context not in names:
        available = ", ".join(names) or "none"
        report.problems.append(f"kube context '{context}' not found in kubeconfig '{path}' (available: {available})")
        return None
    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    except (ConfigException, OSError, ValueError) as exc:
        report.problems.append(f"kube context '{context}' in '{path}' is not usable: {_one_line(exc)}")
        return None
    cfg.retries = False  # one attempt: a preflight must fail fast, not retry 3 times
    return client.ApiClient(cfg)


def _get(api: client.ApiClient, path: str, params: dict[str, str], timeout: float) -> None:
    """GET one object, metadata only; raises ApiException on HTTP errors."""
    resp = api.call_api(
        path,
        "GET",
        path_params=params,
        header_params={"Accept": _METADATA_ONLY},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=timeout,
    )
    resp[0].release_conn()


def preflight(
    context: str | None,
    namespace: str,
    service_account: str,
    secrets: list[str],
    kubeconfig: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> PreflightReport:
    """Check that ``context`` (or the current context) can run Runway in ``namespace``.

    Never raises for a cluster problem: every one becomes a line in
    ``report.problems``. Call ``report.raise_if_failed()`` to stop on them.
    """
    report = PreflightReport(context=context, namespace=namespace)
    path = _kubeconfig_path(kubeconfig)
    api = _api_client(path, context, report)
    if api is None:
        return report
    ctx = report.context
    host = api.configuration.host
    try:
        try:
            # Raw response: only reachability matters, not the body's shape.
            client.VersionApi(api).get_code(_request_timeout=timeout, _preload_content=False).release_conn()
        except ApiException as exc:
            if exc.status in (401, 403):
                report.problems.append(f"Kubernetes API at {host} rejected the credentials of context '{ctx}' (HTTP {exc.status})")
            else:
                report.problems.append(f"Kubernetes API at {host} (context '{ctx}') answered HTTP {exc.status} to GET /version")
            return report
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            report.problems.append(f"Kubernetes API of context '{ctx}' is not reachable at {host}: {_reason(exc, timeout)}")
            return report
        report.checked.append("api")

        def check(what: str, path_: str, params: dict[str, str], where: str) -> bool:
            try:
                _get(api, path_, params, timeout)
            except ApiException as exc:
                if exc.status == 404:
                    report.problems.append(f"{what} not found in {where}")
                elif exc.status in (401, 403):
                    report.problems.append(f"not allowed to read {what} in {where} (HTTP {exc.status})")
                else:
                    report.problems.append(f"reading {what} in {where} failed with HTTP {exc.status}")
                return False
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                report.problems.append(f"reading {what} in {where} failed: {_reason(exc, timeout)}")
                return False
            report.checked.append(what)
            return True

        in_ctx = f"context '{ctx}'"
        in_ns = f"namespace '{namespace}' (context '{ctx}')"
        if not check(f"namespace '{namespace}'", "/api/v1/namespaces/{name}", {"name": namespace}, in_ctx):
            # Everything below lives in the namespace: one line says it all.
            return report
        check(
            f"service account '{service_account}'",
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
            {"namespace": namespace, "name": service_account},
            in_ns,
        )
        for secret in secrets:
            check(
                f"secret '{secret}'",
                "/api/v1/namespaces/{namespace}/secrets/{name}",
                {"namespace": namespace, "name": secret},
                in_ns,
            )
        return report
    finally:
        api.close()
