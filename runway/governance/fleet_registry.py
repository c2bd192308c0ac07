"""The fleet on ZenML's Model Control Plane, in bulk.

One ZenML model per tenant (``<model>-<tenant>``, tagged ``tenant:<id>``
and ``fleet:<model>``): a ZenML model holds one version per stage, so
per-tenant stages need per-tenant models. Reads are bulk: every tenant's
production version, with its metrics and artifact location, comes from one
paginated ``list_model_versions`` call on the fleet tag. Writes are per
tenant (create version, save + link the model artifact, metadata, run link,
stage) and cost tens of milliseconds each; the decision log is appended
once per chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from zenml.client import Client
from zenml.enums import ArtifactType, ModelStages
from zenml.io import fileio

from runway.config import Settings
from runway.fleet import tenants as tenants_lib
from runway.governance.locks import promotion_lock
from runway.governance.registry import FLEET_FACTS_KEY, FLEET_URI_KEY, flat_metadata
from runway.modeling.artifact import ArtifactIntegrityError, ModelArtifact, deserialize_verified

MODEL_FILE = "model.pkl"
URI_KEY = FLEET_URI_KEY  # where registry.read_model_bytes finds a tenant's artifact
SHA_KEY = "artifact_sha256"
PAGE = 1000


@dataclass(frozen=True)
class FleetVersion:
    model: str
    version: str
    id: str
    stage: str | None
    tenant: str | None
    sha: str | None
    uri: str | None
    metadata: dict = field(default_factory=dict)


def _tenant_of(tags: list[str]) -> str | None:
    return next((t.split(":", 1)[1] for t in tags if t.startswith("tenant:")), None)


def _version(mv: Any) -> FleetVersion:
    meta = flat_metadata(mv.run_metadata)
    tags = [t.name for t in (mv.tags or [])]
    return FleetVersion(mv.model.name, str(mv.name), str(mv.id), mv.stage, _tenant_of(tags), meta.get(SHA_KEY), meta.get(URI_KEY), meta)


def list_fleet_versions(settings: Settings, stage: str | None = None) -> list[FleetVersion]:
    """Every fleet model version (of ``stage``), paginated, metadata included."""
    out: list[FleetVersion] = []
    page = 1
    while True:
        resp = Client().list_model_versions(tags=[tenants_lib.fleet_tag(settings)], stage=stage, page=page, size=PAGE, hydrate=True)
        out.extend(_version(mv) for mv in resp.items)
        if page >= resp.total_pages:
            return out
        page += 1


def production_index(settings: Settings) -> dict[str, FleetVersion]:
    """model name -> its production version, for the whole fleet in one call.
    A model with two production versions is refused (ZenML keeps one per stage)."""
    out: dict[str, FleetVersion] = {}
    for v in list_fleet_versions(settings, ModelStages.PRODUCTION.value):
        if v.model in out:
            raise RuntimeError(f"model '{v.model}' has two production versions ({out[v.model].version}, {v.version})")
        out[v.model] = v
    return out


def existing_models(settings: Settings) -> dict[str, UUID]:
    """Every fleet model's name -> id, paginated. Writes address a model by
    id: by name, ZenML looks it up again on every call (~8 ms each)."""
    known: dict[str, UUID] = {}
    page = 1
    while True:
        resp = Client().list_models(tags=[tenants_lib.fleet_tag(settings)], page=page, size=PAGE)
        known.update({m.name: m.id for m in resp.items})
        if page >= resp.total_pages:
            return known
        page += 1


def ensure_model(settings: Settings, name: str, tenant: str, known: dict[str, UUID]) -> UUID:
    """The id of the tenant's model, created (and added to ``known``) if new."""
    if name in known:
        return known[name]
    try:
        model = Client().create_model(
            name=name,
            description=f"{settings.description or settings.use_case} (tenant {tenant})",
            tags=[tenants_lib.fleet_tag(settings), tenants_lib.tenant_tag(tenant), settings.use_case, settings.model.task],
        )
    except Exception:  # noqa: BLE001 - created meanwhile by another writer: fine if it exists now
        model = Client().get_model(name)
    known[name] = model.id
    return model.id


def load_model(v: FleetVersion, promoted: dict[tuple[str, str], str]) -> ModelArtifact:
    """Load a version only if its bytes hash to what the decision log recorded when it was promoted."""
    expected = promoted.get((v.model, v.version))
    if expected is None:
        raise ArtifactIntegrityError(f"decision log has no sha256 for '{v.model}' version {v.version}: it was never promoted")
    if not v.uri:
        raise ArtifactIntegrityError(f"'{v.model}' version {v.version} has no {URI_KEY} in its metadata")
    with fileio.open(os.path.join(v.uri, MODEL_FILE), "rb") as fh:
        return deserialize_verified(fh.read(), expected)


def save_model_artifact(model_name: str, model: ModelArtifact, materializer: type) -> tuple[Any, str]:
    """Save ``model`` with Runway's materializer; returns the artifact version
    and its sha256 (the materializer's hash of the bytes it wrote).

    Not linked to the running step here: ``zenml.save_artifact`` links every
    call to the step run, and each link re-reads all of the step's earlier
    outputs (~50 ms per tenant at 100 per chunk, growing with the chunk), so a
    chunk links its artifacts at once with ``link_to_step``. No materializer
    metadata either: ZenML commits each key twice, and the version's metadata
    and the tenant's lineage hold those facts."""
    from zenml.artifacts.utils import _store_artifact_data_and_prepare_request  # zenml==0.98 (pinned)
    from zenml.enums import ArtifactSaveType

    client = Client()
    store = client.active_stack.artifact_store
    name = f"{model_name}-model"
    request = _store_artifact_data_and_prepare_request(
        data=model,
        name=name,
        uri=os.path.join(store.path, "custom_artifacts", name, str(uuid4())),
        materializer_class=materializer,
        save_type=ArtifactSaveType.MANUAL,
        artifact_store=store,
        artifact_type=ArtifactType.MODEL,
        store_metadata=False,
        store_visualizations=False,
    )
    art = client.zen_store.create_artifact_version(artifact_version=request)
    if not art.content_hash:  # our materializer always hashes the bytes it wrote: a missing hash is not trusted
        raise ArtifactIntegrityError(f"ZenML recorded no content hash for {name} at {art.uri}")
    return art, art.content_hash


def link_to_step(artifacts: list[Any]) -> None:
    """Record ``artifacts`` as outputs of the running step in one store call
    (outside a step: nothing to link)."""
    from zenml import get_step_context
    from zenml.exceptions import StepContextError
    from zenml.models import StepRunUpdate

    if not artifacts:
        return
    try:
        step_run = get_step_context().step_run
    except (RuntimeError, StepContextError):
        return
    outputs: dict[str, list[UUID]] = {}
    for art in artifacts:
        outputs.setdefault(art.artifact.name, []).append(art.id)
    Client().zen_store.update_run_step(step_run_id=step_run.id, step_run_update=StepRunUpdate(outputs=outputs))


def register_version(
    settings: Settings,
    model_name: str,
    model_id: UUID,
    tenant: str,
    artifact: Any,
    sha: str,
    *,
    run_id: str | None,
    metrics: dict,
    metadata: dict,
    tags: list[str],
) -> FleetVersion:
    """Create a version of ``model_name`` holding the saved ``artifact``
    (``save_model_artifact``): tagged (fleet, tenant and ``tags``, all in the
    create call), artifact linked, metadata logged (``metrics`` as keys of
    their own, the sha256, artifact uri and ``metadata`` packed under
    ``FLEET_FACTS_KEY``), the pipeline run linked."""
    from zenml import log_metadata
    from zenml.model.utils import link_artifact_version_to_model_version
    from zenml.models import ModelVersionPipelineRunRequest, ModelVersionRequest

    client = Client()
    tags = [tenants_lib.fleet_tag(settings), tenants_lib.tenant_tag(tenant), *tags]
    mv = client.zen_store.create_model_version(ModelVersionRequest(model=model_id, project=client.active_project.id, tags=tags))
    link_artifact_version_to_model_version(artifact, mv)
    # The tenant is the version's tag; every metadata key costs two commits.
    logged = {**metrics, FLEET_FACTS_KEY: {SHA_KEY: sha, URI_KEY: artifact.uri, **metadata}}
    log_metadata(logged, model_version_id=mv.id)  # type: ignore[call-overload]
    meta = flat_metadata(logged)  # as _version reads it back
    if run_id:
        client.zen_store.create_model_version_pipeline_run_link(ModelVersionPipelineRunRequest(model_version=mv.id, pipeline_run=UUID(run_id)))
    return FleetVersion(model_name, str(mv.name), str(mv.id), None, tenant, sha, artifact.uri, meta)


def set_stage(settings: Settings, model_name: str, version_id: str, stage: str, model_id: UUID | None = None) -> None:
    """Stage change under the model's promotion lock (``model_id``: the
    model's id, which spares ZenML a lookup by name); ``force`` moves the
    version previously in that stage to archived (one per stage per model)."""
    with promotion_lock(settings.environment.lock, settings.workspace, model_name):
        Client().update_model_version(model_id or model_name, UUID(version_id), stage=stage, force=True)


# --------------------------------------------------------- list / rollback --

LISTED_STAGES = (ModelStages.PRODUCTION.value, ModelStages.STAGING.value)


def registry_rows(settings: Settings, tenant_ids: list[str] | None = None) -> list[dict]:
    """Per tenant (and the pooled model), its production and staging versions
    with their performance metadata, from one paginated call per stage."""
    m = settings.evaluation.primary_metric
    wanted = set(tenant_ids) if tenant_ids is not None else None
    rows = []
    for stage in LISTED_STAGES:
        for v in list_fleet_versions(settings, stage):
            tenant = v.tenant or str(v.metadata.get("tenant") or "")
            if wanted is not None and tenant not in wanted:
                continue
            rows.append(
                {
                    "tenant": tenant,
                    "model": v.model,
                    "version": v.version,
                    "stage": v.stage or stage,
                    m: v.metadata.get(m),
                    f"baseline_{m}": v.metadata.get(f"baseline_{m}"),
                    "holdout_rows": (v.metadata.get("evaluation") or {}).get("holdout_rows", v.metadata.get("holdout_rows")),
                    "holdout_end": v.metadata.get("holdout_end"),
                    "artifact_sha256": v.sha,
                }
            )
    order = {s: i for i, s in enumerate(LISTED_STAGES)}
    return sorted(rows, key=lambda r: (r["tenant"], order.get(str(r["stage"]), 9), -_number(r["version"])))


def _number(version: str) -> int:
    try:
        return int(version)
    except ValueError:
        return 0


def rollback(settings: Settings, tenant: str, to_version: str | None = None, reason: str = "manual rollback") -> dict:
    """Make the tenant's previous production version (or ``to_version``)
    production again: the one locked ``set_production`` path (intent record,
    one production per model), logged in the signed decision log with the
    tenant, so the fleet's serving index and integrity checks follow it."""
    from runway.governance import registry

    name = tenants_lib.pooled_model_name(settings) if tenant == tenants_lib.POOLED else tenants_lib.model_name(settings, tenant)
    if not registry.list_versions(name):
        raise registry.RegistryError(f"tenant '{tenant}' has no model '{name}' in the registry: train it first (python run.py fleet train --tenants {tenant})")
    current = registry.production(name)
    if to_version is None:
        history = registry.decision_log(settings).production_history(name)
        earlier = [v for v in history if current is None or v != current.version]
        if not earlier:
            raise registry.RegistryError(f"no earlier production version of '{name}' (tenant {tenant}) in the decision log to roll back to")
        to_version = earlier[-1]
    if current is not None and current.version == to_version:
        raise registry.RegistryError(f"version {to_version} of '{name}' is already production")
    extra = {"use_case": settings.use_case, "tenant": tenant, "stage": ModelStages.PRODUCTION.value, "serving": "own"}
    return registry.set_production(settings, name, str(to_version), action="rollback", reason=reason, extra=extra)
