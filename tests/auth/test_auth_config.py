"""Configuration validation for login and sessions."""

from __future__ import annotations

import pytest
from settings_support import production_settings

from portal.auth.services import LoginRefused, check_assurance, map_staff_role
from portal.config import ConfigError, OIDCProvider, Settings
from portal.config_checks import loa_rank

NSIS = "https://data.gov.dk/concept/core/nsis/loa/"


def test_safe_production_login_settings_pass() -> None:
    production_settings().validate()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"citizen_min_acr": "low"}, "PORTAL_CITIZEN_MIN_ACR must be at least substantial"),
        ({"citizen_min_acr": "medium"}, "PORTAL_CITIZEN_MIN_ACR must be one of"),
        (
            {
                "citizen_oidc": OIDCProvider(
                    issuer="https://nemlog-in.example",
                    client_id="portal",
                    client_secret="s" * 32,
                    acr_values=("low",),
                )
            },
            "PORTAL_CITIZEN_OIDC_ACR_VALUES",
        ),
        (
            {
                "citizen_oidc": OIDCProvider(
                    issuer="http://idp.example", client_id="p", client_secret="s" * 32
                )
            },
            "PORTAL_CITIZEN_OIDC_ISSUER must be https",
        ),
        (
            {"staff_oidc": OIDCProvider(issuer="https://idp.example", client_id="p")},
            "PORTAL_STAFF_OIDC_CLIENT_SECRET",
        ),
        ({"session_idle_minutes": 240}, "PORTAL_SESSION_IDLE_MINUTES"),
        ({"session_absolute_hours": 48}, "PORTAL_SESSION_ABSOLUTE_HOURS"),
        ({"session_idle_minutes": 0}, "session timeouts"),
        ({"oidc_leeway_seconds": 3600}, "PORTAL_OIDC_LEEWAY_SECONDS"),
    ],
)
def test_unsafe_production_login_settings_are_refused(
    overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        production_settings(**overrides).validate()
    assert any(problem in p for p in excinfo.value.problems), excinfo.value.problems


def test_development_may_use_a_low_minimum() -> None:
    Settings.load(environ={}, overrides={"citizen_min_acr": "low"}).validate()


def test_min_acr_from_environment() -> None:
    settings = Settings.load(environ={"PORTAL_CITIZEN_MIN_ACR": "high"})
    assert settings.citizen_min_acr == "high"


@pytest.mark.parametrize(
    ("acr", "rank"),
    [
        ("low", 0),
        ("substantial", 1),
        (NSIS + "High", 2),
        (NSIS + "Substantial", 1),
        ("", -1),
        (None, -1),
        ("urn:other", -1),
    ],
)
def test_loa_rank(acr: str | None, rank: int) -> None:
    assert loa_rank(acr) == rank


@pytest.mark.parametrize("acr", ["low", None, "", "urn:unknown", NSIS + "Low"])
def test_assurance_below_minimum_is_refused(acr: str | None) -> None:
    with pytest.raises(LoginRefused) as excinfo:
        check_assurance(acr, "substantial")
    assert excinfo.value.code == "login-assurance-too-low"


@pytest.mark.parametrize("acr", ["substantial", "high", NSIS + "Substantial", NSIS + "High"])
def test_assurance_at_or_above_minimum_passes(acr: str) -> None:
    check_assurance(acr, "substantial")


def test_high_minimum_refuses_substantial() -> None:
    with pytest.raises(LoginRefused):
        check_assurance("substantial", "high")


@pytest.mark.parametrize(
    ("claim", "role"),
    [
        ("sagsbehandler", "caseworker"),
        (["Caseworker"], "caseworker"),
        (["sagsbehandler", "revisor"], "auditor"),
        (["tilsyn", "administrator"], "admin"),
    ],
)
def test_staff_role_mapping(claim: object, role: str) -> None:
    assert map_staff_role(claim) == role


@pytest.mark.parametrize("claim", [None, "", [], ["chef"], "root", 42])
def test_unknown_staff_role_is_refused(claim: object) -> None:
    with pytest.raises(LoginRefused):
        map_staff_role(claim)
