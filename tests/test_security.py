"""Security headers, CSP without unsafe-inline, and errors that never leak a stack trace."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from flask import Flask

from portal.errors import NotFound

PAGES = ["/", "/algoritmer", "/tilgaengelighed", "/privatliv", "/kontakt", "/findes-ikke"]


@pytest.mark.parametrize("url", [*PAGES, "/api/v1/findes-ikke", "/healthz"])
def test_every_response_has_security_headers(client, url: str) -> None:
    headers = client.get(url).headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_personal_and_error_responses_are_not_stored(client) -> None:
    assert client.get("/findes-ikke").headers["Cache-Control"] == "private, no-store"
    assert client.get("/algoritmer/findes-ikke").headers["Cache-Control"] == "private, no-store"
    assert client.get("/healthz").headers["Cache-Control"] == "private, no-store"
    assert client.get("/algoritmer").headers["Cache-Control"].startswith("public")


def test_templates_have_no_inline_script_or_style(project_root: Path) -> None:
    offenders = []
    for template in (project_root / "portal").rglob("templates/**/*.html"):
        source = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source) or "<style" in source:
            offenders.append(str(template))
        if re.search(r"\sstyle=|\son[a-z]+=", source):
            offenders.append(str(template))
    assert offenders == []


def test_api_error_is_json_with_a_stable_code(client) -> None:
    response = client.get("/api/v1/findes-ikke")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": {
            "code": "not-found",
            "message": "We could not find the page you asked for.",
            "details": [],
        }
    }


def test_html_error_is_a_translated_page(client) -> None:
    response = client.get("/findes-ikke")
    assert response.status_code == 404
    assert "Siden findes ikke" in response.get_data(as_text=True)


def test_unexpected_error_shows_no_stack_trace(app_overrides) -> None:
    from portal import create_app

    app: Flask = create_app({**app_overrides, "env": "development"})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail 0101901234")

    @app.get("/api/v1/boom")
    def api_boom() -> str:
        raise RuntimeError("secret detail 0101901234")

    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500
    assert "secret detail" not in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    api = client.get("/api/v1/boom")
    assert api.status_code == 500
    assert api.get_json()["error"]["code"] == "internal-error"
    assert "secret" not in api.get_data(as_text=True)


def test_domain_errors_roll_back_the_request(app_overrides, connection, session) -> None:
    from portal import create_app
    from portal.db_session import get_db, request_session, writes
    from portal.registry.models import System

    app = create_app(app_overrides)
    get_db(app).session_factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    client = app.test_client()

    @app.get("/_test/rollback")
    @writes
    def rollback_view() -> str:
        request_session().add(System(name="half-stored", responsible_unit="x"))
        request_session().flush()
        raise NotFound()

    assert client.get("/_test/rollback").status_code == 404
    assert session.query(System).filter_by(name="half-stored").count() == 0


def test_login_routes_are_rate_limited_per_client(app_overrides, connection) -> None:
    """With limits on (they are off in the other tests), the login routes answer 429 with a
    translated page once a client passes the login limit."""
    from portal import create_app
    from portal.db_session import get_db

    limited = create_app({**app_overrides, "env": "development", "login_ratelimit": "3 per minute"})
    get_db(limited).session_factory.configure(
        bind=connection, join_transaction_mode="create_savepoint"
    )
    client = limited.test_client()
    statuses = [client.get("/login").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "For mange forespørgsler" in client.get("/login").get_data(as_text=True)
    assert client.get("/algoritmer").status_code == 200  # other pages keep their own limit


def test_posting_a_citizen_request_form_is_rate_limited(app_overrides, connection) -> None:
    """Posting a review or rectification request has a stricter per-client limit (counted
    per form); a GET of the same page is not counted."""
    from portal import create_app
    from portal.db_session import get_db

    limited = create_app(
        {**app_overrides, "env": "development", "request_form_ratelimit": "2 per hour"}
    )
    get_db(limited).session_factory.configure(
        bind=connection, join_transaction_mode="create_savepoint"
    )
    limited.config["WTF_CSRF_ENABLED"] = False  # (a missing token is refused before the limit)
    client = limited.test_client()
    path = "/mine-sager/someone-elses-id/genvurdering"
    assert client.get(path).status_code != 429
    statuses = [client.post(path, data={"message": "x"}).status_code for _ in range(3)]
    assert 429 not in statuses[:2]
    assert statuses[2] == 429
    assert client.post(path.replace("genvurdering", "forkerte-oplysninger")).status_code != 429
    assert client.get(path).status_code != 429


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.redis
def _workers(access_log: Path, path: str = "/login") -> set[str]:
    """The pids of the workers that answered ``path``, from a gunicorn access log written
    with ``%(p)s %(s)s %(U)s`` (the start-up probe of /healthz does not count)."""
    if not access_log.exists():
        return set()
    lines = [line.split() for line in access_log.read_text().splitlines()]
    return {fields[0] for fields in lines if fields[-1:] == [path]}


def test_limits_on_redis_hold_across_two_gunicorn_workers(tmp_path: Path, app_overrides) -> None:
    """The documented count holds with two workers sharing Redis: limit N gives exactly N
    successes, then 429 with Retry-After, whichever worker answers."""
    import concurrent.futures
    import secrets
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from settings_support import environment

    limit, port = 6, _free_port()
    # A client address of its own (through the one trusted proxy), so no other run's counts
    # in the same Redis database are this test's.
    client_address = f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    env = environment(
        **{
            **app_overrides,
            "env": "development",
            "database_url": f"sqlite:///{tmp_path / 'p.db'}",
            "ratelimit_storage_uri": "redis://127.0.0.1:6379/6",
            "login_ratelimit": f"{limit} per minute",
            "trusted_proxies": 1,
        }
    )
    log, errors = tmp_path / "access.log", tmp_path / "error.log"
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "--workers", "2", "--no-control-socket"),
            *("--bind", f"127.0.0.1:{port}", "--access-logfile", str(log)),
            *("--error-logfile", str(errors)),
            *("--access-logformat", "%(p)s %(s)s %(U)s", "wsgi:app"),
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def get() -> tuple[int, str | None]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/login", headers={"X-Forwarded-For": client_address}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, None
        except urllib.error.HTTPError as refused:
            return refused.code, refused.headers.get("Retry-After")

    try:
        deadline = time.monotonic() + 60
        while True:  # wait for both workers (the probe is another address's count)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, errors.read_text()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: get(), range(4 * limit)))
            # Which worker accepts a connection is the kernel's choice: keep asking
            # (bounded) until both have answered this client. With per-process counts
            # the second one would then answer 200 again, which the count below sees.
            time.sleep(0.5)  # the access log is written after the response
            while len(_workers(log)) < 2 and time.monotonic() < deadline + 30:
                answers += pool.map(lambda _: get(), range(8))
                time.sleep(0.5)
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)

    statuses = [status for status, _ in answers]
    assert statuses.count(200) == limit
    assert statuses.count(429) == len(answers) - limit
    assert all(0 < int(after) <= 60 for status, after in answers if status == 429)
    assert len(_workers(log)) == 2, "both workers must have answered"


JUNK_TARGETS = [
    "/mine-sager\x00",
    "/mine-sager\r\nSet-Cookie: x=1",
    "/\x1b[31m",
    "/mine-sager\x7f",
    "/a\x85b",  # C1 next line
    "/a\u2028b",  # line separator
    "/a\u2029b",  # paragraph separator
    "/a\u202eb",  # right-to-left override
    "/a\u200bb",  # zero-width space
    "/a\tb",
    "/\\evil.example",
    "\\\\evil.example",
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/" + "a" * 3000,
]


def _assert_refused(response) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Adressen, som linket sender dig tilbage til, kan vi ikke bruge" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize("target", JUNK_TARGETS)
@pytest.mark.parametrize("path", ["/login", "/login/demo", "/sprog/en"])
def test_junk_in_a_return_parameter_is_a_clear_400(client, path: str, target: str) -> None:
    _assert_refused(client.get(path, query_string={"next": target}))


@pytest.mark.parametrize("target", JUNK_TARGETS)
def test_junk_in_the_demo_login_form_refuses_before_anyone_is_logged_in(
    app, client, target: str
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        response = client.post("/login/demo", data={"person": "citizen:0", "next": target})
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    _assert_refused(response)
    assert client.get("/mine-sager").status_code == 303  # still not logged in


@pytest.mark.parametrize("target", ["/mine-sager", "/algoritmer?sort=navn", "/sag/æøå"])
def test_a_local_return_path_is_followed(client, target: str) -> None:
    response = client.get("/sprog/en", query_string={"next": target})
    assert response.status_code == 303
    assert unquote(response.headers["Location"]) == target


def test_a_protected_page_with_junk_in_its_path_is_a_400_not_a_redirect(client) -> None:
    _assert_refused(client.get("/mine-sager/a%E2%80%A8b"))


def test_no_absolute_url_is_built_from_the_request(project_root: Path) -> None:
    # Absolute URLs come from PORTAL_BASE_URL (``absolute_url``); the Host header, and so
    # url_for(_external=True), request.host_url and request.url_root, is the client's to set.
    pattern = re.compile(r"_external\s*=|\bhost_url\b|\burl_root\b|request\.host\b|request\.url\b")
    offenders = [
        f"{path.relative_to(project_root)}: {line.strip()}"
        for path in (project_root / "portal").rglob("*")
        if path.suffix in {".py", ".html", ".txt"} and "static" not in path.parts
        for line in path.read_text(encoding="utf-8").splitlines()
        if pattern.search(line)
    ]
    assert offenders == []


def test_absolute_url_ignores_a_forged_host(app) -> None:
    from portal.security import absolute_url

    with app.test_request_context("/", headers={"Host": "evil.example"}):
        url = absolute_url("registry.model_card", name="ledighed")
    assert url == app.config["SETTINGS"].base_url.rstrip("/") + "/algoritmer/ledighed"


def _get_paths(app: Flask) -> list[str]:
    """One URL for every GET route of the app (placeholders filled with a dummy value)."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = re.sub(rf"<(?:[^:>]+:)?{argument}>", "x", path)
        paths.append(path)
    return sorted(set(paths))


def _timeless(body: bytes) -> bytes:
    """The body without the register document's own timestamp (the same for everyone,
    but a second later it is another second)."""
    return re.sub(rb'"generated_at": "[^"]*"', b'"generated_at": ""', body)


def _personal(body: str) -> bool:
    return 'name="csrf_token"' in body or "/logout" in body


def test_every_route_is_private_unless_the_same_for_everyone(app, client, login_as) -> None:
    paths = _get_paths(app)
    assert len(paths) > 20  # the map was read, not an empty list
    anonymous = {path: client.get(path) for path in paths}
    public = []
    for path, response in anonymous.items():
        cache = response.headers["Cache-Control"]
        assert cache in ("private, no-store", "public, max-age=300"), (path, cache)
        if _personal(response.get_data(as_text=True)):
            assert cache == "private, no-store", path
        if cache.startswith("public"):
            public.append(path)
            assert "Cookie" in response.headers["Vary"], path
            # Rendered the same for another anonymous visitor.
            other = app.test_client().get(path)
            assert _timeless(other.get_data()) == _timeless(response.get_data()), path
    assert "/algoritmer" in public  # some pages are still cacheable
    for role in ("citizen", "caseworker"):
        login_as(role)
        for path in paths:
            response = client.get(path)
            assert response.headers["Cache-Control"] == "private, no-store", (role, path)


def test_a_public_page_seen_logged_in_is_private(client, login_as) -> None:
    assert client.get("/algoritmer").headers["Cache-Control"].startswith("public")
    login_as("citizen")
    page = client.get("/algoritmer")
    assert _personal(page.get_data(as_text=True))
    assert page.headers["Cache-Control"] == "private, no-store"
