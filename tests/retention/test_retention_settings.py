"""The retention settings are validated: audit events are kept at least six months."""

from __future__ import annotations

import pytest

from portal.config import ConfigError, Settings
from portal.config_checks import MIN_AUDIT_RETENTION_DAYS


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"audit_retention_days": MIN_AUDIT_RETENTION_DAYS - 1}, "PORTAL_AUDIT_RETENTION_DAYS"),
        ({"audit_retention_days": 36_501}, "PORTAL_AUDIT_RETENTION_DAYS"),
        ({"retention_interval_seconds": 59}, "PORTAL_RETENTION_INTERVAL_SECONDS"),
    ],
)
def test_bad_retention_settings_refuse_to_start(overrides, words) -> None:
    with pytest.raises(ConfigError, match=words):
        Settings.load(environ={}, overrides=overrides).validate()


def test_six_months_is_allowed_and_read_from_the_environment() -> None:
    settings = Settings.load(environ={"PORTAL_AUDIT_RETENTION_DAYS": "183"})
    settings.validate()
    assert settings.audit_retention_days == MIN_AUDIT_RETENTION_DAYS == 183
