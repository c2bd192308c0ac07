"""Contract tests for infra/k8s (no cluster needed).

Real here: every manifest is validated against the Kubernetes 1.30 OpenAPI
schema in strict mode (kubernetes-validate rejects unknown fields), and the
pure rules of runway.platform.k8s_policy run on the same parsed objects. What only a
real cluster shows (admission by the restricted Pod Security Standard, a CNI
that enforces NetworkPolicy, RBAC decisions) is not tested here.
"""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from runway.platform.k8s_policy import (
    Violation,
    check_all,
    check_namespaces,
    check_pod_security,
    check_rbac,
    load_manifests,
    pod_spec,
)

REPO = Path(__file__).resolve().parents[2]
K8S_DIR = REPO / "infra" / "k8s"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENVS = ("dev", "staging", "prod")

pytestmark = pytest.mark.contract

# Oldest Kubernetes minor we support; pinned so a kubernetes-validate upgrade
# does not silently move the target.
K8S_VERSION = "1.30.0"

MANIFEST_FILES = sorted(p for p in K8S_DIR.rglob("*.yaml") if p.name != "kustomization.yaml")


def _docs(env: str) -> list[dict]:
    return load_manifests((K8S_DIR / env).glob("*.yaml"))


def _find(docs: list[dict], kind: str, name: str) -> dict:
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"{kind}/{name} not found")


def test_every_env_has_manifests() -> None:
    assert sorted(p.name for p in K8S_DIR.iterdir() if p.is_dir()) == sorted(ENVS)
    assert len(MANIFEST_FILES) >= 3 * 5


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_manifest_passes_strict_schema(path: Path) -> None:
    docs = load_manifests([path])
    assert docs, f"{path} holds no object"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{path}: {doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")


@pytest.mark.parametrize("env", ENVS)
def test_kustomization_lists_every_manifest(env: str) -> None:
    # `kubectl apply -k` (and Terraform's kustomization_overlay) only apply
    # what is listed: a file left out would silently never reach the cluster.
    kust = yaml.safe_load((K8S_DIR / env / "kustomization.yaml").read_text())
    on_disk = {p.name for p in (K8S_DIR / env).glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == on_disk
    assert kust["images"] == [{"name": "ghcr.io/example/runway", "newTag": "0.1.0"}]


@pytest.mark.parametrize("env", ENVS)
def test_policy_holds_for_env(env: str) -> None:
    violations = check_all(_docs(env))
    assert violations == [], "\n".join(map(str, violations))


@pytest.mark.parametrize("env", ENVS)
def test_everything_lives_in_the_env_namespace(env: str) -> None:
    for doc in _docs(env):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == f"runway-{env}"
        else:
            assert doc["metadata"].get("namespace") == f"runway-{env}", doc["metadata"]["name"]


def test_envs_define_the_same_objects() -> None:
    # The three folders are kept in step by hand; drift between them is a bug.
    shapes = {env: sorted((d["kind"], d["metadata"]["name"].replace(f"runway-{env}", "runway-ENV")) for d in _docs(env)) for env in ENVS}
    assert shapes["dev"] == shapes["staging"] == shapes["prod"]


@pytest.mark.parametrize("env", ENVS)
def test_cronjob_runs_monitor_for_its_env(env: str) -> None:
    cron = _find(_docs(env), "CronJob", "runway-monitor")
    spec = pod_spec(cron)
    (container,) = spec["containers"]
    assert container["command"] == ["python", "run.py", "monitor", "--env", env]
    assert container["image"] == "ghcr.io/example/runway:0.1.0"
    assert spec["serviceAccountName"] == "runway-pipeline-runner"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # Every secret the pod reads is one the Role lets the runner get.
    role = _find(_docs(env), "Role", "runway-pipeline-runner")
    allowed = {n for r in role["rules"] if "secrets" in r["resources"] for n in r["resourceNames"]}
    used = {s["secretRef"]["name"] for s in container["envFrom"]}
    assert used <= allowed


@pytest.mark.parametrize("env", ENVS)
def test_network_policies_allow_exactly_the_named_services(env: str) -> None:
    pols = {d["metadata"]["name"]: d for d in _docs(env) if d["kind"] == "NetworkPolicy"}
    assert set(pols) == {
        "default-deny-all",
        "allow-dns-egress",
        "allow-zenml-server-egress",
        "allow-kfp-api-egress",
        "allow-object-store-egress",
        "allow-feast-redis-egress",
        "allow-feast-postgres-egress",
        "allow-pushgateway-egress",
        "allow-kube-api-egress",
        "allow-serving-ingress",
    }
    dns_ports = {(p["protocol"], p["port"]) for p in pols["allow-dns-egress"]["spec"]["egress"][0]["ports"]}
    assert dns_ports == {("UDP", 53), ("TCP", 53)}
    for name, pol in pols.items():
        if name != "allow-serving-ingress":  # the one ingress, checked below
            assert "ingress" not in pol["spec"], f"{name} opens ingress"
        for rule in pol["spec"].get("egress", []):
            assert rule.get("ports"), f"{name} allows every port"
            for peer in rule.get("to", []):
                # A namespaceSelector alone would allow every pod of that namespace.
                assert "podSelector" in peer and "namespaceSelector" in peer, name
    # The scoring service's HTTP port, from labelled client pods of the
    # namespace and from Prometheus: named pods only, no ipBlock, no egress.
    serving = pols["allow-serving-ingress"]["spec"]
    assert serving["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "runway-serving"}}
    assert serving["policyTypes"] == ["Ingress"] and "egress" not in serving
    (rule,) = serving["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    for peer in rule["from"]:
        assert "ipBlock" not in peer and peer.get("podSelector", {}).get("matchLabels"), peer


@pytest.mark.parametrize("env", ENVS)
def test_serving_runs_serve_for_its_env(env: str) -> None:
    docs = _docs(env)
    deploy = _find(docs, "Deployment", "runway-serving")
    spec = pod_spec(deploy)
    (container,) = spec["containers"]
    assert container["command"][:5] == ["python", "run.py", "serve", "--env", env]
    assert container["image"] == "ghcr.io/example/runway:0.1.0"
    assert spec["serviceAccountName"] == "runway-serving" and spec["automountServiceAccountToken"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"].startswith("/readyz")
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    service = _find(docs, "Service", "runway-serving")
    assert service["spec"]["selector"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    hpa = _find(docs, "HorizontalPodAutoscaler", "runway-serving")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "runway-serving"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    pdb = _find(docs, "PodDisruptionBudget", "runway-serving")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    pol = _find(docs, "NetworkPolicy", "allow-serving-ingress")
    assert pol["spec"]["ingress"][0]["ports"][0]["port"] == port
    # Every secret it reads exists for the runner too (same names, same Terraform).
    role = _find(docs, "Role", "runway-pipeline-runner")
    allowed = {n for r in role["rules"] if "secrets" in r["resources"] for n in r["resourceNames"]}
    assert {s["secretRef"]["name"] for s in container["envFrom"]} <= allowed


@pytest.mark.parametrize("env", ("staging", "prod", "dev"))
def test_env_config_points_at_the_same_namespace(env: str) -> None:
    # configs/environments/<env>.yaml (the lead's) must name the namespace
    # these manifests create, or `run.py --stack kubernetes` runs elsewhere.
    cfg_path = REPO / "configs" / "environments" / f"{env}.yaml"
    if not cfg_path.exists():
        if env == "dev":
            pytest.skip("configs/environments/dev.yaml does not exist yet (the CronJob runs --env dev)")
        pytest.fail(f"{cfg_path} is missing")
    cfg = yaml.safe_load(cfg_path.read_text())
    assert cfg["stack"]["kubernetes_namespace"] == f"runway-{env}"


# ----------------------------------------------------- known-bad fixtures --

BAD_K8S = FIXTURES / "bad_k8s"

EXPECTED_VIOLATIONS = {
    "wildcard-verb-role.yaml": ["Role/wildcard-verbs: rule 0 uses '*' in verbs"],
    "cluster-role-binding.yaml": ["ClusterRoleBinding/runner-admin: ClusterRoleBinding is not allowed; bind a namespaced Role"],
    "secrets-without-resourcenames.yaml": [
        "Role/all-secrets: rule 0 grants 'secrets' without resourceNames",
        "Role/all-secrets: rule 0 grants list, watch on 'secrets' (only 'get' is allowed)",
    ],
    "privileged-pod.yaml": [
        "Pod/privileged: container 'app' is privileged",
        "Pod/privileged: container 'app' must set allowPrivilegeEscalation: false",
    ],
    "missing-limits.yaml": ["Deployment/no-limits: container 'app' has no limits for cpu, memory"],
    "open-namespace.yaml": [
        "Namespace/runway-fixtures: has no default-deny NetworkPolicy (ingress and egress)",
        "Namespace/runway-fixtures: label pod-security.kubernetes.io/enforce must be 'restricted'",
    ],
}


def test_every_bad_fixture_has_an_expectation() -> None:
    assert {p.name for p in BAD_K8S.glob("*.yaml")} == set(EXPECTED_VIOLATIONS)


@pytest.mark.parametrize("name", sorted(EXPECTED_VIOLATIONS))
def test_bad_fixture_yields_expected_violations(name: str) -> None:
    docs = load_manifests([BAD_K8S / name])
    # Schema-valid on purpose: the rule, not the schema, must catch it.
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert [str(v) for v in check_all(docs)] == EXPECTED_VIOLATIONS[name]


def test_strict_schema_rejects_unknown_field() -> None:
    (doc,) = load_manifests([FIXTURES / "invalid_schema" / "unknown-field.yaml"])
    kubernetes_validate.validate(doc, K8S_VERSION, strict=False)  # lenient mode lets it through
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolcy"):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


# ------------------------------ mutations of the real manifests must fail --


def _prod_cron() -> dict:
    return copy.deepcopy(_find(_docs("prod"), "CronJob", "runway-monitor"))


def test_dropping_tmp_emptydir_is_caught() -> None:
    cron = _prod_cron()
    pod_spec(cron)["volumes"] = []
    assert check_pod_security([cron]) == [
        Violation(
            "CronJob",
            "runway-monitor",
            "container 'monitor' has a read-only root filesystem but no emptyDir mounted at /tmp",
        )
    ]


def test_root_and_missing_seccomp_are_caught() -> None:
    cron = _prod_cron()
    spec = pod_spec(cron)
    spec["securityContext"] = {"runAsNonRoot": False}
    container = spec["containers"][0]
    del container["securityContext"]["seccompProfile"]
    container["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    assert [v.message for v in check_pod_security([cron])] == [
        "pod securityContext.runAsNonRoot must be true",
        "container 'monitor' must drop ALL capabilities",
        "container 'monitor' adds capabilities ['NET_ADMIN']",
        "container 'monitor' needs seccompProfile RuntimeDefault",
    ]


def test_wildcard_api_group_and_resource_are_caught() -> None:
    role = copy.deepcopy(_find(_docs("prod"), "Role", "runway-pipeline-runner"))
    role["rules"][0]["apiGroups"] = ["*"]
    role["rules"][1]["resources"] = ["*"]
    assert [str(v) for v in check_rbac([role])] == [
        "Role/runway-pipeline-runner: rule 0 uses '*' in apiGroups",
        "Role/runway-pipeline-runner: rule 1 uses '*' in resources",
    ]


def test_removing_default_deny_is_caught() -> None:
    docs = [d for d in _docs("prod") if d["metadata"]["name"] != "default-deny-all"]
    assert [str(v) for v in check_namespaces(docs)] == ["Namespace/runway-prod: has no default-deny NetworkPolicy (ingress and egress)"]
