"""The accessibility statement (webtilgængelighedsloven, the EU model statement): its
required parts, in both languages, with counts in the right plural form."""

from __future__ import annotations

import re

import pytest

from portal import create_app


def _text(html: str) -> str:
    main = html.split('<main id="main-content"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def test_the_statement_has_every_required_part(client):
    html = client.get("/tilgaengelighed?lang=da").get_data(as_text=True)
    text = _text(html)
    assert "lever delvist op til standarden WCAG 2.1 på niveau AA" in text  # status
    assert text.count("Hvorfor:") >= 2  # content not accessible, and why
    assert "forklaring@kk.dk" in text  # feedback channel
    assert "Vi svarer inden for 10 arbejdsdage." in text  # response time
    assert 'href="https://digst.dk/digital-inklusion/webtilgaengelighed/' in html  # enforcement
    assert re.search(r"Vi skrev denne erklæring den \d{1,2}\. [a-zæøå]+ 2026\.", text)
    assert 'rel="icon"' in html


@pytest.mark.parametrize(
    ("language", "days", "expected"),
    [
        ("da", 1, "Vi svarer inden for 1 arbejdsdag."),
        ("en", 1, "We answer within 1 working day."),
        ("en", 5, "We answer within 5 working days."),
    ],
)
def test_the_response_time_is_in_the_right_plural(app_overrides, language, days, expected):
    app = create_app({**app_overrides, "accessibility_response_workdays": days})
    html = app.test_client().get(f"/tilgaengelighed?lang={language}").get_data(as_text=True)
    assert expected in _text(html)


def test_a_phone_number_is_given_when_configured(app_overrides):
    app = create_app({**app_overrides, "contact_phone": "33 66 00 00"})
    html = app.test_client().get("/tilgaengelighed?lang=da").get_data(as_text=True)
    assert "Du kan også ringe på 33 66 00 00." in _text(html)
