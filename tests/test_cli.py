"""``flask --app wsgi db upgrade``: the schema, and an ``instance/`` folder only when it is used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from portal import config, create_app
from portal.config import prepare_instance_dir
from portal.db_session import get_db


@pytest.fixture
def instance_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the repository's ``instance/``, not there yet."""
    folder = tmp_path / "instance"
    monkeypatch.setattr(config, "INSTANCE_DIR", folder)
    return folder


def _upgrade(app_overrides: dict[str, Any], **overrides: Any) -> str:
    app = create_app({**app_overrides, **overrides})
    try:
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    finally:
        get_db(app).engine.dispose()
    assert result.exit_code == 0, result.output
    return str(app.config["SETTINGS"].database_url)


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


def test_a_database_elsewhere_creates_no_instance_folder(
    instance_dir: Path,
    app_overrides: dict[str, Any],
    committed_database_url: Callable[[str], str],
) -> None:
    # A SQLite file in a temporary folder, or a PostgreSQL database with
    # PORTAL_TEST_DATABASE_URL: either way the portal's tree is left alone.
    url = _upgrade(app_overrides, database_url=committed_database_url("_cli_upgrade"))
    assert _revision(url) is not None
    assert not instance_dir.exists()


def test_the_default_sqlite_database_gets_its_instance_folder(
    instance_dir: Path, app_overrides: dict[str, Any]
) -> None:
    url = _upgrade({k: v for k, v in app_overrides.items() if k != "database_url"})
    assert url == f"sqlite:///{instance_dir / 'portal.db'}"
    assert (instance_dir / "portal.db").is_file()
    assert _revision(url) is not None


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("sqlite:///{instance}/portal.db", "{instance}"),
        ("sqlite:///{instance}/sub/portal.db", "{instance}/sub"),
        ("sqlite:///file:{instance}/portal.db?mode=rwc&uri=true", "{instance}"),
        ("sqlite:///{instance}-other/portal.db", None),
        ("sqlite:///{tmp}/portal.db", None),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/portal", None),
    ],
)
def test_prepare_instance_dir_only_for_a_sqlite_file_inside_it(
    tmp_path: Path, url: str, folder: str | None
) -> None:
    instance = tmp_path / "instance"
    made = prepare_instance_dir(url.format(instance=instance, tmp=tmp_path), instance)
    if folder is None:
        assert made is None
        assert not instance.exists()
    else:
        assert made == Path(folder.format(instance=instance))
        assert made.is_dir()
