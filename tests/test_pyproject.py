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
