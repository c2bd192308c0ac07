"""Unpickling a model artifact: a trusted hash first, then only what a model is made of."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from runway.modeling.artifact import ArtifactIntegrityError, ModelArtifact, deserialize_verified, restricted_loads, sha256_bytes

pytestmark = pytest.mark.unit


class _Writes:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _System:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _NumpySave:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (np.savetxt, (self.path, np.zeros(1)))


@pytest.mark.parametrize("payload", [_Writes, _System, _NumpySave])
def test_a_malicious_pickle_is_refused_and_its_sentinel_never_appears(tmp_path, payload):
    sentinel = tmp_path / "sentinel"
    blob = pickle.dumps(payload(str(sentinel)), protocol=5)
    with pytest.raises(ArtifactIntegrityError, match="refusing"):
        deserialize_verified(blob, sha256_bytes(blob))  # even with a matching hash
    assert not sentinel.exists()


def test_a_dotted_name_cannot_reach_outside_the_allowed_modules():
    # protocol 4+ resolves dotted names: sklearn.base.os -> os module attributes
    blob = b"\x80\x05\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x0csklearn.base\x94\x8c\x0fclone.__class__\x94\x93\x94."
    with pytest.raises(ArtifactIntegrityError):
        restricted_loads(blob)


def test_no_trusted_hash_refuses_before_unpickling(tmp_path):
    sentinel = tmp_path / "sentinel"
    blob = pickle.dumps(_Writes(str(sentinel)), protocol=5)
    with pytest.raises(ArtifactIntegrityError, match="no trusted sha256"):
        deserialize_verified(blob, None)
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        deserialize_verified(blob, "0" * 64)
    assert not sentinel.exists()


def test_a_real_model_artifact_loads():
    from sklearn.linear_model import Ridge

    est = Ridge().fit(np.arange(10.0).reshape(-1, 1), np.arange(10.0))
    art = ModelArtifact(estimator=est, features=["a"], target="y", task="regression", trained_rows=10, train_start="a", train_end="b")
    blob = pickle.dumps(art, protocol=5)
    back = deserialize_verified(blob, sha256_bytes(blob))
    assert back.features == ["a"] and back.estimator.coef_.tolist() == est.coef_.tolist()
