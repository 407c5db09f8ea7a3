"""Settings that pass production validation, for tests that break one thing at a time."""

from __future__ import annotations

import base64
import os
from typing import Any

from portal.config import OIDCProvider, Settings

STRONG = "x" * 40
STRONG_KEY = base64.urlsafe_b64encode(b"p" * 32).decode()


def production_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "production",
        "secret_key": STRONG,
        "encryption_key": STRONG_KEY,
        "lookup_key": STRONG,
        "audit_checkpoint_key": "c" * 40,
        "database_url": "postgresql+psycopg://db/portal",
        "base_url": "https://forklaring.kk.dk",
        "citizen_oidc": OIDCProvider(
            issuer="https://nemlog-in.example", client_id="portal", client_secret="s" * 32
        ),
    }
    values.update(overrides)
    return Settings.load(environ={}, overrides=values)


def environment(**values: Any) -> dict[str, str]:
    """This process's environment plus ``PORTAL_*`` variables for the given settings, as a
    child process (gunicorn, a Celery worker, ``import wsgi``) reads them."""
    portal = {f"PORTAL_{name.upper()}": str(value) for name, value in values.items()}
    return {**os.environ, **portal}
