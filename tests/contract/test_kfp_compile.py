"""Contract tests for the Kubeflow pipeline specs (no cluster, no Docker).

Real here: ZenML's own submission path for every pipeline (stack validation,
snapshot and parent-image "build" on a local ZenML server, the Kubeflow
orchestrator compiling with kfp.compiler), with only the upload to KFP
intercepted (see pipelines/compile.py). Each spec is parsed into KFP's
PipelineSpec protobuf and compared with the pipeline's own step graph. What
only a real cluster shows: that KFP accepts the upload, pulls the image and
runs the steps against a reachable ZenML server and S3 store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port

pytestmark = pytest.mark.contract

SECRET = "s3cr3t"
# Connection strings a real staging run reads from the environment; each
# carries the marker the specs must never contain.
SECRET_ENV = {
    "RUNWAY_LOCK_URL": f"mysql+pymysql://runway:{SECRET}@db.internal:3306/lock",
    "RUNWAY_DECISION_LOG_URL": f"postgresql+psycopg2://gov:{SECRET}@pg.internal:5432/decisions",
    "RUNWAY_FEAST_REGISTRY_URL": f"postgresql+psycopg2://feast:{SECRET}@pg.internal:5432/feast",
    "RUNWAY_REDIS_CONNECTION": f"redis.internal:6379,password={SECRET}",
    "RUNWAY_PREDICTIONS_URL": f"postgresql+psycopg2://writer:{SECRET}@pg.internal:5432/predictions",
    "AWS_ACCESS_KEY_ID": "runway",
    "AWS_SECRET_ACCESS_KEY": f"{SECRET}-aws",
}
IMAGE = "registry.example.com/runway:1.2.3"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Staging settings (secrets in the environment) and their compiled specs."""
    from runway.config import load_settings

    tmp = tmp_path_factory.mktemp("kfp")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SECRET_ENV.items():
            mp.setenv(k, v)
        settings = load_settings(
            env="staging",
            overrides={
                "environment": {
                    "workspace": str(tmp / "ws"),
                    "zenml": {"config_dir": None, "server_url": None},
                    "stack": {"parent_image": IMAGE, "kubeflow_host": "https://kfp.example.com/pipeline", "kubernetes_context": "staging-eu"},
                }
            },
        )
        from pipelines.compile import compile_all

        paths = compile_all(settings, "kubeflow", tmp / "out", port=free_port())
    return settings, paths


def _spec(path: Path):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path} is empty"
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(docs[0], spec)  # raises on any field KFP does not know
    return spec


def _local_graph(settings, name: str) -> dict[str, set[str]]:
    """Step -> upstream steps, from the ZenML pipeline definition itself."""
    from pipelines.compile import compile_targets

    pipe, kwargs = compile_targets(settings)[name]
    pipe.prepare(**kwargs)
    graph = {}
    for inv_id, inv in pipe.invocations.items():
        producers = {a.invocation_id for v in inv.input_artifacts.values() for a in (v if isinstance(v, list) else [v])}
        graph[inv_id] = set(inv.upstream_steps) | producers
    return graph


def _spec_graph(spec) -> dict[str, set[str]]:
    tasks = spec.root.dag.tasks
    display = {key: task.task_info.name for key, task in tasks.items()}
    return {display[key]: {display[d] for d in task.dependent_tasks} for key, task in tasks.items()}


def _executors(spec) -> dict[str, dict]:
    """Step name -> its executor's container (as a dict)."""
    from google.protobuf import json_format

    deployment = json_format.MessageToDict(spec.deployment_spec)
    out = {}
    for task in spec.root.dag.tasks.values():
        executor = spec.components[task.component_ref.name].executor_label
        out[task.task_info.name] = deployment["executors"][executor]["container"]
    return out


def test_every_pipeline_is_compiled(compiled) -> None:
    from pipelines.dispatch import PIPELINES

    _, paths = compiled
    assert sorted(paths) == sorted(PIPELINES)
    for name, path in paths.items():
        assert path.name == f"{name}.yaml" and path.stat().st_size > 0


@pytest.mark.parametrize("name", ["training", "batch_inference", "monitoring"])
def test_spec_parses_and_has_the_local_step_graph(compiled, name: str) -> None:
    settings, paths = compiled
    spec = _spec(paths[name])
    assert spec.schema_version and spec.sdk_version.startswith("kfp-2.16")
    assert spec.pipeline_info.name.startswith(f"{name.replace('_', '-')}-pipeline")
    local = _local_graph(settings, name)
    assert _spec_graph(spec) == local
    assert len(spec.deployment_spec.fields["executors"].struct_value.fields) == len(local)


@pytest.mark.parametrize("name", ["training", "batch_inference", "monitoring"])
def test_every_executor_runs_the_configured_image_and_environment(compiled, name: str) -> None:
    from runway.platform.stacks import stack_environment

    settings, paths = compiled
    wanted = stack_environment(settings)
    assert wanted["RUNWAY_ENV"] == "staging"
    for step, container in _executors(_spec(paths[name])).items():
        assert container["image"] == IMAGE, step
        assert container["command"] == ["python", "-m", "zenml.entrypoints.entrypoint"]
        args = container["args"]
        assert args[args.index("--step_name") + 1] == step
        env = {e["name"]: e["value"] for e in container["env"]}
        for key, value in wanted.items():
            assert env.get(key) == value, f"{step}: {key}"
        assert env["KFP_RUN_ID"] == "{{$.pipeline_job_name}}"
        assert env["ZENML_STORE_TYPE"] == "rest"  # steps talk to a ZenML server, never to its database


def test_no_secret_value_is_embedded(compiled, monkeypatch) -> None:
    settings, paths = compiled
    # Precondition: the secrets are reachable at run time, yet Settings (a
    # pipeline parameter, stored in ZenML and the spec) holds only references.
    from runway.config import reveal

    for k, v in SECRET_ENV.items():
        monkeypatch.setenv(k, v)
    assert SECRET in reveal(settings.environment.lock.url) and SECRET in reveal(settings.environment.feast.redis_connection)
    assert SECRET not in settings.model_dump_json()
    for path in paths.values():
        text = path.read_text()
        assert SECRET not in text, f"{path.name} embeds a secret value"
        assert "AWS_SECRET_ACCESS_KEY" not in text
