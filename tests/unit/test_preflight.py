"""runway.platform.k8s_preflight against real connections, without a real cluster.

No Kubernetes API server can run here, so a tiny HTTP server on 127.0.0.1
(random port, in a thread) answers the few REST paths the official client
calls, with Kubernetes' JSON shapes and 404 ``Status`` objects. The code under
test builds its client from a real kubeconfig file and talks to that server
over a real socket; the "unreachable" case uses a loopback port that nothing
listens on.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from runway.platform.k8s_preflight import PreflightError, PreflightReport, preflight

pytestmark = pytest.mark.unit

CTX = "kind-runway"
NS = "runway-prod"
SA = "runway-pipeline-runner"
TOKEN = "preflight-test-token"


class FakeCluster:
    """State and request log of the fake API server."""

    def __init__(self) -> None:
        self.namespaces: set[str] = set()
        self.service_accounts: set[tuple[str, str]] = set()
        self.secrets: set[tuple[str, str]] = set()
        self.forbidden_secrets: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []


def _status_404(kind: str, name: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{kind} "{name}" not found',
        "reason": "NotFound",
        "details": {"name": name, "kind": kind},
        "code": 404,
    }


def _handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _meta(self, kind: str, name: str, namespace: str | None = None) -> dict:
            meta = {"name": name, "uid": "0b1c", "resourceVersion": "1"}
            if namespace:
                meta["namespace"] = namespace
            if "as=PartialObjectMetadata" in self.headers.get("Accept", ""):
                return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
            body = {"kind": kind, "apiVersion": "v1", "metadata": meta}
            if kind == "Secret":
                body["data"] = {"KEY": "c2VjcmV0"}
            return body

        def do_GET(self) -> None:
            cluster.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"kind": "Status", "apiVersion": "v1", "code": 401, "status": "Failure", "reason": "Unauthorized"})
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts == ["version"]:
                return self._send(
                    200,
                    {
                        "major": "1",
                        "minor": "30",
                        "gitVersion": "v1.30.0",
                        "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a",
                        "gitTreeState": "clean",
                        "buildDate": "2024-04-17T17:27:03Z",
                        "goVersion": "go1.22.2",
                        "compiler": "gc",
                        "platform": "linux/amd64",
                    },
                )
            if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
                ns = parts[3]
                if ns in cluster.namespaces:
                    return self._send(200, self._meta("Namespace", ns))
                return self._send(404, _status_404("namespaces", ns))
            if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6:
                ns, plural, name = parts[3], parts[4], parts[5]
                if plural == "secrets" and (ns, name) in cluster.forbidden_secrets:
                    return self._send(403, {"kind": "Status", "apiVersion": "v1", "code": 403, "status": "Failure", "reason": "Forbidden"})
                store = {"serviceaccounts": (cluster.service_accounts, "ServiceAccount"), "secrets": (cluster.secrets, "Secret")}.get(plural)
                if store and (ns, name) in store[0]:
                    return self._send(200, self._meta(store[1], name, ns))
                return self._send(404, _status_404(plural, name))
            return self._send(404, _status_404("unknown", self.path))

    return Handler


@pytest.fixture
def cluster() -> Iterator[tuple[FakeCluster, str]]:
    state = FakeCluster()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _kubeconfig(tmp_path: Path, server: str, contexts: tuple[str, ...] = (CTX,), current: str | None = CTX) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
    }
    if current:
        doc["current-context"] = current
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _closed_port() -> int:
    # Bind then close: the port is free and, for the test's short life, closed.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(state: FakeCluster, secrets: tuple[str, ...] = ("runway-zenml", "runway-feast")) -> None:
    state.namespaces.add(NS)
    state.service_accounts.add((NS, SA))
    state.secrets.update((NS, s) for s in secrets)


# ------------------------------------------------------------------ tests --


def test_missing_context_is_reported(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path, "http://127.0.0.1:1", contexts=("kind-other", "prod-eu"), current="kind-other")
    report = preflight("kind-runway", NS, SA, [], kubeconfig=kc)
    assert report.problems == [f"kube context 'kind-runway' not found in kubeconfig '{kc}' (available: kind-other, prod-eu)"]
    assert not report.ok


def test_missing_kubeconfig_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    report = preflight(CTX, NS, SA, [], kubeconfig=str(missing))
    assert report.problems == [f"kubeconfig '{missing}' not found"]


def test_broken_kubeconfig_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [unclosed\n")
    report = preflight(CTX, NS, SA, [], kubeconfig=str(bad))
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"kubeconfig '{bad}' is not usable: ")
    assert "\n" not in report.problems[0]


def test_current_context_is_used_when_none_given(cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    state, server = cluster
    _ready(state)
    report = preflight(None, NS, SA, [], kubeconfig=_kubeconfig(tmp_path, server))
    assert report.ok, report.problems
    assert report.context == CTX


def test_unreachable_api_is_one_clear_line(tmp_path: Path) -> None:
    port = _closed_port()
    kc = _kubeconfig(tmp_path, f"http://127.0.0.1:{port}")
    report = preflight(CTX, NS, SA, ["runway-zenml"], kubeconfig=kc, timeout=2)
    # Stops at the API: no cascade of "namespace not found" lines.
    assert report.problems == [f"Kubernetes API of context '{CTX}' is not reachable at http://127.0.0.1:{port}: connection refused"]


def test_rejected_credentials(cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    _, server = cluster
    kc = _kubeconfig(tmp_path, server)
    doc = yaml.safe_load(Path(kc).read_text())
    doc["users"][0]["user"]["token"] = "wrong"
    Path(kc).write_text(yaml.safe_dump(doc))
    report = preflight(CTX, NS, SA, [], kubeconfig=kc)
    assert report.problems == [f"Kubernetes API at {server} rejected the credentials of context '{CTX}' (HTTP 401)"]


def test_missing_namespace_stops_there(cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    state, server = cluster
    report = preflight(CTX, NS, SA, ["runway-zenml"], kubeconfig=_kubeconfig(tmp_path, server))
    assert report.problems == [f"namespace '{NS}' not found in context '{CTX}'"]
    paths = [p for p, _ in state.requests]
    assert paths == ["/version/", f"/api/v1/namespaces/{NS}"]


def test_missing_service_account_and_secrets(cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    state, server = cluster
    state.namespaces.add(NS)
    state.secrets.add((NS, "runway-zenml"))
    report = preflight(
        CTX,
        NS,
        SA,
        ["runway-zenml", "runway-feast", "runway-object-store"],
        kubeconfig=_kubeconfig(tmp_path, server),
    )
    where = f"namespace '{NS}' (context '{CTX}')"
    assert report.problems == [
        f"service account '{SA}' not found in {where}",
        f"secret 'runway-feast' not found in {where}",
        f"secret 'runway-object-store' not found in {where}",
    ]
    with pytest.raises(PreflightError) as err:
        report.raise_if_failed()
    assert err.value.problems == report.problems
    assert str(err.value) == "Kubernetes preflight failed (3 problems):\n" + "\n".join(f"  - {p}" for p in report.problems)
    # A clean message, not a client stack trace or an HTTP response dump.
    assert "Traceback" not in str(err.value) and "HTTP response" not in str(err.value)


def test_forbidden_secret(cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    state, server = cluster
    _ready(state)
    state.forbidden_secrets.add((NS, "runway-zenml"))
    report = preflight(CTX, NS, SA, ["runway-zenml"], kubeconfig=_kubeconfig(tmp_path, server))
    assert report.problems == [f"not allowed to read secret 'runway-zenml' in namespace '{NS}' (context '{CTX}') (HTTP 403)"]


def test_all_present_passes(cluster: tuple[FakeCluster, str], tmp_path: Path) -> None:
    state, server = cluster
    _ready(state)
    report = preflight(CTX, NS, SA, ["runway-zenml", "runway-feast"], kubeconfig=_kubeconfig(tmp_path, server))
    assert report.ok and report.problems == []
    report.raise_if_failed()  # does not raise
    assert report.checked == [
        "api",
        f"namespace '{NS}'",
        f"service account '{SA}'",
        "secret 'runway-zenml'",
        "secret 'runway-feast'",
    ]
    # Every call carried the kubeconfig's token, and secrets were read as
    # metadata only, so their values never left the (fake) cluster.
    assert all(h.get("authorization") == f"Bearer {TOKEN}" for _, h in state.requests)
    secret_reqs = [h for p, h in state.requests if "/secrets/" in p]
    assert len(secret_reqs) == 2
    assert all("as=PartialObjectMetadata" in h["accept"] for h in secret_reqs)


def test_report_str() -> None:
    ok = PreflightReport(context=CTX, namespace=NS, checked=["api"])
    assert str(ok) == f"preflight ok (context '{CTX}'): api"
    bad = PreflightReport(context=CTX, namespace=NS, problems=["x"])
    assert str(bad) == "Kubernetes preflight failed (1 problem):\n  - x"


def test_importable_without_zenml() -> None:
    # The CLI runs preflight before any ZenML import; keep it that way.
    code = "import sys, runway.platform.k8s_preflight; sys.exit(1 if 'zenml' in sys.modules else 0)"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=60
    )
    assert proc.returncode == 0, proc.stderr or "importing runway.platform.k8s_preflight pulled in zenml"


def test_in_cluster_without_a_token_is_a_clear_problem(tmp_path, monkeypatch):
    """In a pod there is no kubeconfig; the mounted service-account token is used.
    Outside one, the missing token is reported as one line, not a trace."""
    from runway.platform.k8s_preflight import preflight

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "1")
    report = preflight(None, "runway-dev", "runway-pipeline-runner", [], kubeconfig=str(tmp_path / "absent"))
    assert len(report.problems) == 1 and report.problems[0].startswith("in-cluster config is not usable")
