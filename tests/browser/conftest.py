"""A real HTTP server with a committed SQLite database of demo cases, and headless Chromium.

The app runs in werkzeug's server in a thread on 127.0.0.1 (a free port); the database
file is seeded with every demo citizen's cases by the factories in tests/factories_cases.py.
Chromium is Debian's (``/usr/bin/chromium``): Playwright cannot download its own here.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from factories_cases import SeededDatabase, seed_database_file
from werkzeug.serving import make_server

from portal import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def seeded_db(
    tmp_path_factory: pytest.TempPathFactory, app_overrides: dict[str, Any]
) -> SeededDatabase:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'portal.db'}"
    return seed_database_file({**app_overrides, "database_url": url, "worker": "off"})


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` in werkzeug's server in a thread on 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(seeded_db: SeededDatabase) -> Iterator[str]:
    with serve(create_app(seeded_db.overrides)) as base_url:
        yield base_url


@contextmanager
def oidc_portal_server(
    database: Path, app_overrides: dict[str, Any], *, staff: bool = False
) -> Iterator[tuple[str, Any, SeededDatabase]]:
    """The real OpenID provider and the portal (demo login off) on a seeded database file:
    yields (base URL, app, seeded). ``staff`` configures the staff login too."""
    from portal.config import OIDCProvider
    from portal.db_session import get_db
    from tests.auth.oidc_support import (
        CITIZEN_CLIENT,
        STAFF_CLIENT,
        PortalServer,
        ProviderProcess,
        signing_key,
    )

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    server = PortalServer()
    provider = ProviderProcess.start(server.redirect_uris, signing_key())
    app: Any = None
    try:
        overrides = {
            **app_overrides,
            "demo": False,
            "worker": "off",
            "database_url": f"sqlite:///{database}",
            # The redirect URI the provider has registered is built from this.
            "base_url": server.base_url,
            "citizen_oidc": OIDCProvider(
                issuer=provider.issuer, acr_values=("substantial",), **CITIZEN_CLIENT
            ),
        }
        if staff:
            overrides["staff_oidc"] = OIDCProvider(
                issuer=provider.issuer, scope="openid profile", **STAFF_CLIENT
            )
        seeded = seed_database_file(overrides)
        app = create_app(overrides)
        server.app = app
        yield server.base_url, app, seeded
    finally:
        provider.stop()
        server.stop()
        if app is not None:
            get_db(app).engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """``new_page(javascript=True, bypass_csp=False, width=None)``: a page in a fresh
    context (no cookies, Danish browser), ``width`` px wide (900 high) if given.
    ``bypass_csp`` only lets a test inject axe-core."""
    contexts = []

    def make(javascript: bool = True, bypass_csp: bool = False, width: int | None = None) -> Any:
        context = chromium.new_context(
            java_script_enabled=javascript,
            accept_downloads=True,
            locale="da-DK",
            bypass_csp=bypass_csp,
            **({"viewport": {"width": width, "height": 900}} if width else {}),
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def demo_login(page: Any, base: str, name: str, next_path: str = "/mine-sager") -> None:
    """Log in through the demo login page by clicking the person's button."""
    page.goto(f"{base}/login/demo?next={next_path}")
    page.get_by_role("button", name=f"Log ind som {name}").click()
    page.wait_for_url(f"{base}{next_path}")
