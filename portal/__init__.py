"""Forklaringsportalen: the Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from portal.config import Settings

__all__ = ["create_app"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``overrides`` wins over ``PORTAL_*`` variables, which win over defaults."""
    from portal import db_session, errors, i18n, security
    from portal.auth import sessions as auth_sessions
    from portal.crypto import KeyRing, install_key_ring
    from portal.db import Database
    from portal.decisions import dispatch

    settings = Settings.load(overrides=overrides)
    settings.validate()

    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SETTINGS=settings,
        TESTING=settings.testing,
        PROPAGATE_UNEXPECTED=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_DEFAULT=settings.ratelimit_default,
        RATELIMIT_ENABLED=not settings.testing,
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_SORT_KEYS=False,
    )
    logging.basicConfig(level=logging.INFO)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    install_key_ring(KeyRing.from_config(settings.encryption_key))
    database = Database(settings.database_url)
    db_session.init_app(app, database)
    # Who runs the explanation jobs (a thread here, Celery, or nobody): chosen once, here.
    dispatch.init_app(app, dispatch.from_settings(settings, database))
    i18n.init_app(app)
    security.init_app(app)
    auth_sessions.init_app(app, settings)
    errors.register_error_handlers(app)
    _register_blueprints(app)
    _register_cli(app)

    @app.context_processor
    def _site() -> dict[str, Any]:
        return {"settings": settings}

    return app


def _register_blueprints(app: Flask) -> None:
    from portal.auth.views import bp as auth_bp
    from portal.cases.views import bp as cases_bp
    from portal.letters.verify_views import bp as verify_bp
    from portal.letters.views import bp as letters_bp
    from portal.main.views import bp as main_bp
    from portal.registry.views import bp as registry_bp
    from portal.staff.views import bp as staff_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(registry_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(letters_bp)
    app.register_blueprint(verify_bp)

    from portal.supervision.views import bp as supervision_bp

    app.register_blueprint(supervision_bp)

    from portal.api.views import bp as api_bp

    app.register_blueprint(api_bp)


def _register_cli(app: Flask) -> None:
    from portal.cli import register

    register(app)

    from portal.decisions.cli import register as register_jobs_cli
    from portal.demo.seed import register as register_demo_cli
    from portal.oversight.cli import register as register_audit_cli
    from portal.registry.cli import register as register_registry_cli
    from portal.retention.cli import register as register_retention_cli

    register_registry_cli(app)
    register_jobs_cli(app)
    register_demo_cli(app)
    register_audit_cli(app)
    register_retention_cli(app)

    from portal.supervision.cli import register as register_supervision_cli

    register_supervision_cli(app)
