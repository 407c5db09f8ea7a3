"""The OpenID Connect test harness: a real provider (Node) and a real portal HTTP server.

``ProviderProcess`` runs ``node tests/oidc/provider.mjs`` (panva's certified
``oidc-provider``) on 127.0.0.1 with a signing key the test knows. ``PortalServer`` serves
the Flask app with werkzeug on 127.0.0.1 in a thread; the app behind it can be swapped
(different settings, same redirect URI). ``Browser`` drives the whole flow with
``requests``: real redirects, cookies, state, PKCE and the token exchange.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from flask import Flask
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer, make_server

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"
CPR_CLAIM = "https://data.gov.dk/model/core/eid/cprNumber"

CITIZEN_CLIENT = {"client_id": "portal-citizen", "client_secret": "citizen-secret-0123456789"}
STAFF_CLIENT = {"client_id": "portal-staff", "client_secret": "staff-secret-0123456789abc"}

# Test people at the provider: (acr, claims). CPR numbers are fictional.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "anne": {"acr": "substantial", "claims": {CPR_CLAIM: "0105852468"}},
    "bo-high": {"acr": "high", "claims": {CPR_CLAIM: "0103601235"}},
    "lav": {"acr": "low", "claims": {CPR_CLAIM: "0109993124"}},
    "broker": {"acr": "substantial", "claims": {"cprNumberIdentifier": "0106721355"}},
    "no-cpr": {"acr": "substantial", "claims": {}},
    "expiring": {"acr": "substantial", "claims": {CPR_CLAIM: "0102034011"}},
    "kim": {
        "acr": "substantial",
        "claims": {"roles": ["sagsbehandler"], "unit": "Team Vest", "name": "Kim Test"},
    },
    # A caseworker of the unit responsible for the demo unemployment model (browser tests).
    "birte": {
        "acr": "substantial",
        "claims": {
            "roles": ["sagsbehandler"],
            "unit": "Beskæftigelses- og Integrationsforvaltningen",
            "name": "Birte Test",
        },
    },
    "revisor": {"acr": "substantial", "claims": {"roles": "auditor", "name": "Rita Test"}},
    "chef": {"acr": "substantial", "claims": {"roles": ["chef"], "unit": "Ledelsen"}},
}
SHORT_ID_TOKEN_ACCOUNTS = ("expiring",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signing_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"}, private=True
    )


@dataclass
class ProviderProcess:
    issuer: str
    key: RSAKey
    process: subprocess.Popen[str]
    stderr: list[str] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, redirect_uris: list[str], key: RSAKey, timeout: float = 20) -> ProviderProcess:
        env = {
            **os.environ,
            "PORT": str(free_port()),
            "JWKS": json.dumps({"keys": [key.as_dict(private=True)]}),
            "ACCOUNTS": json.dumps(ACCOUNTS),
            "SHORT_ID_TOKEN_ACCOUNTS": ",".join(SHORT_ID_TOKEN_ACCOUNTS),
            "CLIENTS": json.dumps(
                [
                    {
                        **CITIZEN_CLIENT,
                        "redirect_uris": [u for u in redirect_uris if "borger" in u],
                    },
                    {**STAFF_CLIENT, "redirect_uris": [u for u in redirect_uris if "medarb" in u]},
                ]
            ),
        }
        process = subprocess.Popen(
            ["node", str(PROVIDER_SCRIPT)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        stderr: list[str] = []
        pumps = [
            threading.Thread(target=_pump, args=(process.stdout, lines.put), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, stderr.append), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        try:
            first = lines.get(timeout=timeout)
        except queue.Empty:
            process.kill()
            raise RuntimeError("oidc-provider did not start: " + "".join(stderr)) from None
        return cls(json.loads(first)["issuer"], key, process, stderr, pumps)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for pump in self.pumps:
            pump.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _pump(stream: Any, sink: Any) -> None:
    for line in stream:
        sink(line)


class PortalServer:
    """A real HTTP server on 127.0.0.1 whose Flask app can be swapped between tests."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "no app mounted"
        return self.app(environ, start_response)

    @property
    def redirect_uris(self) -> list[str]:
        return [
            self.base_url + "/login/borger/callback",
            self.base_url + "/login/medarbejder/callback",
        ]

    def stop(self) -> None:
        self.server.shutdown()


class Browser:
    """A person with a browser: follows redirects and fills in the provider's login form."""

    def __init__(self, portal: str) -> None:
        self.portal = portal
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy: everything is on 127.0.0.1

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(urljoin(self.portal, path), allow_redirects=False, **kwargs)

    def until_callback(self, start: str, account: str) -> str:
        """Start a login at ``start``, log in at the provider as ``account``; return the
        callback URL the provider sends the browser to, without requesting it."""
        response = self.get(start)
        assert response.status_code == 303, response.status_code
        location = response.headers["Location"]
        # The provider's authorization endpoint sends us to its login form.
        page = self.http.get(location, allow_redirects=True, timeout=10)
        assert page.status_code == 200, page.text
        match = re.search(r'action="([^"]+)"', page.text)
        assert match, page.text
        response = self.http.post(
            urljoin(page.url, match.group(1)),
            data={"login": account},
            allow_redirects=False,
            timeout=10,
        )
        for _ in range(10):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(self.portal):
                return location
            response = self.http.get(location, allow_redirects=False, timeout=10)
        raise AssertionError("the provider never sent us back")

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)
