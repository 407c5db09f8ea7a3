"""pyproject.toml: the lint rules docs/architecture.md promises; packaging without deprecations."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from tests.explainers.test_explainers_purity import FORBIDDEN

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _lint() -> dict[str, Any]:
    return _pyproject()["tool"]["ruff"]["lint"]  # type: ignore[no-any-return]


def test_ruff_bans_web_and_database_imports_in_explainers_only() -> None:
    lint = _lint()
    assert {"DTZ", "TID"} <= set(lint["select"])
    banned = {name.split(".")[0] for name in lint["flake8-tidy-imports"]["banned-api"]}
    web_and_db = {"flask", "sqlalchemy", "wtforms", "flask_babel", "babel", "werkzeug"}
    assert banned >= FORBIDDEN | web_and_db | {"jinja2", "celery", "portal"}
    # Lifted everywhere but explainers/: the only scope the ban is meant for.
    assert lint["per-file-ignores"]["!explainers/**"] == ["TID251"]


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    # The TOML-table form makes setuptools >= 77 warn on every install; the string form
    # needs setuptools >= 77 to build at all.
    data = _pyproject()
    assert data["project"]["license"] == "EUPL-1.2"
    assert "setuptools>=77" in data["build-system"]["requires"]


def _closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` name, and everything they require in turn."""
    import importlib.metadata as metadata
    import re

    seen: set[str] = set()
    todo = [re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0] for r in requirements]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            required = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [
            re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0] for r in required if "extra ==" not in r
        ]
    return seen


def _imported_distributions(*folders: str) -> dict[str, str]:
    """Top-level module -> distribution of every third-party import under ``folders``."""
    import ast
    import importlib.metadata as metadata
    import sys

    owners = metadata.packages_distributions()
    found: dict[str, str] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top not in owners:
                        continue
                    found[top] = owners[top][0].lower().replace("_", "-")
    return found


def test_every_package_the_portal_imports_is_a_declared_dependency() -> None:
    # A module installed here by hand but missing from pyproject.toml would fail on a fresh
    # machine only (make setup installs what pyproject.toml declares).
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    # xgboost and lightgbm are optional extras: imported only when such a model is loaded.
    runtime = _closure(project["dependencies"] + extras["xgboost"] + extras["lightgbm"])
    runtime.add(project["name"].lower())  # portal and explainers themselves
    missing = {
        module: dist
        for module, dist in _imported_distributions("portal", "explainers").items()
        if dist not in runtime
    }
    assert missing == {}
    everything = runtime | _closure(extras["dev"])
    missing = {
        module: dist
        for module, dist in _imported_distributions("tests", "bench").items()
        if dist not in everything
    }
    assert missing == {}
