"""Retrain a model version from its logged lineage alone.

Takes the lineage document (``lineage.version_lineage``, from the verified
decision log) and an environment to work in, and redoes what the training
pipeline did with the same library functions, no ZenML: settings from the
logged resolved config (checked against its sha256), the raw batch files
selected by the logged names and verified byte for byte against the logged
sha256 (a changed or missing file refuses), labels cut at the logged
``as_of``, the declared feature tables through Feast (apply, materialize,
point-in-time retrieval), the time split (windows checked against the
logged ones), the same feature list, and the fit. What the caller compares:
the predictions on the holdout, and the artifact's sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from runway.governance.lineage import code_version, file_sha256, verify_config

if TYPE_CHECKING:
    from runway.config import Settings
    from runway.modeling.artifact import ModelArtifact


class ReproductionError(RuntimeError):
    """The logged lineage cannot be reproduced as recorded (changed input, other windows)."""


@dataclass
class Reproduction:
    settings: Settings
    model: ModelArtifact
    train: pd.DataFrame
    holdout: pd.DataFrame
    # The code that reproduced it is the logged commit (and neither tree was dirty).
    same_code: bool


def settings_from_lineage(doc: dict, where: Settings) -> Settings:
    """The logged settings, run in ``where``'s environment (workspace, stores)."""
    from runway.config import Settings

    resolved = dict(verify_config(doc))
    resolved["environment"] = where.environment.model_dump(mode="json")
    # The logged config has sorted keys; the params' own order is in the artifact's bytes.
    pairs = (doc.get("estimator") or {}).get("params") or []
    if pairs and dict(pairs) == resolved["model"]["params"]:
        resolved["model"] = {**resolved["model"], "params": dict(pairs)}
    return Settings.model_validate(resolved)


def verified_batches(settings: Settings, doc: dict) -> list[str]:
    """The logged batch names, after checking each raw file's bytes against its logged sha256."""
    data = doc["data"]
    if data["source_kind"] == "sql":
        raise ReproductionError("the lineage names a SQL source: its rows are fingerprinted as a whole, not as files; reproduce from a table snapshot")
    names = []
    for b in data["batches"]:
        path = settings.raw_dir / b["file"]
        if not path.is_file():
            raise ReproductionError(f"raw batch {b['file']} is not under {settings.raw_dir}; restore it to reproduce v{doc['version']}")
        actual = file_sha256(path)
        if actual != b["sha256"]:
            raise ReproductionError(
                f"raw batch {path} does not match the logged fingerprint (sha256 {actual[:12]}… != {b['sha256'][:12]}…): "
                f"it changed since {doc['model']} v{doc['version']} was trained; refusing to reproduce from it"
            )
        names.append(b["batch"])
    return names


def reproduce(doc: dict, where: Settings) -> Reproduction:
    """Retrain ``doc``'s version in ``where``'s environment from its lineage."""
    import runway.data.contract as contract_lib
    import runway.data.sources as sources_lib
    import runway.features.engine as engine_lib
    import runway.features.frames as frames_lib
    import runway.features.store as fs_lib
    import runway.modeling.artifact as modeling_lib

    settings = settings_from_lineage(doc, where)
    data = doc["data"]
    names = verified_batches(settings, doc)
    batch = contract_lib.admit(settings, data["stream"], batches=names)
    rows = sources_lib.known_as_of(batch.frame, pd.Timestamp(data["as_of"]) if data.get("as_of") else None, settings.target)
    tables = engine_lib.compute_feature_tables(rows, settings)
    engine_lib.write_feature_tables(tables, fs_lib.feature_data_dir(settings))
    store = fs_lib.open_store(settings)
    fs_lib.apply(store, settings)
    fs_lib.materialize(store, pd.Timestamp(rows[settings.timestamp].max()).to_pydatetime())
    service = doc["features"]["service"]
    if service != settings.features.service_name:
        raise ReproductionError(f"the logged feature service {service} is not the logged config's {settings.features.service_name}")
    feats = fs_lib.historical_features(store, frames_lib.entity_frame(rows, settings), service, timestamp_column=settings.timestamp)
    frame = frames_lib.attach_request_features(feats, rows, settings)
    usable = frames_lib.drop_warmup(frame.dropna(subset=[settings.target]), settings)
    train, holdout = modeling_lib.time_split(usable, settings.timestamp, settings.split)
    windows = doc["windows"]
    got = [str(holdout[settings.timestamp].min()), str(holdout[settings.timestamp].max())]
    if got != list(windows["holdout"]) or len(holdout) != windows["holdout_rows"]:
        raise ReproductionError(f"holdout {got} ({len(holdout)} rows) is not the logged {windows['holdout']} ({windows['holdout_rows']} rows)")
    features = frames_lib.model_feature_list(fs_lib.feature_names(store, service), settings)
    if features != doc["features"]["model_features"]:
        raise ReproductionError(f"feature list {features} is not the logged {doc['features']['model_features']}")
    model = modeling_lib.train(train, features, settings.model, settings.timestamp)
    if [model.train_start, model.train_end, model.trained_rows] != [*windows["training"], windows["training_rows"]]:
        raise ReproductionError(
            f"training window {model.train_start} .. {model.train_end} ({model.trained_rows} rows) is not the logged "
            f"{windows['training'][0]} .. {windows['training'][1]} ({windows['training_rows']} rows)"
        )
    now, then = code_version(), doc["code"]
    same_code = now["commit"] == then["commit"] and not now["dirty"] and not then["dirty"]
    return Reproduction(settings=settings, model=model, train=train, holdout=holdout, same_code=same_code)
