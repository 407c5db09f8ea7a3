"""Every setting the portal reads is in the table of docs/configuration.md, and the table
names no setting that does not exist (``portal/config.py`` is the one place settings are
defined; a new setting fails here until it is documented)."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

from portal.config import OIDCProvider, Settings

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"`(PORTAL_[A-Z0-9_{},]+)`")
# Read by the test suite only (tests/conftest.py), never by the portal.
TEST_ONLY = {"PORTAL_TEST_DATABASE_URL"}


def defined_settings() -> set[str]:
    """``PORTAL_<NAME>`` for every field of Settings; ``PORTAL_<WHO>_OIDC_<FIELD>`` for
    the two identity providers (Settings.load reads exactly these)."""
    names = set()
    for field in dataclasses.fields(Settings):
        if field.type == "OIDCProvider":
            prefix = field.name.split("_")[0].upper()
            names |= {
                f"PORTAL_{prefix}_OIDC_{f.name.upper()}" for f in dataclasses.fields(OIDCProvider)
            }
        else:
            names.add(f"PORTAL_{field.name.upper()}")
    return names


def _expand(name: str) -> set[str]:
    """``PORTAL_{CITIZEN,STAFF}_OIDC_ISSUER`` -> both names."""
    parts = re.split(r"\{([^}]*)\}", name)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return {"".join(combination) for combination in itertools.product(*choices)}


def documented_settings(table: str) -> set[str]:
    """The names in the first column of the table in ``docs/configuration.md``."""
    names: set[str] = set()
    for line in table.splitlines():
        if not line.startswith("|"):
            continue
        first_cell = line.strip("|").split("|", 1)[0]
        for name in NAME.findall(first_cell):
            names |= _expand(name)
    return names


def _table() -> str:
    return (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    assert defined_settings() - documented_settings(_table()) == set()


def test_every_documented_setting_exists() -> None:
    assert documented_settings(_table()) - defined_settings() == set()


def test_every_setting_named_in_the_code_is_defined() -> None:
    # A PORTAL_* name in the portal's code (an error message, a docstring, a direct read
    # of the environment) that Settings does not define would be a setting nobody can set.
    named = set()
    sources = [
        *(ROOT / "portal").rglob("*.py"),
        ROOT / "wsgi.py",
        *(ROOT / "migrations").rglob("*.py"),
    ]
    for path in sources:
        named |= set(re.findall(r"\bPORTAL_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8")))
    assert named - defined_settings() - TEST_ONLY == set()


def test_the_parser_reads_the_table() -> None:
    table = (
        "# Configuration\n\n| variable | default | meaning |\n|---|---|---|\n"
        "| `PORTAL_ENV` | `development` | see `PORTAL_DEMO` |\n"
        "| `PORTAL_{CITIZEN,STAFF}_OIDC_ISSUER` | | |\n\nText naming `PORTAL_NOT_HERE`.\n"
    )
    assert documented_settings(table) == {
        "PORTAL_ENV",
        "PORTAL_CITIZEN_OIDC_ISSUER",
        "PORTAL_STAFF_OIDC_ISSUER",
    }
