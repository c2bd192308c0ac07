"""The fleet's Kubeflow spec: one task per chunk, well under etcd's limit.

1,000 per-tenant steps compile to ~2.2 MB (etcd refuses objects over
1.5 MiB) and ParallelFor fails past ~475 iterations; the fleet compiles to
prepare -> N independent chunk tasks (<= 100 tenants each) -> summary.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import free_port

pytestmark = pytest.mark.contract

ETCD_LIMIT = int(1.5 * 1024 * 1024)


@pytest.fixture(scope="module")
def fleet_specs(tmp_path_factory):
    from pipelines.compile import compile_all
    from runway.config import load_settings

    tmp = tmp_path_factory.mktemp("kfp-fleet")
    settings = load_settings(
        "retail_fleet",
        "dev",
        {
            "environment": {
                "workspace": str(tmp / "ws"),
                "zenml": {"config_dir": None, "server_url": None},
                "stack": {"kubeflow_host": "https://kfp.example.com"},
            }
        },
    )
    paths = compile_all(settings, "kubeflow", tmp / "out", pipelines=["fleet_training", "fleet_inference", "fleet_monitoring"], port=free_port())
    return settings, paths


def test_fleet_spec_fans_out_chunks_and_stays_small(fleet_specs) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    _, paths = fleet_specs
    path = paths["fleet_training"]
    size = path.stat().st_size
    assert size < ETCD_LIMIT / 4, f"{size} bytes"
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(next(d for d in yaml.safe_load_all(path.read_text()) if d), spec)
    tasks = {t.task_info.name: set(t.dependent_tasks) for t in spec.root.dag.tasks.values()}
    chunks = sorted(n for n in tasks if n.startswith("train_chunk_"))
    assert len(chunks) == 10  # 1,000 tenants / 100 per chunk
    names = {k: t.task_info.name for k, t in spec.root.dag.tasks.items()}
    for c in chunks:
        deps = {names.get(d, d) for d in tasks[c]}
        assert deps == {"prepare_fleet"}, (c, deps)  # chunks depend on the plan only: they run in parallel
    assert "fleet_training_summary" in tasks
    for name in ("fleet_inference", "fleet_monitoring"):
        assert paths[name].stat().st_size < ETCD_LIMIT / 4
