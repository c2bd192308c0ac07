"""PII never leaves the ingestion gate (issue 9, item 5).

The bike-rental dataset of docs/onboarding.md gets two planted personal
columns, both marked ``pii: true`` in a YAML-only use case: ``rider_email``
(not used: dropped at ingestion) and ``station_email``, the entity's join
key (``privacy.columns: hash``: a keyed hash). Every value of both carries a
canary token. The whole loop runs (training, batch inference, monitoring) on
a temporary local stack, then every output is searched for the token and its
obvious encodings: every file of the workspace, the Feast repo copy, ZenML's
store and local artifact store (parquet decoded, gzip/zip opened, everything
else as bytes), the captured stdout/stderr and the log records. Only the raw
input folder is exempt (the batches as delivered, docs/onboarding.md); the
same search finds the token there, so a missing transform would be caught
(``RUNWAY_CANARY_DISABLE_TRANSFORM=1`` runs the loop without it: the test
then fails, listing the files the token reached).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runway.config import PROJECT_ROOT, load_settings
from tests.usecases import bikes

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]  # the whole loop: ~13 min on 2 loaded cores

TOKEN = "Kq7CanaryPii3x"


def _needles() -> list[bytes]:
    raw = TOKEN.encode()
    out = [raw, TOKEN.lower().encode(), TOKEN.encode("utf-16-le"), raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):  # base64 of the token at each alignment, trimmed to the stable part
        enc = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0 :]
        out.append(enc[: len(enc) - 4])
    return out


NEEDLES = _needles()


def _hits_in(data: bytes) -> bool:
    return any(n in data for n in NEEDLES)


def _decoded(path: Path, data: bytes) -> list[bytes]:
    """The file as bytes plus what compression / columnar encoding hides."""
    views = [data]
    if path.suffix == ".parquet" or data[:4] == b"PAR1":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
            views.append(frame.to_csv(index=False).encode() + " ".join(map(str, frame.columns)).encode())
        except Exception:  # noqa: BLE001, S110 - not every PAR1-looking blob is parquet; its bytes are still searched
            pass
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError):
            views.append(gzip.decompress(data))
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                views += [z.read(n) for n in z.namelist()]
        except zipfile.BadZipFile:
            pass
    return views


def grep(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    found = []
    for p in [root] if root.is_file() else sorted(root.rglob("*")):
        if not p.is_file() or any(p.is_relative_to(s) for s in skip):
            continue
        if any(_hits_in(v) for v in _decoded(p, p.read_bytes())):
            found.append(str(p))
    return found


YAML_CHANGES = {
    "use_case": "bike_rentals_pii",
    "privacy": {"hash_key": "${RUNWAY_TEST_PII_KEY}", "columns": {"station_email": "hash"}},
}


def _use_case_yaml() -> str:
    uc = yaml.safe_load(bikes.USE_CASE_YAML)
    uc.update(YAML_CHANGES)
    uc["contract"]["keys"] = ["station_email", "day"]
    del uc["contract"]["columns"]["station_code"]
    uc["contract"]["columns"]["station_email"] = {"dtype": "string", "nullable": False, "pii": True}
    uc["contract"]["columns"]["rider_email"] = {"dtype": "string", "nullable": True, "pii": True}
    uc["entities"] = [{"name": "station", "join_keys": ["station_email"]}]
    return yaml.safe_dump(uc, sort_keys=False)


def _plant(raw: Path) -> None:
    """The user's export with personal data: every row carries the token."""
    for p in sorted(raw.rglob("batch=*.parquet")):
        df = pd.read_parquet(p)
        station = df.pop("station_code")
        df.insert(0, "station_email", "manager." + station.str.lower() + f".{TOKEN}@bikes.example")
        df["rider_email"] = "rider." + station.str.lower() + "." + df["day"].dt.strftime("%Y%m%d") + f".{TOKEN}@mail.example"
        df.to_parquet(p, index=False)


def test_the_pii_canary_never_leaves_the_ingestion_gate(tmp_path: Path, monkeypatch, capfd, caplog) -> None:
    from pipelines.loop import run_loop
    from runway.data.privacy import hash_values
    from runway.serving.predictions import read_predictions

    caplog.set_level("DEBUG")
    key = "pii-" + uuid.uuid4().hex
    monkeypatch.setenv("RUNWAY_TEST_PII_KEY", key)
    repo = tmp_path / "feature_repo"
    shutil.copytree(PROJECT_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    source = tmp_path / "bike_rentals_pii.yaml"
    source.write_text(_use_case_yaml())
    overrides = {
        "model": {"name": f"pii-{uuid.uuid4().hex[:8]}"},
        "evaluation": {"bootstrap_samples": 100},
        "environment": {"workspace": str(tmp_path / "ws"), "feature_repo": str(repo), "zenml": {"config_dir": None}},
    }
    settings = load_settings(source, "local", overrides)
    assert key not in settings.model_dump_json(), "the hash key stays a reference inside Settings"
    bikes.write_dataset(settings.raw_dir)
    _plant(settings.raw_dir)

    if os.environ.get("RUNWAY_CANARY_DISABLE_TRANSFORM"):  # watch the test fail: no transform at the gate
        import runway.data.privacy as privacy_lib

        monkeypatch.setattr(privacy_lib, "protect", lambda frame, _settings: frame)
    out = run_loop(settings, progress=print)
    assert out["training"]["decision"]["promote"], out["training"]["decision"]["reason"]
    assert out["monitoring"], "monitoring ran on the scored batches"
    captured = capfd.readouterr()

    zenml_home = Path(os.environ["ZENML_CONFIG_PATH"])
    hits = grep(settings.workspace, skip=(settings.raw_dir,))
    hits += grep(repo)
    hits += grep(zenml_home)  # zenml.db (SQLite pages as bytes), local_stores: artifacts and step logs
    assert not hits, f"the pii canary leaked into {len(hits)} file(s): {hits[:20]}"
    assert TOKEN not in captured.out + captured.err, "stdout/stderr"
    assert TOKEN not in caplog.text, "log records"

    # The hashed key flowed through the whole loop: predictions carry the keyed hash.
    preds = read_predictions(settings)
    expected = set(hash_values(pd.Series(["manager.st00." + TOKEN + "@bikes.example"]), key.encode(), "string"))
    assert expected <= set(preds["station_email"]), "the entity key reaches the predictions, hashed"
    assert "rider_email" not in preds.columns

    # The search is able to find it: the raw input copies (exempt) hold it in every file.
    raw_files = sorted(settings.raw_dir.rglob("batch=*.parquet"))
    assert raw_files and set(grep(settings.raw_dir)) == {str(p) for p in raw_files}
    assert not settings.use_case_path("quarantine").exists(), "nothing was quarantined (a quarantined copy would be a raw copy too)"
