"""Settings that pass production validation, for tests that break one thing at a time."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from portal.config import OIDCProvider, Settings


def strong(label: str) -> str:
    """A fixed key that passes the production checks (as random as a real one looks)."""
    return base64.urlsafe_b64encode(hashlib.sha256(label.encode()).digest()).decode()


STRONG = strong("secret")
STRONG_KEY = strong("encryption")  # also 32 bytes of urlsafe base64: an AES key


def production_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "production",
        "secret_key": STRONG,
        "encryption_key": STRONG_KEY,
        "lookup_key": strong("lookup"),
        "audit_checkpoint_key": strong("checkpoint"),
        "database_url": "postgresql+psycopg://db/portal",
        "base_url": "https://forklaring.kk.dk",
        "citizen_oidc": OIDCProvider(
            issuer="https://nemlog-in.example", client_id="portal", client_secret=strong("oidc")
        ),
    }
    values.update(overrides)
    return Settings.load(environ={}, overrides=values)


def environment(**values: Any) -> dict[str, str]:
    """This process's environment plus ``PORTAL_*`` variables for the given settings, as a
    child process (gunicorn, a Celery worker, ``import wsgi``) reads them."""
    portal = {f"PORTAL_{name.upper()}": str(value) for name, value in values.items()}
    return {**os.environ, **portal}
