"""The demo manifests are JSON files in the contract's format, checked like any manifest."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import pytest

from explainers.manifest import parse_manifest
from explainers.validation import validate_bundle, validate_manifest
from portal.demo import BYGGESAG, LEDIGHED, MODEL_VERSION, build_demo_models
from portal.demo.manifests import NAMES, base_manifest

DEMO = Path(__file__).resolve().parents[2] / "portal" / "demo"


@pytest.mark.parametrize("name", NAMES)
def test_manifest_is_a_packaged_json_file_that_validates(name: str) -> None:
    text = resources.files("portal.demo").joinpath("manifests", f"{name}.json").read_text("utf-8")
    raw = json.loads(text)
    assert raw == base_manifest(name)
    assert raw["name"] == name
    assert raw["version"] == MODEL_VERSION
    assert validate_manifest(raw) == []
    assert parse_manifest(raw).name == name


def test_manifest_files_are_package_data() -> None:
    pyproject = (DEMO.parents[1] / "pyproject.toml").read_text("utf-8")
    assert '"demo/manifests/*.json"' in pyproject


def test_base_manifest_is_a_fresh_copy() -> None:
    first = base_manifest(LEDIGHED)
    first["features"].clear()
    assert base_manifest(LEDIGHED)["features"]


def test_no_manifest_is_built_in_python() -> None:
    source = (DEMO / "manifests.py").read_text("utf-8")
    strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant)]
    assert "Risiko for langvarig ledighed" not in strings
    assert len(source.splitlines()) < 150


def test_trained_models_register_with_their_manifests() -> None:
    """What ``POST /api/v1/models`` checks (``validate_bundle``) passes for both."""
    for model in build_demo_models():
        assert model.name in (LEDIGHED, BYGGESAG)
        assert validate_bundle(model.artifact, model.manifest, model.background_csv) == []
