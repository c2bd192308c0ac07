"""Names of declared features: the one place the engine, the Feast
definitions and the model's feature list agree on."""

from __future__ import annotations

from runway.config.schema import FeatureSpec, FeatureViewConfig

DEFAULT_TEMPLATES = {
    "value": "{column}",
    "lag": "{column}_lag_{days}d",
    "rolling": "{column}_{stat}_{days}d",
    "ratio_to_mean": "{column}_rel_{days}d",
    "days_to_next": "days_to_next_{column}",
    "one_hot": "{column}_is_{category}",
}


def expand(spec: FeatureSpec) -> list[tuple[str, dict]]:
    """(name, parameters) of each feature a spec declares, in order.

    Parameters hold ``days``, ``stat``, ``category`` or ``part`` as relevant.
    """
    if spec.transform == "calendar":
        return [(spec.name.format(part=p) if spec.name else p, {"part": p}) for p in spec.parts]
    template = spec.name or DEFAULT_TEMPLATES[spec.transform]
    out: list[tuple[str, dict]] = []
    if spec.transform == "rolling":
        for d in spec.days:
            for st in spec.stats:
                out.append((template.format(column=spec.column, days=d, stat=st), {"days": d, "stat": st}))
    elif spec.transform in ("lag", "ratio_to_mean"):
        for d in spec.days:
            out.append((template.format(column=spec.column, days=d), {"days": d}))
    elif spec.transform == "one_hot":
        for c in spec.categories:
            out.append((template.format(column=spec.column, category=c), {"category": c}))
    else:
        out.append((template.format(column=spec.column), {}))
    return out


def feature_names(view: FeatureViewConfig, served_only: bool = False) -> list[str]:
    return [name for spec in view.features if spec.serve or not served_only for name, _ in expand(spec)]
