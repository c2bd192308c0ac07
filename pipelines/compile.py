"""Compile every Runway pipeline for a remote orchestrator, with no cluster and
no Docker: what CI checks and what a reviewer can read.

``compile_all(settings, "kubeflow", out_dir)`` writes ``<pipeline>.yaml``:
the KFP pipeline spec (IR YAML) that ZenML's Kubeflow orchestrator compiles
and would upload. ``compile_all(settings, "kubernetes", out_dir)`` writes
``<pipeline>.k8s.yaml``: the Kubernetes Jobs ZenML's Kubernetes orchestrator
would create (the orchestrator Job first, then one Job per step).

How (each pipeline goes through ZenML's own submission path):

1. A local ZenML server runs on a throwaway SQLite database
   (``runway.platform.stacks.local_server``), so compiling never writes runs, builds or
   model versions into the workspace's registry. The stack
   ``runway-<env>-<kind>`` is registered there with ``ensure_stack``.
2. ZenML's stack validation wants the configured kube context in a
   kubeconfig: a placeholder kubeconfig whose contexts point at 127.0.0.1:9
   is used while compiling (context ``runway-compile`` if none is configured).
3. The pipeline is called with real parameters (fingerprints are
   ``compile-time``) and ``runway.platform.stacks.run_options``: ZenML validates the
   stack, stores the snapshot and the "build" (the parent image, skip_build)
   on the server and calls the orchestrator's ``submit_pipeline``. Intercepted:

   * ``Stack.requires_remote_server`` is False: ZenML 0.98 refuses remote
     orchestrators when the server is "local" (its id equals the client's
     user id, which is the case for any ``zenml login --local`` server). The
     rule is about pods reaching the server; nothing is submitted here.
   * Kubeflow: ``KubeflowOrchestrator._upload_and_run_pipeline`` copies the
     spec ZenML just compiled with ``kfp.compiler.Compiler`` instead of
     uploading it.
   * Kubernetes: ``kube_utils.create_job`` records the orchestrator Job
     instead of sending it, and ``get_kube_client`` returns an unconnected
     client. The step Jobs are created in the cluster by the orchestrator pod,
     so they are rebuilt here with ``manifest_utils.build_pod_manifest`` and
     ``build_job_manifest`` from the same inputs as zenml 0.98's
     ``kubernetes_orchestrator_entrypoint.start_step_job`` (a copy of that
     logic: re-check it when upgrading ZenML).
   * The client's own run logs are not uploaded to the (unreachable) S3
     artifact store (``ZENML_DISABLE_PIPELINE_LOGS_STORAGE``).

The specs reference a snapshot id and server URL of the throwaway server:
they are for checking and reviewing, not for uploading as they are.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from pipelines.dispatch import PIPELINES, pipeline_key, pipeline_objects
from runway.config import Settings
from runway.platform.stacks import (
    Kind,
    _boot,
    _check_kind,
    _env,
    active_stack,
    ensure_stack,
    local_server,
    pipeline_options,
    placeholder_kubeconfig,
    run_options,
    with_stack,
)

COMPILE_FINGERPRINT = "compile-time"
COMPILE_CONTEXT = "runway-compile"


def compile_targets(settings: Settings) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each pipeline, configured like its ``run_*`` helper does, and the
    parameters it is compiled with: ``{name: (pipeline, kwargs)}``."""
    from pipelines.batch_inference import batch_inference_pipeline
    from pipelines.monitoring import monitoring_pipeline
    from pipelines.training import build
    from runway.data.labels import labels_due as due
    from runway.plugins import load_plugin

    # A batch date to compile with: the simulator's first live batch, else today.
    plugin = load_plugin(settings)
    week = plugin.hook("live_batch_dates")(settings, 1)[0] if plugin.has("live_batch_dates") else datetime.now(UTC).date()
    label = week.isoformat()
    as_of = datetime.combine(week, time(), tzinfo=UTC)
    labels_due = datetime.combine(due(week, settings.schedule), time(), tzinfo=UTC)
    fp = COMPILE_FINGERPRINT
    from pipelines.fleet import COMPILE_TENANTS, chunk_count, fleet_inference_pipeline, fleet_monitoring_pipeline, fleet_training_pipeline

    # The fleet compiles for the use case's tenants when it lists them, else
    # for COMPILE_TENANTS placeholder ids: the spec holds one task per chunk.
    fleet_ids = list(settings.tenants.ids) if settings.tenants and settings.tenants.ids else [f"t{k:04d}" for k in range(COMPILE_TENANTS)]
    fleet = {"settings": settings, "tenant_ids": fleet_ids, "fingerprint": fp}
    return {
        "fleet_training": (
            fleet_training_pipeline.with_options(run_name=f"fleet-training-{settings.use_case}-{{time}}"),
            {**fleet, "chunk_count": chunk_count(settings, len(fleet_ids)), "run_key": "compile", "as_of": None, "pooled": True},
        ),
        "fleet_inference": (fleet_inference_pipeline.with_options(run_name=f"fleet-inference-{settings.use_case}-{label}-{{time}}"), {**fleet, "batch": label}),
        "fleet_monitoring": (
            fleet_monitoring_pipeline.with_options(run_name=f"fleet-monitoring-{settings.use_case}-{label}-{{time}}"),
            {**fleet, "batch": label, "as_of": labels_due.isoformat()},
        ),
        "training": (build(settings), {"settings": settings, "fingerprint": fp, "batches": None, "as_of": None}),
        "batch_inference": (
            batch_inference_pipeline.with_options(run_name=f"inference-{settings.use_case}-{label}-{{time}}"),
            {"settings": settings, "history_fingerprint": fp, "scoring_fingerprint": fp, "batch": label, "as_of": as_of.isoformat()},
        ),
        "monitoring": (
            monitoring_pipeline.with_options(run_name=f"monitoring-{settings.use_case}-{label}-{{time}}"),
            {"settings": settings, "batches": [label], "window_id": label, "as_of": labels_due.isoformat(), "history_fingerprint": fp, "on_demand": False},
        ),
    }


def compile_settings(settings: Settings) -> Settings:
    """Settings used for compiling: a placeholder kube context if none is set."""
    if settings.environment.stack.kubernetes_context:
        return settings  # "" (an unset ${VAR:-}) counts as none
    return with_stack(settings, kubernetes_context=COMPILE_CONTEXT)


@contextlib.contextmanager
def compile_session(settings: Settings, kind: Kind, *, port: int | None = None) -> Iterator[str]:
    """A throwaway local server with the ``kind`` stack active; yields the stack name."""
    import kubernetes.config.kube_config as kube_config
    from zenml.stack.stack import Stack

    with contextlib.ExitStack() as es:
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="runway-compile-")))
        sc = settings.environment.stack
        kubeconfig = placeholder_kubeconfig([sc.kubernetes_context or COMPILE_CONTEXT], sc.kubernetes_namespace, tmp)
        es.enter_context(mock.patch.object(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig)))
        es.enter_context(_env({"ZENML_DISABLE_PIPELINE_LOGS_STORAGE": "true"}))
        es.enter_context(mock.patch.object(Stack, "requires_remote_server", property(lambda self: False)))
        es.enter_context(local_server(settings, f"sqlite:///{tmp / 'zenml.db'}", port=port))
        name = ensure_stack(settings, kind)
        es.enter_context(active_stack(name))
        yield name


def compile_all(
    settings: Settings, kind: Kind, out_dir: str | os.PathLike[str], *, pipelines: Iterable[str] | None = None, port: int | None = None
) -> dict[str, Path]:
    """Compile the training, batch_inference and monitoring pipelines for the
    ``kind`` orchestrator into ``out_dir``; returns ``{pipeline: path}``.

    Needs no cluster, no Docker and no network: a local ZenML server is
    started on a temporary SQLite database and stopped afterwards. ``port``
    is that server's port (default 8237); ``pipelines`` a subset of names.
    """
    _check_kind(kind)
    names = [pipeline_key(p) for p in pipelines] if pipelines else list(PIPELINES)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = compile_settings(settings)
    _boot(settings)
    capture = _capture_kubeflow if kind == "kubeflow" else _capture_kubernetes
    written: dict[str, Path] = {}
    objects = pipeline_objects()
    options = run_options(settings, kind)
    # Nothing runs, so nothing to wait for (a synchronous run would poll the cluster).
    options["settings"]["orchestrator"] = {"synchronous": False}
    with compile_session(settings, kind, port=port), pipeline_options(list(objects.values()), **options):
        targets = compile_targets(settings)
        for name in names:
            pipe, kwargs = targets[name]
            written[name] = capture(name, functools.partial(pipe, **kwargs), out)
    return written


def _capture_kubeflow(name: str, call: Callable[[], Any], out: Path) -> Path:
    from zenml.integrations.kubeflow.orchestrators.kubeflow_orchestrator import KubeflowOrchestrator

    target = out / f"{name}.yaml"
    seen: list[str] = []

    def upload(self: Any, snapshot: Any, pipeline_file_path: str, run_name: str) -> None:
        shutil.copyfile(pipeline_file_path, target)
        seen.append(pipeline_file_path)
        shutil.rmtree(self.root_directory, ignore_errors=True)  # <zenml config>/kubeflow/<component id>
        return None

    # zenml 0.98's KubeflowOrchestratorSettings validator always sets
    # pod_settings.affinity, so every step logs "pod settings ... ignored:
    # ['affinity']"; that orchestrator's warnings are muted while compiling.
    noisy = logging.getLogger(KubeflowOrchestrator.__module__)
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        with mock.patch.object(KubeflowOrchestrator, "_upload_and_run_pipeline", upload):
            call()
    finally:
        noisy.setLevel(level)
    if not seen:
        raise RuntimeError(f"{name}: ZenML's Kubeflow orchestrator compiled no pipeline spec")
    return target


def _capture_kubernetes(name: str, call: Callable[[], Any], out: Path) -> Path:
    from kubernetes import client as k8s_client
    from zenml.integrations.kubernetes import kube_utils
    from zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator import KubernetesOrchestrator

    jobs: list[tuple[str, Any]] = []
    submissions: list[dict[str, Any]] = []
    original_submit = KubernetesOrchestrator.submit_pipeline

    def create_job(batch_api: Any, namespace: str, job_manifest: Any, **_: Any) -> None:
        jobs.append((namespace, job_manifest))

    def submit(self: Any, snapshot: Any, stack: Any, base_environment: dict, step_environments: dict, placeholder_run: Any = None) -> Any:
        submissions.append({"orchestrator": self, "snapshot": snapshot, "stack": stack, "run": placeholder_run})
        return original_submit(
            self, snapshot=snapshot, stack=stack, base_environment=base_environment, step_environments=step_environments, placeholder_run=placeholder_run
        )

    def unconnected_client(self: Any, incluster: Any = None) -> Any:
        cfg = k8s_client.Configuration()
        cfg.host = "https://127.0.0.1:9"
        return k8s_client.ApiClient(cfg)

    with (
        mock.patch.object(kube_utils, "create_job", create_job),
        mock.patch.object(KubernetesOrchestrator, "submit_pipeline", submit),
        mock.patch.object(KubernetesOrchestrator, "get_kube_client", unconnected_client),
    ):
        call()
    if len(jobs) != 1 or len(submissions) != 1:
        raise RuntimeError(f"{name}: expected ZenML's Kubernetes orchestrator to create one orchestrator Job, got {len(jobs)}")
    namespace, orchestrator_job = jobs[0]
    sub = submissions[0]
    docs = [_as_dict(orchestrator_job, namespace)]
    docs += [_as_dict(job, namespace) for job in step_job_manifests(sub["orchestrator"], sub["snapshot"], sub["stack"], sub["run"])]
    target = out / f"{name}.k8s.yaml"
    header = (
        f"# {name}: the Jobs ZenML's Kubernetes orchestrator would create, captured by pipelines/compile.py.\n"
        "# First the orchestrator Job (intercepted at kube_utils.create_job), then one Job per step\n"
        "# (built like zenml's kubernetes_orchestrator_entrypoint does inside the cluster).\n"
    )
    target.write_text(header + yaml.safe_dump_all(docs, sort_keys=False))
    return target


def _as_dict(manifest: Any, namespace: str) -> dict[str, Any]:
    from kubernetes import client as k8s_client

    body = k8s_client.ApiClient().sanitize_for_serialization(manifest)
    # BatchV1Api.create_namespaced_job sends the body to /apis/batch/v1/
    # namespaces/<namespace>/jobs: kind, apiVersion and namespace come from
    # the call; written into the object they mean the same.
    doc = {"apiVersion": body.pop("apiVersion", "batch/v1"), "kind": body.pop("kind", "Job"), **body}
    doc.setdefault("metadata", {})["namespace"] = namespace
    return doc


def step_job_manifests(orchestrator: Any, snapshot: Any, stack: Any, run: Any) -> list[Any]:
    """The step Jobs the orchestrator pod would create (mirrors zenml 0.98's
    ``kubernetes_orchestrator_entrypoint.main``/``start_step_job``)."""
    from zenml.client import Client
    from zenml.entrypoints.step_entrypoint_configuration import StepEntrypointConfiguration
    from zenml.integrations.kubernetes import kube_utils
    from zenml.integrations.kubernetes.constants import (
        ENV_ZENML_KUBERNETES_RUN_ID,
        KUBERNETES_SECRET_TOKEN_KEY_NAME,
        STEP_NAME_ANNOTATION_KEY,
        WORKSPACE_USER_ID_ANNOTATION_KEY,
    )
    from zenml.integrations.kubernetes.manifest_utils import build_job_manifest, build_pod_manifest, pod_template_manifest_from_pod
    from zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator import KubernetesOrchestrator
    from zenml.orchestrators.utils import get_config_environment_vars
    from zenml.utils import env_utils

    client = Client()
    workspace_user_id = str(client.active_user.id)
    # In the cluster the orchestrator pod's name (its hostname) is the run id.
    orchestrator_run_id = "orchestrator-pod"
    shared_env, secrets = get_config_environment_vars()
    shared_env[ENV_ZENML_KUBERNETES_RUN_ID] = orchestrator_run_id
    base_labels = {
        "project_id": kube_utils.sanitize_label_value(str(snapshot.project_id)),
        "run_id": kube_utils.sanitize_label_value(str(run.id) if run else "unknown"),
        "run_name": kube_utils.sanitize_label_value(str(run.name) if run else "unknown"),
        "pipeline": kube_utils.sanitize_label_value(snapshot.pipeline_configuration.name),
    }
    jobs = []
    for step_name, step in snapshot.step_configurations.items():
        settings = orchestrator.get_settings(step)
        labels = {**base_labels, "step_name": kube_utils.sanitize_label_value(step_name)}
        env = dict(shared_env)
        env.update(env_utils.get_runtime_environment(config=step.config, stack=stack))
        pod_settings = kube_utils.apply_default_resource_requests(memory="400Mi", pod_settings=settings.pod_settings)
        if orchestrator.config.pass_zenml_token_as_secret:
            env.pop("ZENML_STORE_API_TOKEN", None)
            secret_ref = {"name": orchestrator.get_token_secret_name(snapshot.id), "key": KUBERNETES_SECRET_TOKEN_KEY_NAME}
            pod_settings.env.append({"name": "ZENML_STORE_API_TOKEN", "valueFrom": {"secretKeyRef": secret_ref}})
        else:
            env.update(secrets)
        pod = build_pod_manifest(
            pod_name=None,
            image_name=KubernetesOrchestrator.get_image(snapshot=snapshot, step_name=step_name),
            command=StepEntrypointConfiguration.get_entrypoint_command(),
            args=StepEntrypointConfiguration.get_entrypoint_arguments(step_name=step_name, snapshot_id=snapshot.id),
            env=env,
            privileged=settings.privileged,
            pod_settings=pod_settings,
            service_account_name=settings.step_pod_service_account_name or settings.service_account_name,
            mount_local_stores=orchestrator.config.is_local,
            termination_grace_period_seconds=settings.pod_stop_grace_period,
            labels=labels,
            annotations={WORKSPACE_USER_ID_ANNOTATION_KEY: workspace_user_id},
        )
        retry = step.config.retry
        failure_policy = settings.pod_failure_policy or {
            "rules": [
                {"action": "Count", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [0]}},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        }
        suffix = "".join(random.choices("0123456789abcdef", k=8))  # noqa: S311 - a name, not a secret (as ZenML does)
        job_name = kube_utils.sanitize_label(f"{settings.job_name_prefix or ''}-{suffix}-{step_name}-{snapshot.pipeline_configuration.name}")
        jobs.append(
            build_job_manifest(
                job_name=job_name,
                pod_template=pod_template_manifest_from_pod(pod),
                backoff_limit=(retry.max_retries if retry else 0) + settings.backoff_limit_margin,
                ttl_seconds_after_finished=settings.ttl_seconds_after_finished,
                active_deadline_seconds=settings.active_deadline_seconds,
                pod_failure_policy=failure_policy,
                labels=labels,
                annotations={STEP_NAME_ANNOTATION_KEY: step_name, WORKSPACE_USER_ID_ANNOTATION_KEY: workspace_user_id},
            )
        )
    return jobs


def api_server_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What the API server keeps of a captured Job under its default
    ``fieldValidation=Warn``: zenml 0.98 merges a pod setting's
    ``container_security_context`` into ``V1SecurityContext.to_dict()``, which
    leaves snake_case keys with null values (``allow_privilege_escalation:
    null`` ...) next to the camelCase ones; the server drops such unknown
    fields with a warning. Only those null snake_case keys are removed."""
    import copy

    out = copy.deepcopy(doc)
    pod_spec = out.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        sc = container.get("securityContext")
        if isinstance(sc, dict):
            container["securityContext"] = {k: v for k, v in sc.items() if not ("_" in k and v is None)}
    return out
