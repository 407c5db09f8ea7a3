"""Safe loading: the fixed allowlist, refused types, and nothing executed on refusal."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from explainers_testdata import Case
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from explainers import (
    TRUSTED_TYPES,
    ExplainerError,
    InvalidArtifactError,
    UnsafeArtifactError,
    load_artifact,
    refused_types,
    validate_bundle,
)

MARKER_ENV = "EXPLAINERS_TEST_MARKER"


class Hostile:
    """Creates a marker file when its state is restored (as an attacker's payload would)."""

    def __init__(self) -> None:
        self.payload = "touch"

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(os.environ[MARKER_ENV]).write_text("executed")
        self.__dict__.update(state)


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    return x, (x[:, 0] > 0).astype(int)


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "marker"
    monkeypatch.setenv(MARKER_ENV, str(path))
    return path


def test_hostile_artifact_would_execute_if_trusted(marker: Path) -> None:
    # Guards the test below: the payload really runs when a loader trusts it.
    data = sio.dumps(Hostile())
    sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert marker.exists()


def test_hostile_artifact_is_refused_and_nothing_runs(marker: Path) -> None:
    data = sio.dumps(Hostile())
    with pytest.raises(UnsafeArtifactError) as info:
        load_artifact(data)
    assert any(t.endswith("Hostile") for t in info.value.refused_types)
    assert "Hostile" in str(info.value)
    assert not marker.exists()


def test_hostile_step_inside_a_trusted_pipeline_is_refused(marker: Path) -> None:
    x, y = _xy()
    pipe = Pipeline([("model", LogisticRegression())]).fit(x, y)
    pipe.steps.append(("evil", Hostile()))  # type: ignore[arg-type]
    data = sio.dumps(pipe)
    with pytest.raises(UnsafeArtifactError) as info:
        load_artifact(data)
    assert [t for t in info.value.refused_types if "Hostile" in t]
    assert not marker.exists()


def test_function_transformer_with_a_function_is_refused() -> None:
    x, y = _xy()
    pipe = Pipeline([("f", FunctionTransformer(np.abs)), ("m", LogisticRegression())]).fit(x, y)
    data = sio.dumps(pipe)
    assert sio.get_untrusted_types(data=data) == []  # skops would trust it by default
    with pytest.raises(UnsafeArtifactError) as info:
        load_artifact(data)
    assert "numpy.absolute" in info.value.refused_types


def test_estimators_outside_the_allowlist_are_refused_even_if_skops_trusts_them() -> None:
    x, y = _xy()
    data = sio.dumps(GaussianNB().fit(x, y))
    assert sio.get_untrusted_types(data=data) == []
    with pytest.raises(UnsafeArtifactError) as info:
        load_artifact(data)
    assert info.value.refused_types == ("sklearn.naive_bayes.GaussianNB",)


def test_raw_pickle_is_refused_without_unpickling(marker: Path) -> None:
    data = pickle.dumps(Hostile())
    with pytest.raises(InvalidArtifactError) as info:
        load_artifact(data)
    assert info.value.reason == "raw-pickle"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not-a-zip"),
        (b"hello world", "not-a-zip"),
        (b"PK\x03\x04garbage", "corrupt-zip"),
    ],
)
def test_non_skops_bytes_are_invalid(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidArtifactError) as info:
        load_artifact(data)
    assert info.value.reason == reason
    assert isinstance(info.value, ExplainerError)


def test_truncated_artifact_is_invalid(cases: dict[str, Case]) -> None:
    data = cases["logit"].artifact
    with pytest.raises(InvalidArtifactError):
        load_artifact(data[: len(data) // 2])


def test_zip_without_schema_is_invalid() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("other.json", "{}")
    with pytest.raises(InvalidArtifactError) as info:
        load_artifact(buf.getvalue())
    assert info.value.reason == "missing-schema"


@pytest.mark.parametrize("name", ["hgb", "rf", "xgb", "lgbm", "logit", "ridge", "knn"])
def test_every_supported_model_loads_and_predicts_the_same(
    cases: dict[str, Case], name: str
) -> None:
    from explainers_testdata import BACKGROUND_ROWS, to_frame

    case = cases[name]
    assert refused_types(case.artifact) == []
    loaded = load_artifact(case.artifact)
    frame = to_frame(BACKGROUND_ROWS[:10])
    np.testing.assert_array_equal(loaded.predict(frame), case.model.predict(frame))


def test_untrusted_types_of_our_artifacts_are_all_in_the_allowlist(
    cases: dict[str, Case],
) -> None:
    for case in cases.values():
        assert set(sio.get_untrusted_types(data=case.artifact)) <= TRUSTED_TYPES


def test_validate_bundle_reports_unsafe_artifact_as_a_problem(marker: Path) -> None:
    from explainers_testdata import make_manifest

    problems = validate_bundle(sio.dumps(Hostile()), make_manifest(), None)
    assert [p.code for p in problems] == ["unsafe-artifact"]
    assert problems[0].path == "artifact"
    assert any("Hostile" in t for t in problems[0].detail["refused_types"])
    assert not marker.exists()


def _rewrite_schema(data: bytes, change: Any) -> bytes:
    import json

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "schema.json":
                schema = json.loads(content)
                change(schema)
                content = json.dumps(schema).encode()
            target.writestr(info.filename, content)
    return out.getvalue()


def test_hand_crafted_function_node_is_refused(cases: dict[str, Case]) -> None:
    def inject(schema: dict[str, Any]) -> None:
        schema["content"]["content"]["evil"] = {
            "__class__": "system",
            "__module__": "os",
            "__loader__": "FunctionNode",
            "__id__": 1,
        }

    data = _rewrite_schema(cases["logit"].artifact, inject)
    with pytest.raises(UnsafeArtifactError) as info:
        load_artifact(data)
    assert info.value.refused_types == ("os.system",)


def test_trusted_type_with_a_code_running_loader_is_refused(cases: dict[str, Case]) -> None:
    def relabel(schema: dict[str, Any]) -> None:
        schema["__loader__"] = "ReduceNode"

    data = _rewrite_schema(cases["logit"].artifact, relabel)
    with pytest.raises(UnsafeArtifactError) as info:
        load_artifact(data)
    assert info.value.refused_types == ("sklearn.pipeline.Pipeline (loader ReduceNode)",)
