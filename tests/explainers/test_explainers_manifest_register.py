"""The register and retention fields of a manifest: optional, checked when present."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from explainers.manifest import parse_manifest, structural_problems
from tests.conftest import MINIMAL_MANIFEST

GOOD: dict[str, Any] = {
    "description": {"da": "Modellen giver et bud."},
    "risk_class": {
        "ai_act": "high-risk",
        "annex_iii": "5(a)",
        "explanation": {"da": "Offentlige ydelser."},
    },
    "contact": {"email": "algoritmer@kk.example", "phone": "+45 1234", "name": {"da": "Enhed"}},
    "retention_days": 1095,
}


X = {"da": "x"}


def _with(**fields: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(MINIMAL_MANIFEST)
    manifest.update(fields)
    return manifest


def _codes(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in structural_problems(manifest)]


def test_register_fields_parse() -> None:
    parsed = parse_manifest(_with(**GOOD))
    assert parsed.risk_class is not None
    assert parsed.risk_class.ai_act == "high-risk"
    assert parsed.risk_class.annex_iii == "5(a)"
    assert parsed.contact is not None
    assert parsed.contact.email == "algoritmer@kk.example"
    assert parsed.retention_days == 1095
    assert parsed.human_oversight == {"da": "En sagsbehandler beslutter."}


def test_a_manifest_without_them_still_parses() -> None:
    parsed = parse_manifest(copy.deepcopy(MINIMAL_MANIFEST))
    assert (parsed.risk_class, parsed.contact, parsed.retention_days) == (None, None, None)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"risk_class": {"ai_act": "low", "explanation": {"da": "x"}}}, "invalid-risk-class"),
        (
            {"risk_class": {"ai_act": "high-risk", "explanation": {"da": "x"}}},
            "missing-annex-iii-point",
        ),
        (
            {"risk_class": {"ai_act": "not-high-risk", "annex_iii": "4", "explanation": X}},
            "annex-iii-not-allowed",
        ),
        (
            {"risk_class": {"ai_act": "high-risk", "annex_iii": "9(z)", "explanation": X}},
            "invalid-annex-iii-point",
        ),
        ({"risk_class": {"ai_act": "not-high-risk"}}, "missing-text"),
        ({"risk_class": "high"}, "not-an-object"),
        ({"contact": {"email": "nobody"}}, "invalid-email"),
        ({"contact": {"email": "a@b.dk", "phone": ""}}, "not-a-string"),
        ({"retention_days": 0}, "invalid-retention-days"),
        ({"retention_days": 36_501}, "invalid-retention-days"),
        ({"retention_days": 30.5}, "invalid-retention-days"),
        ({"retention_days": True}, "invalid-retention-days"),
        ({"human_oversight": {"en": "only English"}}, "missing-danish-text"),
        ({"description": "plain string"}, "missing-text"),
    ],
)
def test_bad_register_fields_are_problems(fields: dict[str, Any], expected: str) -> None:
    codes = [code for _, code in _codes(_with(**fields))]
    assert codes == [expected]


def test_the_demo_manifests_carry_the_register_fields() -> None:
    from portal.demo.manifests import NAMES, base_manifest

    for name in NAMES:
        parsed = parse_manifest(base_manifest(name))
        assert parsed.risk_class is not None, name
        assert parsed.contact is not None, name
        assert parsed.retention_days, name
