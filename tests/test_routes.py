"""Every route that exists answers without a server error, for an anonymous visitor.

New routes are picked up automatically from the URL map; a route with arguments gets a
made-up value (it should answer 404, a redirect to login, or a 4xx, never 5xx).
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter


def _routes(app: Flask) -> list[tuple[str, str]]:
    """(method, url) for every rule, with unknown ids filled in for its arguments."""
    adapter = app.url_map.bind("localhost")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/_test"):
            continue
        values = {
            name: 999999 if isinstance(converter, IntegerConverter) else "findes-ikke"
            for name, converter in rule._converters.items()
        }
        url = adapter.build(rule.endpoint, values, method=next(iter(rule.methods or {"GET"})))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            routes.add((method, url))
    return sorted(routes)


def test_there_are_routes_to_check(app: Flask) -> None:
    urls = {url for _, url in _routes(app)}
    assert {"/", "/algoritmer", "/tilgaengelighed"} <= urls


def test_every_route_answers_without_server_error(app: Flask, client) -> None:
    failures = []
    for method, url in _routes(app):
        response = client.open(url, method=method)
        if response.status_code >= 500:
            failures.append((method, url, response.status_code))
    assert failures == []


@pytest.mark.parametrize("url", ["/", "/algoritmer", "/tilgaengelighed", "/privatliv", "/kontakt"])
def test_public_pages_render(client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'href="#main-content"' in body  # skip link
    assert "Forklaring af afgørelser" in body  # solution name in the header
    assert "/tilgaengelighed" in body  # footer link to the accessibility statement
