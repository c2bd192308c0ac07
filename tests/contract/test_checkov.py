"""checkov on infra/ (Terraform, Kubernetes manifests, Dockerfile).

checkov lives in its own virtualenv (its pins clash with the project's), so
it is found through $RUNWAY_CHECKOV (path to the binary), then `checkov` on
PATH; without either the tests skip. CI sets RUNWAY_CHECKOV, so there they
always run. Only an explicit list of check IDs runs (below, each with the
reason it applies); the open-source checkov has no severities, so none is used.
checkov reads files only: nothing here needs a cluster or a provider.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Kubernetes manifests (infra/k8s) ------------------------------------------
K8S_CHECKS = {
    "CKV_K8S_10": "CPU requests set",
    "CKV_K8S_11": "CPU limits set",
    "CKV_K8S_12": "memory requests set",
    "CKV_K8S_13": "memory limits set",
    "CKV_K8S_14": "image tag fixed (not latest or blank)",
    "CKV_K8S_15": "imagePullPolicy Always (tags can be re-pushed)",
    "CKV_K8S_16": "no privileged container",
    "CKV_K8S_17": "no host PID namespace",
    "CKV_K8S_18": "no host IPC namespace",
    "CKV_K8S_19": "no host network",
    "CKV_K8S_20": "allowPrivilegeEscalation false",
    "CKV_K8S_21": "nothing in the default namespace",
    "CKV_K8S_22": "read-only root filesystem",
    "CKV_K8S_23": "no root containers",
    "CKV_K8S_25": "no added capabilities",
    "CKV_K8S_28": "no NET_RAW",
    "CKV_K8S_29": "pod securityContext set",
    "CKV_K8S_30": "container securityContext set",
    "CKV_K8S_31": "seccomp RuntimeDefault",
    "CKV_K8S_37": "capabilities dropped (ALL)",
    "CKV_K8S_39": "no CAP_SYS_ADMIN",
    "CKV_K8S_40": "high UID (10001)",
    "CKV_K8S_41": "default service account gets no token",
    "CKV_K8S_42": "nothing bound to the default service account",
    "CKV_K8S_49": "no wildcards in Roles",
    "CKV_K8S_157": "Role cannot bind roles",
    "CKV_K8S_158": "Role cannot escalate",
    "CKV2_K8S_1": "RoleBinding cannot escalate through other bindings",
    "CKV2_K8S_2": "no create on pods/exec or nodes/proxy",
    "CKV2_K8S_3": "no impersonate",
    "CKV2_K8S_4": "no services/status writes",
    "CKV2_K8S_5": "a bound service account cannot read all secrets",
    "CKV2_K8S_6": "pods are selected by a NetworkPolicy (Pods/Deployments; not evaluated on CronJobs)",
}
# Not run, on purpose:
#   CKV_K8S_35 secrets as files: ZenML reads ZENML_STORE_API_KEY from the
#              environment only, so the monitor gets secrets through envFrom.
#   CKV_K8S_38 token only where needed: the monitor pod starts step pods on the
#              Kubernetes stack, so it mounts a token (the service account
#              itself has automount off).
#   CKV_K8S_43 image digest: the manifests carry a placeholder tag that
#              kustomize/Terraform replace at deploy time.
#   CKV_K8S_8/9 probes: batch jobs have nothing to probe.
#   CKV_K8S_68..151: kube-apiserver, kubelet and etcd flags (control-plane pods only).

# Terraform (infra/terraform) -------------------------------------------------
TF_CHECKS = {
    "CKV_K8S_21": "kubernetes_* objects not in the default namespace",
    "CKV_K8S_41": "kubernetes_service_account: default SA gets no token",
    "CKV_K8S_42": "kubernetes_role_binding: not bound to the default SA",
    "CKV_K8S_49": "kubernetes_role: no wildcards",
    "CKV_TF_1": "remote module sources pinned to a commit",
    "CKV_TF_2": "remote module sources pinned to a version tag",
}

# infra/Dockerfile -------------------------------------------------------------
DOCKER_CHECKS = {
    "CKV_DOCKER_1": "port 22 not exposed",
    "CKV_DOCKER_3": "a non-root user is created",
    "CKV_DOCKER_4": "COPY, not ADD",
    "CKV_DOCKER_5": "no lone `apt-get update`",
    "CKV_DOCKER_7": "base image tag is not latest",
    "CKV_DOCKER_8": "last USER is not root",
    "CKV_DOCKER_10": "WORKDIR is absolute",
    "CKV_DOCKER_11": "unique stage aliases",
    "CKV2_DOCKER_1": "no sudo",
    "CKV2_DOCKER_2": "curl keeps certificate validation",
    "CKV2_DOCKER_3": "wget keeps certificate validation",
    "CKV2_DOCKER_4": "pip has no --trusted-host",
    "CKV2_DOCKER_16": "no PIP_TRUSTED_HOST",
}
# Not run: CKV_DOCKER_2 (HEALTHCHECK): a batch image has no server to check,
# and Kubernetes ignores Docker's HEALTHCHECK anyway.

ALL_CHECKS = sorted(set(K8S_CHECKS) | set(TF_CHECKS) | set(DOCKER_CHECKS))
FRAMEWORKS = ["terraform", "kubernetes", "dockerfile"]

# What each known-bad fixture must fail with (and nothing else from the list).
EXPECTED_FAILURES = {
    "bad_k8s/wildcard-verb-role.yaml": {"CKV_K8S_49"},
    "bad_k8s/cluster-role-binding.yaml": {"CKV_K8S_42"},
    "bad_k8s/secrets-without-resourcenames.yaml": {"CKV2_K8S_5"},
    "bad_k8s/privileged-pod.yaml": {"CKV_K8S_16", "CKV_K8S_20", "CKV2_K8S_6"},
    "bad_k8s/missing-limits.yaml": {"CKV_K8S_11", "CKV_K8S_13", "CKV2_K8S_6"},
    # checkov has no Pod Security label check: runway.platform.k8s_policy covers it.
    "bad_k8s/open-namespace.yaml": set(),
    "bad_tf/main.tf": {"CKV_K8S_21", "CKV_K8S_42", "CKV_K8S_49", "CKV_TF_1", "CKV_TF_2"},
    "bad_docker/Dockerfile": {"CKV_DOCKER_1", "CKV_DOCKER_3", "CKV_DOCKER_4", "CKV_DOCKER_7", "CKV2_DOCKER_4"},
}


def _checkov_binary() -> str:
    configured = os.environ.get("RUNWAY_CHECKOV")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            pytest.fail(f"RUNWAY_CHECKOV={configured!r} is not an executable file")
        return configured
    found = shutil.which("checkov")
    if not found:
        pytest.skip("checkov not found: set RUNWAY_CHECKOV to its binary or put checkov on PATH")
    return found


def _json_documents(text: str) -> list[dict]:
    """checkov prints one JSON value per scanned directory: an object for one
    framework, a list for several. Flatten them into one list of reports."""
    decoder, pos, out = json.JSONDecoder(), 0, []
    text = text.strip()
    while pos < len(text):
        value, pos = decoder.raw_decode(text, pos)
        out.extend(value if isinstance(value, list) else [value])
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def run_checkov(*dirs: Path) -> dict[str, dict[str, set[str]]]:
    """Run checkov on dirs; return {repo-relative file: {"passed"/"failed": check IDs}}."""
    cmd = [_checkov_binary(), "--skip-download", "--output", "json", "--framework", *FRAMEWORKS, "--check", ",".join(ALL_CHECKS)]
    for d in dirs:
        cmd += ["--directory", str(d)]
    # --skip-download: no call home (this sandbox and CI have no such network).
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    # Exit code 1 only means "some check failed"; anything else is a crash.
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    reports = _json_documents(proc.stdout)
    by_file: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"passed": set(), "failed": set()})
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, f"checkov could not parse {report['check_type']} files"
        for status in ("passed", "failed"):
            for result in report["results"][f"{status}_checks"]:
                path = Path(result["file_abs_path"]).resolve()
                by_file[str(path.relative_to(REPO))][status].add(result["check_id"])
    return by_file


@pytest.fixture(scope="module")
def infra_results() -> dict[str, dict[str, set[str]]]:
    return run_checkov(INFRA)


@pytest.fixture(scope="module")
def fixture_results() -> dict[str, dict[str, set[str]]]:
    return run_checkov(*(FIXTURES / d for d in ("bad_k8s", "bad_tf", "bad_docker")))


def test_infra_passes_every_listed_check(infra_results: dict[str, dict[str, set[str]]]) -> None:
    failed = {f: sorted(r["failed"]) for f, r in infra_results.items() if r["failed"]}
    assert not failed, "checkov failures in infra/:\n" + "\n".join(f"  {f}: {', '.join(ids)}" for f, ids in sorted(failed.items()))


def test_checkov_really_scanned_infra(infra_results: dict[str, dict[str, set[str]]]) -> None:
    # A scan that finds nothing passes vacuously: make sure every kind of file was checked.
    scanned = set(infra_results)
    assert "infra/Dockerfile" in scanned
    for env in ("dev", "staging", "prod"):
        assert f"infra/k8s/{env}/monitor-cronjob.yaml" in scanned
        assert f"infra/k8s/{env}/rbac.yaml" in scanned
    assert any(f.startswith("infra/terraform/modules/") for f in scanned)
    passed = set().union(*(r["passed"] for r in infra_results.values()))
    assert {"CKV_K8S_16", "CKV_K8S_49", "CKV2_K8S_5", "CKV_DOCKER_8"} <= passed


def test_every_listed_check_applies_somewhere(infra_results: dict[str, dict[str, set[str]]], fixture_results: dict[str, dict[str, set[str]]]) -> None:
    # An ID that never passes or fails anywhere is a typo or does not apply.
    seen = set()
    for results in (infra_results, fixture_results):
        for r in results.values():
            seen |= r["passed"] | r["failed"]
    assert sorted(set(ALL_CHECKS) - seen) == []


@pytest.mark.parametrize("fixture", sorted(EXPECTED_FAILURES))
def test_bad_fixture_fails_expected_checks(fixture: str, fixture_results: dict[str, dict[str, set[str]]]) -> None:
    key = str((FIXTURES / fixture).relative_to(REPO))
    if EXPECTED_FAILURES[fixture]:
        assert key in fixture_results, f"checkov did not scan {key}"
    failed = fixture_results[key]["failed"] if key in fixture_results else set()
    assert failed == EXPECTED_FAILURES[fixture]
