"""flask systems / models / jobs commands (each commits its own work)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from portal.oversight.models import AuditEvent
from portal.registry.models import ModelGrant, ModelVersion, System, WebhookSecret


@pytest.fixture
def cli(app, connection):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_systems_create_prints_the_secret_once_and_stores_it_encrypted(cli, session) -> None:
    result = cli("systems", "create", "fagsystem", "--unit", "Jobcenter")
    assert result.exit_code == 0, result.output
    secret = re.search(r"(whsec_\S+)", result.output).group(1)
    system = session.scalar(select(System).where(System.name == "fagsystem"))
    assert system.responsible_unit == "Jobcenter"
    stored = session.scalar(select(WebhookSecret).where(WebhookSecret.system_id == system.id))
    assert stored.secret == secret
    raw = session.connection().exec_driver_sql("SELECT secret FROM webhook_secret").scalar()
    assert secret.encode() not in bytes(raw)
    again = cli("systems", "create", "fagsystem", "--unit", "Jobcenter")
    assert again.exit_code != 0
    assert "system-exists" in again.output


def test_rotate_secret_keeps_the_old_one_until_the_given_date(cli, session) -> None:
    cli("systems", "create", "rot", "--unit", "U")
    result = cli("systems", "rotate-secret", "rot", "--old-valid-until", "2026-12-31T00:00:00Z")
    assert result.exit_code == 0, result.output
    rows = session.scalars(select(WebhookSecret).order_by(WebhookSecret.id)).all()
    assert [r.valid_until for r in rows] == [dt.datetime(2026, 12, 31, tzinfo=dt.UTC), None]
    assert rows[1].secret in result.output
    bad = cli("systems", "rotate-secret", "rot", "--old-valid-until", "tomorrow")
    assert bad.exit_code != 0


def test_rotate_default_is_seven_days(cli, session) -> None:
    cli("systems", "create", "rot7", "--unit", "U")
    cli("systems", "rotate-secret", "rot7")
    old = session.scalars(select(WebhookSecret).order_by(WebhookSecret.id)).first()
    delta = old.valid_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < delta <= dt.timedelta(days=7)


def test_disable(cli, session) -> None:
    cli("systems", "create", "off", "--unit", "U")
    assert cli("systems", "disable", "off").exit_code == 0
    assert session.scalar(select(System.status).where(System.name == "off")) == "disabled"
    assert cli("systems", "disable", "nosuch").exit_code != 0


@pytest.fixture(scope="module")
def bygge():
    from portal.demo import build_demo_models

    return next(m for m in build_demo_models() if m.name == "byggesagsscreening")


def bygge_files(bygge, tmp_path) -> tuple[str, str, str]:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(bygge.manifest))
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(bygge.artifact)
    background = tmp_path / "bg.csv"
    background.write_bytes(bygge.background_csv)
    return str(manifest), str(artifact), str(background)


def test_models_register_activate_retire(cli, session, bygge, tmp_path) -> None:
    manifest, artifact, background = bygge_files(bygge, tmp_path)
    cli("systems", "create", "ejer", "--unit", "U")
    args = ("models", "register", manifest, artifact, "--background", background)
    result = cli(*args, "--system", "ejer")
    assert result.exit_code == 0, result.output
    assert "registered: byggesagsscreening 2026.1" in result.output
    owner = session.scalar(select(System.id).where(System.name == "ejer"))
    assert session.scalar(select(ModelVersion.registered_by_system_id)) == owner
    assert "already registered" in cli(*args, "--system", "ejer").output
    assert cli("models", "activate", "byggesagsscreening", "2026.1").exit_code == 0
    model = session.scalar(select(ModelVersion))
    session.refresh(model)
    assert model.status == "active"
    assert cli("models", "retire", "byggesagsscreening", "2026.1").exit_code == 0
    session.refresh(model)
    assert model.status == "retired"


def test_models_register_reports_every_problem(cli, session, bygge, tmp_path) -> None:
    manifest = tmp_path / "manifest.json"
    broken = dict(bygge.manifest)
    broken.pop("title")
    manifest.write_text(json.dumps(broken))
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"not a zip")
    cli("systems", "create", "ejer", "--unit", "U")
    result = cli("models", "register", str(manifest), str(artifact), "--system", "ejer")
    assert result.exit_code != 0
    assert "missing-text" in result.output
    assert "invalid-artifact" in result.output
    assert session.scalar(select(ModelVersion)) is None


def test_models_register_needs_an_existing_owning_system(cli, session, bygge, tmp_path) -> None:
    manifest, artifact, _ = bygge_files(bygge, tmp_path)
    without = cli("models", "register", manifest, artifact)
    assert without.exit_code == 2
    assert "--system" in without.output
    unknown = cli("models", "register", manifest, artifact, "--system", "nosuch")
    assert unknown.exit_code == 1
    assert "not-found" in unknown.output
    assert session.scalar(select(ModelVersion)) is None


@pytest.fixture
def registered(cli, bygge, tmp_path) -> None:
    manifest, artifact, background = bygge_files(bygge, tmp_path)
    cli("systems", "create", "ejer", "--unit", "U")
    cli("systems", "create", "laaner", "--unit", "U")
    args = ("models", "register", manifest, artifact, "--background", background)
    result = cli(*args, "--system", "ejer")
    assert result.exit_code == 0, result.output


def grants(session) -> list[tuple[str, str, str | None]]:
    rows = session.execute(
        select(System.name, ModelGrant.model_name, ModelGrant.model_version)
        .join(System, System.id == ModelGrant.system_id)
        .order_by(ModelGrant.id)
    )
    return [tuple(row) for row in rows]


def test_systems_grant_and_revoke_a_model_or_one_version(cli, session, registered) -> None:
    every = cli("systems", "grant", "laaner", "byggesagsscreening")
    assert every.exit_code == 0, every.output
    assert "every version" in every.output
    one = cli("systems", "grant", "laaner", "byggesagsscreening/2026.1")
    assert one.exit_code == 0, one.output
    assert cli("systems", "grant", "laaner", "byggesagsscreening").exit_code == 0  # no-op
    assert grants(session) == [
        ("laaner", "byggesagsscreening", None),
        ("laaner", "byggesagsscreening", "2026.1"),
    ]
    assert cli("systems", "revoke", "laaner", "byggesagsscreening").exit_code == 0
    assert grants(session) == [("laaner", "byggesagsscreening", "2026.1")]
    again = cli("systems", "revoke", "laaner", "byggesagsscreening")
    assert again.exit_code == 1
    assert "not-found" in again.output
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("system.model-%"))
    ).all()
    assert actions == ["system.model-granted", "system.model-granted", "system.model-revoked"]


@pytest.mark.parametrize(
    "args",
    [
        ("nosuch", "byggesagsscreening"),  # no such system
        ("laaner", "nosuch"),  # no such model
        ("laaner", "byggesagsscreening/9.9"),  # no such version
        ("laaner", "byggesagsscreening/"),  # empty version
        ("laaner", "/2026.1"),  # empty name
    ],
)
def test_systems_grant_refuses_what_does_not_exist(cli, session, registered, args) -> None:
    result = cli("systems", "grant", *args)
    assert result.exit_code != 0
    assert grants(session) == []


def test_jobs_retry_needs_one_target(cli) -> None:
    assert cli("jobs", "retry").exit_code != 0
    result = cli("jobs", "retry", "--all-failed")
    assert result.exit_code == 0
    assert "0 job(s)" in result.output
