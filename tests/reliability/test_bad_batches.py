"""Randomised bad scoring batches (hypothesis): each is either accepted or
quarantined, never anything else; a rejected batch gets no prediction and
every stored file is byte-identical before and after (guarantee 4)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from runway.data.contract import ContractViolation, admit
from tests.integration.conftest import write_live_week
from tests.reliability.conftest import snapshot

pytestmark = pytest.mark.reliability

MUTATIONS = ["drop_column", "type_flip", "nan_storm", "duplicate_keys", "empty", "huge_values", "truncated_file", "none"]


@pytest.fixture(scope="module")
def scoring(trained_module):
    settings, _ = trained_module
    week = write_live_week(settings)
    path = settings.raw_dir / settings.streams.scoring / f"batch={week.isoformat()}.parquet"
    return settings, week, path, path.read_bytes()


def _mutate(frame: pd.DataFrame, kind: str, column: str, share: float, seed: int, keys: list[str]) -> bytes | pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = frame.copy()
    if kind == "drop_column":
        return f.drop(columns=[column])
    if kind == "type_flip":
        f[column] = [f"x{i}" for i in range(len(f))]
        return f
    if kind == "nan_storm":
        mask = rng.random(len(f)) < share
        f[column] = f[column].astype(object).where(~mask, None)
        return f
    if kind == "duplicate_keys":
        return pd.concat([f, f.sample(frac=max(share, 0.01), random_state=seed)], ignore_index=True)
    if kind == "empty":
        return f.iloc[0:0]
    if kind == "huge_values":
        num = [c for c in f.columns if pd.api.types.is_numeric_dtype(f[c]) and c not in keys] or [column]
        f[num[0]] = f[num[0]].astype(float) * 1e300 if share < 0.5 else np.inf
        return f
    if kind == "truncated_file":
        buf = io.BytesIO()
        f.to_parquet(buf)
        data = buf.getvalue()
        return data[: max(1, int(len(data) * share))]
    return f


def _write(path, payload) -> None:
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        payload.to_parquet(path)


@pytest.fixture
def restore(scoring):
    settings, _week, path, original = scoring
    yield
    path.write_bytes(original)
    shutil.rmtree(settings.use_case_path("quarantine"), ignore_errors=True)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(kind=st.sampled_from(MUTATIONS), col_index=st.integers(0, 50), share=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_a_bad_batch_is_accepted_or_quarantined_and_nothing_stored_changes(scoring, restore, kind, col_index, share, seed):
    settings, week, path, original = scoring
    frame = pd.read_parquet(io.BytesIO(original))
    column = list(frame.columns)[col_index % len(frame.columns)]
    _write(path, _mutate(frame, kind, column, share, seed, settings.entity_keys))
    written = path.read_bytes()
    qroot = settings.use_case_path("quarantine")
    before_q = set(qroot.iterdir()) if qroot.exists() else set()
    # metrics/ holds the figures of the last run (rows quarantined included): rewritten by design
    before = snapshot(settings.workspace, skip=(f"{settings.use_case}/quarantine", f"{settings.use_case}/metrics"))
    try:
        admit(settings, settings.streams.scoring, [week.isoformat()])
        outcome = "accepted"
    except ContractViolation as exc:
        outcome = "quarantined"
        new = [p for p in qroot.iterdir() if p not in before_q and not p.name.startswith(".")]
        assert len(new) == 1 and (new[0] / "report.json").exists(), exc
        assert (new[0] / path.name).read_bytes() == written, "the quarantined copy is the file as it arrived"
        assert str(path) in str(exc)
    assert outcome in ("accepted", "quarantined")
    assert path.read_bytes() == written, "the source file is never changed"
    assert snapshot(settings.workspace, skip=(f"{settings.use_case}/quarantine", f"{settings.use_case}/metrics")) == before
    if kind in ("drop_column", "empty", "truncated_file") and not (kind == "drop_column" and column == settings.target):
        assert outcome == "quarantined", f"{kind} on {column} must not pass"


@pytest.mark.parametrize("kind", ["nan_storm", "truncated_file"])
def test_a_rejected_batch_gets_no_prediction_through_the_real_pipeline(scoring, restore, kind):
    from pipelines.batch_inference import run_batch_inference

    settings, week, path, original = scoring
    frame = pd.read_parquet(io.BytesIO(original))
    key = settings.entity_keys[0]
    _write(path, _mutate(frame, kind, key, 1.0 if kind == "nan_storm" else 0.5, 0, settings.entity_keys))
    before = snapshot(settings.workspace, skip=(f"{settings.use_case}/quarantine", f"{settings.use_case}/metrics"))
    with pytest.raises(Exception, match="rejected by the data contract|quarantined"):
        run_batch_inference(settings, week)
    assert not settings.use_case_path("predictions", f"batch={week.isoformat()}").exists()
    assert snapshot(settings.workspace, skip=(f"{settings.use_case}/quarantine", f"{settings.use_case}/metrics")) == before
    assert any(p.is_dir() for p in settings.use_case_path("quarantine").iterdir())
