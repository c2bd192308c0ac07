"""Pure rule functions for Runway's Kubernetes manifests (no cluster, no I/O).

The rules encode the project's contract for anything it deploys into a
workload namespace:

* RBAC: no ``*`` in verbs, resources or apiGroups; no ClusterRoleBinding;
  secrets only by ``resourceNames`` and only with ``get``.
* Pod security (what ``pod-security.kubernetes.io/enforce: restricted``
  demands, plus our own extras): runAsNonRoot, seccompProfile RuntimeDefault,
  no privileged containers, allowPrivilegeEscalation false, capabilities
  drop ALL (and add none), readOnlyRootFilesystem true with an emptyDir on
  /tmp, no host namespaces, cpu/memory requests and limits on every container.
* Namespaces carry ``pod-security.kubernetes.io/enforce: restricted`` and
  have a default-deny NetworkPolicy (ingress and egress).

Every function takes parsed manifests (dicts, as ``yaml.safe_load_all``
returns them) and returns a list of :class:`Violation`; an empty list means
the rule holds. Messages are one line each and name the object, so a failing
check reads like ``Role/runner: rule 0 uses '*' in verbs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

WORKLOAD_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})
RESOURCE_KEYS = ("cpu", "memory")


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule on one object."""

    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}: {self.message}"


def _name(doc: Manifest) -> str:
    return str((doc.get("metadata") or {}).get("name", "<unnamed>"))


def load_manifests(paths: Iterable[Path]) -> list[Manifest]:
    """Parse every YAML document of the given files, skipping empty ones and
    kustomize's own ``kustomization.yaml`` (it is not a cluster object)."""
    docs: list[Manifest] = []
    for path in sorted(paths):
        if path.name in {"kustomization.yaml", "kustomization.yml"}:
            continue
        with path.open(encoding="utf-8") as fh:
            docs.extend(d for d in yaml.safe_load_all(fh) if d)
    return docs


# ------------------------------------------------------------------- RBAC --


def check_rbac(docs: Iterable[Manifest]) -> list[Violation]:
    out: list[Violation] = []
    for doc in docs:
        kind, name = doc.get("kind"), _name(doc)
        if kind == "ClusterRoleBinding":
            out.append(Violation(kind, name, "ClusterRoleBinding is not allowed; bind a namespaced Role"))
        if kind not in ("Role", "ClusterRole"):
            continue
        for i, rule in enumerate(doc.get("rules") or []):
            for field in ("verbs", "resources", "apiGroups"):
                if "*" in (rule.get(field) or []):
                    out.append(Violation(kind, name, f"rule {i} uses '*' in {field}"))
            if "secrets" in (rule.get("resources") or []):
                if not rule.get("resourceNames"):
                    out.append(Violation(kind, name, f"rule {i} grants 'secrets' without resourceNames"))
                extra = sorted(set(rule.get("verbs") or []) - {"get"})
                if extra:
                    out.append(
                        Violation(
                            kind,
                            name,
                            f"rule {i} grants {', '.join(extra)} on 'secrets' (only 'get' is allowed)",
                        )
                    )
    return out


# ----------------------------------------------------------- pod security --


def pod_spec(doc: Manifest) -> Manifest | None:
    """The pod spec inside any workload kind, or None for other kinds."""
    kind = doc.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def _containers(spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    for field in ("initContainers", "containers"):
        for c in spec.get(field) or []:
            yield f"container '{c.get('name', '?')}'", c


def check_pod_security(docs: Iterable[Manifest]) -> list[Violation]:
    out: list[Violation] = []
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        kind, name = str(doc["kind"]), _name(doc)

        def bad(msg: str, kind: str = kind, name: str = name) -> None:
            out.append(Violation(kind, name, msg))

        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(host):
                bad(f"{host} must not be true")
        pod_sc = spec.get("securityContext") or {}
        if pod_sc.get("runAsNonRoot") is not True:
            bad("pod securityContext.runAsNonRoot must be true")
        pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")

        tmp_volumes = {v.get("name") for v in spec.get("volumes") or [] if "emptyDir" in v}
        for label, c in _containers(spec):
            sc = c.get("securityContext") or {}
            if sc.get("privileged"):
                bad(f"{label} is privileged")
            if sc.get("allowPrivilegeEscalation") is not False:
                bad(f"{label} must set allowPrivilegeEscalation: false")
            if sc.get("runAsUser") == 0:
                bad(f"{label} runs as uid 0")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                bad(f"{label} must drop ALL capabilities")
            if caps.get("add"):
                bad(f"{label} adds capabilities {sorted(caps['add'])}")
            if (sc.get("seccompProfile") or {}).get("type", pod_seccomp) != "RuntimeDefault":
                bad(f"{label} needs seccompProfile RuntimeDefault")
            if sc.get("readOnlyRootFilesystem") is not True:
                bad(f"{label} must set readOnlyRootFilesystem: true")
            else:
                mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
                if mounts.get("/tmp") not in tmp_volumes:  # noqa: S108 - a mount path in a pod spec
                    bad(f"{label} has a read-only root filesystem but no emptyDir mounted at /tmp")
            res = c.get("resources") or {}
            for section in ("requests", "limits"):
                missing = [k for k in RESOURCE_KEYS if k not in (res.get(section) or {})]
                if missing:
                    bad(f"{label} has no {section} for {', '.join(missing)}")
    return out


# ---------------------------------------------------- namespaces, netpols --


def _is_default_deny(doc: Manifest) -> bool:
    spec = doc.get("spec") or {}
    return (
        doc.get("kind") == "NetworkPolicy"
        and spec.get("podSelector") in ({}, None)
        and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def check_namespaces(docs: Iterable[Manifest]) -> list[Violation]:
    docs = list(docs)
    out: list[Violation] = []
    denied = {(d.get("metadata") or {}).get("namespace") for d in docs if _is_default_deny(d)}
    for doc in docs:
        if doc.get("kind") != "Namespace":
            continue
        name = _name(doc)
        labels = (doc.get("metadata") or {}).get("labels") or {}
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            out.append(Violation("Namespace", name, "label pod-security.kubernetes.io/enforce must be 'restricted'"))
        if name not in denied:
            out.append(Violation("Namespace", name, "has no default-deny NetworkPolicy (ingress and egress)"))
    return out


def check_all(docs: Iterable[Manifest]) -> list[Violation]:
    """Every rule above, sorted for stable output."""
    docs = list(docs)
    return sorted(check_rbac(docs) + check_pod_security(docs) + check_namespaces(docs))
