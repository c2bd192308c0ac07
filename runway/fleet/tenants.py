"""Who is in the fleet, and what each tenant's keys, paths and overrides are.

The tenant id is part of every key: raw and quarantine paths
(``<use case>/raw/<tenant>/...``, ``<use case>/tenants/<tenant>/quarantine``),
model names (``<model>-<tenant>``, tagged ``tenant:<id>``), decision-log
entries (``tenant``), predictions (a tenant column), alerts and reports.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path

from runway.config import PROJECT_ROOT, Settings
from runway.config.schema import TenantsConfig, valid_tenant_id

POOLED = "__fleet__"  # the pooled model's pseudo-tenant in results and logs


class TenantError(ValueError):
    """The fleet's tenants cannot be resolved or a selector matches nothing."""


def config(settings: Settings) -> TenantsConfig:
    if settings.tenants is None:
        raise TenantError(f"use case '{settings.use_case}' declares no tenants: add a 'tenants:' section (see README, Fleet)")
    return settings.tenants


def column(settings: Settings) -> str:
    return config(settings).tenant_column


def model_name(settings: Settings, tenant: str) -> str:
    return f"{settings.model.name}-{tenant}"


def pooled_model_name(settings: Settings) -> str:
    return f"{settings.model.name}-fleet"


def fleet_tag(settings: Settings) -> str:
    """Tag on every fleet model version: one paginated call lists them all."""
    return f"fleet:{settings.model.name}"


def tenant_tag(tenant: str) -> str:
    return f"tenant:{tenant}"


def tenant_path(settings: Settings, tenant: str, *parts: str) -> Path:
    """The tenant's own folder: quarantine/, reports/."""
    return settings.use_case_path("tenants", tenant, *parts)


def fleet_path(settings: Settings, *parts: str) -> Path:
    """The fleet's shared files: alerts.jsonl, reports/, history."""
    return settings.use_case_path("fleet", *parts)


def _from_file(settings: Settings, name: str) -> list[str]:
    p = Path(name).expanduser()
    candidates = [p] if p.is_absolute() else [PROJECT_ROOT / p, settings.workspace / p]
    for c in candidates:
        if c.is_file():
            ids = [ln.split(",")[0].strip() for ln in c.read_text().splitlines()]
            return [t for t in ids if t and not t.startswith("#") and t != "tenant"]
    raise TenantError(f"tenants.file: {name} not found (looked in {', '.join(str(c) for c in candidates)})")


def discover(settings: Settings) -> list[str]:
    """The fleet's tenant ids, sorted: ``ids``, the ``file``'s lines, else the data's."""
    cfg = config(settings)
    if cfg.ids:
        ids = list(cfg.ids)
    elif cfg.file:
        ids = _from_file(settings, cfg.file)
    elif cfg.source == "folders":
        raw = settings.raw_dir
        ids = [p.name for p in raw.iterdir() if p.is_dir() and (p / settings.streams.history).is_dir()] if raw.is_dir() else []
    else:
        from runway.fleet.data import column_tenants

        ids = column_tenants(settings)
    bad = [t for t in ids if not valid_tenant_id(t)]
    if bad:
        raise TenantError(f"invalid tenant id(s) {bad[:5]}: letters, digits, '_', '.', '-' only")
    if not ids:
        raise TenantError(f"no tenants found for use case '{settings.use_case}' (tenants.source {cfg.source}, raw data under {settings.raw_dir})")
    return sorted(dict.fromkeys(ids))


def select(tenants: list[str], selector: str | None) -> list[str]:
    """``None``/``all``: every tenant; else comma-separated ids or globs
    (``t00*``), ``first:N`` or ``@file`` (one id per line)."""
    if not selector or selector == "all":
        return list(tenants)
    if selector.startswith("@"):
        wanted = [ln.strip() for ln in Path(selector[1:]).read_text().splitlines() if ln.strip()]
        return _pick(tenants, wanted, selector)
    if selector.startswith("first:"):
        try:
            n = int(selector.split(":", 1)[1])
        except ValueError:
            raise TenantError(f"--tenants {selector}: first:N needs a number") from None
        return list(tenants[:n])
    return _pick(tenants, [s.strip() for s in selector.split(",") if s.strip()], selector)


def _pick(tenants: list[str], patterns: list[str], selector: str) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        hits = fnmatch.filter(tenants, pat)
        if not hits:
            raise TenantError(f"--tenants {selector}: '{pat}' matches no tenant (the fleet has {len(tenants)}: {', '.join(tenants[:5])}...)")
        out += hits
    return sorted(dict.fromkeys(out))


def tenant_settings(settings: Settings, tenant: str) -> Settings:
    """``settings`` with the tenant's overrides (gate margins, alert sink) applied."""
    over = config(settings).overrides.get(tenant)
    if over is None:
        return settings
    promotion = settings.promotion.model_copy(
        update={
            k: v
            for k, v in {
                "min_improvement_vs_production": over.min_improvement_vs_production,
                "min_improvement_vs_baseline": over.min_improvement_vs_baseline,
            }.items()
            if v is not None
        }
    )
    alerts = settings.monitoring.alerts.model_copy(update={"webhook_url": over.webhook_url}) if over.webhook_url else settings.monitoring.alerts
    monitoring = settings.monitoring.model_copy(update={"alerts": alerts})
    return settings.model_copy(update={"promotion": promotion, "monitoring": monitoring})


def chunks(tenants: list[str], size: int) -> list[list[str]]:
    """Tenants in chunks of at most ``size``, as even as possible."""
    if not tenants:
        return []
    n = math.ceil(len(tenants) / size)
    per = math.ceil(len(tenants) / n)
    return [tenants[i : i + per] for i in range(0, len(tenants), per)]


def min_history_days(settings: Settings) -> int:
    """Labelled dates a tenant needs for its own model beyond what the split
    itself needs (``runway.fleet.work.cold_start_reason``): the use case's
    ``tenants.min_history_days``, else 0."""
    return config(settings).min_history_days or 0
