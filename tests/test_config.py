"""Configuration fails closed: exact choices, typed and bounded values, URLs and rate
limits that parse, and no key in production that is weak by its content."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from settings_support import STRONG, production_settings, strong

from portal import create_app
from portal.config import ConfigError, OIDCProvider, Settings

DEV = Settings.load(environ={})


def _problems(**overrides: object) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        production_settings(**overrides).validate()
    return excinfo.value.problems


def _dev_problems(**overrides: object) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        Settings.load(environ={}, overrides=overrides).validate()
    return excinfo.value.problems


def _aes(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


# --- PORTAL_ENV and the other choices: exactly one of the documented values ---------------


@pytest.mark.parametrize(
    "value", ["Production", "PRODUCTION", "prod", " production", "production ", "production\n",
              "", "dev", "testing", "Development"]
)  # fmt: skip
def test_portal_env_accepts_only_its_documented_values(value: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.load(environ={"PORTAL_ENV": value})
    (problem,) = excinfo.value.problems
    assert "PORTAL_ENV must be exactly one of development, production, test" in problem
    assert repr(value) in problem  # the message shows the stray space or capital


@pytest.mark.parametrize("value", ["Production", "prod", "production "])
def test_a_misspelt_environment_never_starts_the_app(monkeypatch, value: str) -> None:
    """Today's fault: ``Production`` ran as development, with development keys and demo."""
    monkeypatch.setenv("PORTAL_ENV", value)
    with pytest.raises(ConfigError, match="PORTAL_ENV"):
        create_app({"demo": True})
    monkeypatch.delenv("PORTAL_ENV")
    with pytest.raises(ConfigError, match="PORTAL_ENV"):
        create_app({"env": value})


@pytest.mark.parametrize("value", ["development", "production", "test"])
def test_portal_env_documented_values_are_read(value: str) -> None:
    assert Settings.load(environ={"PORTAL_ENV": value}).env == value


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORTAL_WORKER", "Celery"),
        ("PORTAL_WORKER", "in-process"),
        ("PORTAL_WORKER", " off"),
        ("PORTAL_SESSION_BACKEND", "Redis"),
        ("PORTAL_SESSION_BACKEND", "memory"),
    ],
)
def test_enum_like_variables_are_exact(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable} must be exactly one of"):
        Settings.load(environ={variable: value})


@pytest.mark.parametrize("value", ["Substantial", " high", "medium", "substantial "])
def test_the_minimum_assurance_level_is_exact(value: str) -> None:
    assert any("PORTAL_CITIZEN_MIN_ACR" in p for p in _dev_problems(citizen_min_acr=value))


# --- types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORTAL_WEBHOOK_TOLERANCE_SECONDS", "300 "),
        ("PORTAL_WEBHOOK_TOLERANCE_SECONDS", "5m"),
        ("PORTAL_MAX_WEBHOOK_BYTES", "256KiB"),
        ("PORTAL_MAX_WEBHOOK_BYTES", "1e6"),
        ("PORTAL_MAX_BATCH_ITEMS", "1_000"),
        ("PORTAL_SESSION_IDLE_MINUTES", ""),
        ("PORTAL_DEMO", "maybe"),
        ("PORTAL_DEMO", " true"),
        ("PORTAL_EXPLANATION_COUNTERFACTUALS", "ja"),
    ],
)
def test_a_variable_that_is_not_its_type_is_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.load(environ={variable: value})
    assert any(variable in p and repr(value) in p for p in excinfo.value.problems)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"demo": "false"}, "PORTAL_DEMO"),  # a non-empty string would be true
        ({"max_webhook_bytes": "1000"}, "PORTAL_MAX_WEBHOOK_BYTES"),
        ({"trusted_proxies": True}, "PORTAL_TRUSTED_PROXIES"),
        ({"webhook_tolerance_seconds": 1.5}, "PORTAL_WEBHOOK_TOLERANCE_SECONDS"),
        ({"worker": "threads"}, "PORTAL_WORKER"),
        ({"base_url": None}, "PORTAL_BASE_URL"),
        ({"citizen_oidc": OIDCProvider(acr_values=["substantial"])}, "ACR_VALUES"),  # type: ignore[arg-type]
    ],
)
def test_an_override_of_the_wrong_type_is_refused(overrides: dict[str, object], name: str) -> None:
    assert any(name in p for p in _dev_problems(**overrides))


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORTAL_DEMO", "TRUE", True),
        ("PORTAL_DEMO", "off", False),
        ("PORTAL_TRUSTED_PROXIES", "1", 1),
        ("PORTAL_WEBHOOK_TOLERANCE_SECONDS", "120", 120),
    ],
)
def test_well_formed_variables_are_read(variable: str, value: str, expected: object) -> None:
    settings = Settings.load(environ={variable: value})
    assert getattr(settings, variable.removeprefix("PORTAL_").lower()) == expected
    settings.validate()


# --- ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook_tolerance_seconds", 0),
        ("webhook_tolerance_seconds", -300),
        ("webhook_tolerance_seconds", 86_400),
        ("max_webhook_bytes", 0),
        ("max_webhook_bytes", 100 * 1024 * 1024),
        ("max_batch_bytes", 10),
        ("max_batch_items", 0),
        ("max_upload_bytes", 0),
        ("oidc_timeout_seconds", 0),
        ("oidc_timeout_seconds", 3600),
        ("oidc_leeway_seconds", -1),
        ("worker_batch_size", 0),
        ("worker_poll_ms", 0),
        ("job_lease_seconds", 0),
        ("job_backoff_seconds", 0),
        ("job_redispatch_seconds", 0),
        ("explanation_job_attempts", 0),
        ("session_idle_minutes", 0),
        ("session_absolute_hours", 0),
        ("session_absolute_hours", 24 * 365),
        ("audit_retention_days", 0),
        ("audit_seal_seconds", 0),
        ("request_response_days", 31),
        ("accessibility_response_workdays", 0),
        ("trusted_proxies", -1),
        ("trusted_proxies", 100),
    ],
)
def test_out_of_range_numbers_are_refused(name: str, value: int) -> None:
    assert any(f"PORTAL_{name.upper()}" in p for p in _dev_problems(**{name: value})), name


def test_every_number_setting_has_a_range() -> None:
    """A new integer setting without a range fails here (its 0 or -1 would pass)."""
    from portal.config_checks import _RANGES

    integers = {f.name for f in dataclasses.fields(Settings) if f.type == "int"}
    assert integers == set(_RANGES)


def test_body_limits_must_nest() -> None:
    problems = _dev_problems(max_webhook_bytes=1024 * 1024, max_batch_bytes=512 * 1024)
    assert any("PORTAL_MAX_BATCH_BYTES" in p for p in problems)


# --- URLs and rate limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"base_url": "forklaring.kk.dk"}, "PORTAL_BASE_URL"),
        ({"base_url": "ftp://forklaring.kk.dk"}, "PORTAL_BASE_URL"),
        ({"base_url": "https://"}, "PORTAL_BASE_URL"),
        ({"base_url": "https://forklaring.kk.dk "}, "PORTAL_BASE_URL"),
        ({"base_url": "https://forklaring.kk.dk:port"}, "PORTAL_BASE_URL"),
        ({"base_url": "https://forklaring.kk.dk/?next=evil"}, "PORTAL_BASE_URL"),
        ({"ratelimit_storage_uri": "redis//127.0.0.1"}, "PORTAL_RATELIMIT_STORAGE_URI"),
        ({"ratelimit_storage_uri": "Memory://"}, "PORTAL_RATELIMIT_STORAGE_URI"),
        ({"worker": "celery", "celery_broker_url": "http://broker"}, "PORTAL_CELERY_BROKER_URL"),
        ({"session_backend": "redis", "redis_url": "127.0.0.1:6379"}, "PORTAL_REDIS_URL"),
        ({"database_url": "not a database"}, "PORTAL_DATABASE_URL"),
        ({"contact_email": "forklaring"}, "PORTAL_CONTACT_EMAIL"),
        ({"citizen_oidc": OIDCProvider(issuer="idp.example", client_id="p")}, "OIDC_ISSUER"),
    ],
)
def test_urls_that_do_not_parse_are_refused(overrides: dict[str, object], name: str) -> None:
    assert any(name in p for p in _dev_problems(**overrides))


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"municipality": ""}, "PORTAL_MUNICIPALITY"),
        ({"solution_name": " Forklaring"}, "PORTAL_SOLUTION_NAME"),
        ({"contact_phone": "ring til os"}, "PORTAL_CONTACT_PHONE"),
        ({"citizen_oidc": OIDCProvider(scope="profile")}, "PORTAL_CITIZEN_OIDC_SCOPE"),
        ({"staff_oidc": OIDCProvider(role_claim="")}, "PORTAL_STAFF_OIDC_ROLE_CLAIM"),
    ],
)
def test_texts_and_claims_are_checked(overrides: dict[str, object], name: str) -> None:
    assert any(name in p for p in _dev_problems(**overrides))


def test_a_danish_phone_number_is_accepted() -> None:
    Settings.load(environ={}, overrides={"contact_phone": "+45 33 66 33 66"}).validate()


@pytest.mark.parametrize("value", ["lots", "300 per fortnight", "", "per minute", "300/minute/x"])
@pytest.mark.parametrize(
    "name", ["ratelimit_default", "api_ratelimit", "login_ratelimit", "request_form_ratelimit"]
)
def test_rate_limits_that_do_not_parse_are_refused(name: str, value: str) -> None:
    assert any(f"PORTAL_{name.upper()}" in p for p in _dev_problems(**{name: value}))


# --- keys weak by content, in production ----------------------------------------------------

WEAK_TEXT_KEYS = {
    "one character": "a" * 40,
    "two characters": "ab" * 20,
    "a repeated word": "Kommune1" * 5,
    "ten digits repeated": "0123456789" * 4,
    "a long run": "Zq8-Lx9_Tz7Pk2Rb" + "x" * 8 + "Nw4Hs6Jd1Fm5Gc0Y",
    "whitespace inside": STRONG[:20] + " " + STRONG[20:],
    "a trailing newline": STRONG + "\n",
    "a known word": "changeme",
    "too short": STRONG[:31],
}
TEXT_KEYS = {
    "secret_key": "PORTAL_SECRET_KEY",
    "lookup_key": "PORTAL_LOOKUP_KEY",
    "audit_checkpoint_key": "PORTAL_AUDIT_CHECKPOINT_KEY",
}


@pytest.mark.parametrize("weak", WEAK_TEXT_KEYS.values(), ids=WEAK_TEXT_KEYS.keys())
@pytest.mark.parametrize("field", TEXT_KEYS)
def test_production_refuses_text_keys_weak_by_content(field: str, weak: str) -> None:
    assert any(TEXT_KEYS[field] in p for p in _problems(**{field: weak}))


WEAK_CLIENT_SECRETS = {k: v for k, v in WEAK_TEXT_KEYS.items() if k != "too short"}  # 16 do


@pytest.mark.parametrize("weak", WEAK_CLIENT_SECRETS.values(), ids=WEAK_CLIENT_SECRETS.keys())
def test_production_refuses_an_oidc_client_secret_weak_by_content(weak: str) -> None:
    provider = OIDCProvider(issuer="https://idp.example", client_id="p", client_secret=weak)
    problems = _problems(staff_oidc=provider)
    assert any("PORTAL_STAFF_OIDC_CLIENT_SECRET" in p for p in problems)


@pytest.mark.parametrize(
    "dev_key",
    [DEV.secret_key, DEV.lookup_key, DEV.audit_checkpoint_key, DEV.encryption_key],
    ids=["dev-secret", "dev-lookup", "dev-checkpoint", "dev-encryption"],
)
@pytest.mark.parametrize("field", TEXT_KEYS)
def test_production_refuses_any_development_default_in_any_key(field: str, dev_key: str) -> None:
    assert any(TEXT_KEYS[field] in p for p in _problems(**{field: dev_key}))


WEAK_AES_KEYS = {
    "all zero": bytes(32),
    "one repeated byte": b"\x01" * 32,
    "the test key": b"k" * 32,
    "a repeated pair": b"\x00\xff" * 16,
    "a repeated 8-byte word": b"Kommune!" * 4,
}


@pytest.mark.parametrize("raw", WEAK_AES_KEYS.values(), ids=WEAK_AES_KEYS.keys())
def test_production_refuses_a_weak_aes_key(raw: bytes) -> None:
    for ring in (_aes(raw), f"{strong('new')},{_aes(raw)}"):
        assert any("PORTAL_ENCRYPTION_KEY entry" in p for p in _problems(encryption_key=ring))


def test_weak_keys_are_fine_outside_production() -> None:
    """Content checks are production's (the test suite's key is b"k" * 32)."""
    Settings.load(environ={}, overrides={"encryption_key": _aes(b"k" * 32)}).validate()
    Settings.load(environ={}, overrides={"secret_key": "a" * 40}).validate()


@pytest.mark.parametrize(
    "entry",
    [
        _aes(b"p" * 32)[:20] + "!" + _aes(b"p" * 32)[21:],  # a character outside the alphabet
        _aes(b"p" * 32)[:20] + " " + _aes(b"p" * 32)[20:],  # whitespace inside
        _aes(b"p" * 32).rstrip("="),  # padding missing
        base64.b64encode(b"\xfb" * 32).decode(),  # standard, not urlsafe, alphabet
        _aes(b"p" * 31),
    ],
    ids=["bad-character", "whitespace", "no-padding", "not-urlsafe", "31-bytes"],
)
def test_encryption_keys_are_decoded_strictly_everywhere(entry: str) -> None:
    assert any("PORTAL_ENCRYPTION_KEY entry 0" in p for p in _dev_problems(encryption_key=entry))


def test_the_key_ring_names_no_key_twice() -> None:
    problems = _problems(encryption_key=f"{strong('a')},{strong('a')}")
    assert any("same key twice" in p for p in problems)


@pytest.mark.parametrize(
    ("overrides", "pair"),
    [
        ({"lookup_key": STRONG}, ("PORTAL_SECRET_KEY", "PORTAL_LOOKUP_KEY")),
        ({"audit_checkpoint_key": STRONG}, ("PORTAL_SECRET_KEY", "PORTAL_AUDIT_CHECKPOINT_KEY")),
        (
            {"audit_checkpoint_key": strong("lookup")},
            ("PORTAL_LOOKUP_KEY", "PORTAL_AUDIT_CHECKPOINT_KEY"),
        ),
        ({"secret_key": strong("encryption")}, ("PORTAL_SECRET_KEY", "PORTAL_ENCRYPTION_KEY")),
        (
            {
                "citizen_oidc": OIDCProvider(
                    issuer="https://nemlog-in.example", client_id="portal", client_secret=STRONG
                )
            },
            ("PORTAL_SECRET_KEY", "PORTAL_CITIZEN_OIDC_CLIENT_SECRET"),
        ),
    ],
)
def test_production_refuses_one_key_for_two_purposes(
    overrides: dict[str, object], pair: tuple[str, str]
) -> None:
    assert any(pair[0] in p and pair[1] in p for p in _problems(**overrides))


def test_strong_production_settings_start() -> None:
    production_settings().validate()
