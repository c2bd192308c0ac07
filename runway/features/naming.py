"""Names of declared features: the one place the engine, the Feast
definitions and the model's feature list agree on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runway.config.schema import FeatureSpec, FeatureViewConfig

if TYPE_CHECKING:
    from runway.config.schema import Settings

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


# ------------------------------------------------------- keys and dtypes --

CALENDAR_INT_PARTS = ("day_of_week", "week_of_year", "month")


def view_join_keys(settings: Settings, view: FeatureViewConfig) -> list[str]:
    """Join key columns of a view, in entity then join-key order (empty: keyed by date only)."""
    entities = {e.name: e for e in settings.entities}
    return list(dict.fromkeys(k for name in view.entities for k in entities[name].join_keys))


def row_grain(settings: Settings) -> list[str]:
    """The key columns (without the timestamp) one row of the use case is unique on."""
    return [k for k in settings.contract.keys if k != settings.contract.timestamp]


def is_coarse(settings: Settings, view: FeatureViewConfig) -> bool:
    """True when one (view keys, date) holds several rows (a store view over
    store x item rows, a view without entities): values are aggregated."""
    return set(view_join_keys(settings, view)) != set(row_grain(settings))


def feature_dtypes(settings: Settings, view: FeatureViewConfig) -> dict[str, str]:
    """``name -> dtype`` of each feature of the view (``float64``, ``int64``,
    ``bool`` or ``string``), in ``feature_names`` order: what the engine
    writes and the Feast schema declares.

    Calendar day/week/month are ints; a ``value`` of a bool column of a
    ``known: ahead`` view is a bool (unless a coarse view averages or sums
    it); a ``value`` of a string column is a string; everything else
    (lags, statistics, ratios, one-hot flags, day counts) is a float, NaN
    where unknown.
    """
    coarse = is_coarse(settings, view)
    out: dict[str, str] = {}
    for spec in view.features:
        for name, params in expand(spec):
            if spec.transform == "calendar":
                out[name] = "int64" if params["part"] in CALENDAR_INT_PARTS else "float64"
            elif spec.transform == "value":
                col = settings.contract.columns[spec.column].dtype if spec.column else "float"
                if col == "bool" and view.known == "ahead" and not (coarse and spec.aggregate in ("mean", "sum")):
                    out[name] = "bool"
                elif col == "string":
                    out[name] = "string"
                else:
                    out[name] = "float64"
            else:
                out[name] = "float64"
    return out
