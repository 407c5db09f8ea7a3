"""``flask --app wsgi systems|models ...``: administering machine clients and model versions.
Each command commits its own work. (``jobs``: ``portal.decisions.cli``.)"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.orm import Session

from portal.db_session import get_db
from portal.errors import PortalError
from portal.registry import admin


def _timestamp(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-12-31T00:00:00Z") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-12-31T00:00:00Z")
    return moment.astimezone(dt.UTC)


def _model_ref(value: str) -> tuple[str, str | None]:
    """``MODEL`` or ``MODEL/VERSION`` (a model name has no slash; a version may)."""
    name, slash, version = value.partition("/")
    if not name or (slash and not version):
        raise click.BadParameter("use MODEL or MODEL/VERSION, e.g. ledighed/2026.1")
    return name, version or None


def _shown(name: str, version: str | None) -> str:
    return f"{name} {version}" if version else f"{name} (every version)"


def _describe(exc: PortalError) -> str:
    from flask import current_app
    from flask_babel import force_locale

    # messages may be lazy translations, which need a request context to render
    with current_app.test_request_context(), force_locale("en"):
        message = str(exc.message)
    lines = [f"{exc.code}: {message}"]
    lines += [f"  {d.get('field')}: {d.get('code')} {d.get('message', '')}" for d in exc.details]
    return "\n".join(lines)


def register(app: Flask) -> None:
    @contextmanager
    def unit_of_work() -> Iterator[Session]:
        try:
            with get_db(app).transaction() as session:
                yield session
        except PortalError as exc:
            raise click.ClickException(_describe(exc)) from None

    # --- systems ------------------------------------------------------------------------------

    @app.cli.group("systems")
    def systems() -> None:
        """Decision-support systems that post to the API, and their secrets."""

    @systems.command("create")
    @click.argument("name")
    @click.option("--unit", required=True, help="The responsible unit (forvaltning).")
    def systems_create(name: str, unit: str) -> None:
        """Create a system; prints its webhook secret once (it is stored encrypted)."""
        with unit_of_work() as session:
            _, secret = admin.create_system(session, name, unit)
        click.echo(f"created system {name}")
        click.echo(f"webhook secret (shown once, keep it safe): {secret}")

    @systems.command("rotate-secret")
    @click.argument("name")
    @click.option(
        "--old-valid-until",
        default=None,
        help="When the current secret(s) stop working (ISO 8601; default: in 7 days).",
    )
    def systems_rotate(name: str, old_valid_until: str | None) -> None:
        """Add a new secret; the old one stays valid until --old-valid-until."""
        until = _timestamp(old_valid_until) if old_valid_until else None
        with unit_of_work() as session:
            secret = admin.rotate_secret(session, name, old_valid_until=until)
        click.echo(f"new webhook secret for {name} (shown once): {secret}")

    @systems.command("grant")
    @click.argument("name")
    @click.argument("model", metavar="MODEL[/VERSION]")
    def systems_grant(name: str, model: str) -> None:
        """Let system NAME post decisions to MODEL (every version) or MODEL/VERSION."""
        model_name, version = _model_ref(model)
        with unit_of_work() as session:
            admin.grant_model(session, name, model_name, version)
        click.echo(f"granted {name}: {_shown(model_name, version)}")

    @systems.command("revoke")
    @click.argument("name")
    @click.argument("model", metavar="MODEL[/VERSION]")
    def systems_revoke(name: str, model: str) -> None:
        """Remove a grant given with `systems grant` (the same MODEL[/VERSION])."""
        model_name, version = _model_ref(model)
        with unit_of_work() as session:
            admin.revoke_model(session, name, model_name, version)
        click.echo(f"revoked {name}: {_shown(model_name, version)}")

    @systems.command("disable")
    @click.argument("name")
    def systems_disable(name: str) -> None:
        """Refuse all further requests from a system."""
        with unit_of_work() as session:
            admin.disable_system(session, name)
        click.echo(f"disabled system {name}")

    # --- models ---------------------------------------------------------------------------------

    @app.cli.group("models")
    def models() -> None:
        """Model versions: register, activate, retire."""

    @models.command("register")
    @click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--background", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option(
        "--system",
        "system_name",
        required=True,
        help="The system that owns the version: it may post decisions, activate and retire.",
    )
    def models_register(
        manifest: Path, artifact: Path, background: Path | None, system_name: str
    ) -> None:
        """Validate MANIFEST against ARTIFACT (.skops) and register the version for --system."""
        from portal.api.jsonparse import parse_json

        try:
            manifest_value = parse_json(manifest.read_bytes())
        except PortalError as exc:
            raise click.ClickException(_describe(exc)) from None
        with unit_of_work() as session:
            result = admin.register_model(
                session,
                manifest_value,
                artifact.read_bytes(),
                background.read_bytes() if background else None,
                system=admin.get_system(session, system_name),
            )
            model = result.model
            summary = (model.name, model.version, model.artifact_sha256, model.warnings)
        verb = "registered" if result.created else "already registered (identical)"
        click.echo(f"{verb}: {summary[0]} {summary[1]} sha256={summary[2]}")
        for warning in summary[3]:
            click.echo(f"warning: {json.dumps(warning)}")

    @models.command("activate")
    @click.argument("name")
    @click.argument("version")
    def models_activate(name: str, version: str) -> None:
        """Let decisions name this version."""
        with unit_of_work() as session:
            admin.activate_model(session, name, version)
        click.echo(f"activated {name} {version}")

    @models.command("retire")
    @click.argument("name")
    @click.argument("version")
    def models_retire(name: str, version: str) -> None:
        """Stop accepting decisions for this version."""
        with unit_of_work() as session:
            admin.retire_model(session, name, version)
        click.echo(f"retired {name} {version}")
