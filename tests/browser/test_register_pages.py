"""The public algorithm register in headless Chromium at 390 px (a phone) and 1280 px:
axe-core finds no WCAG 2.1 A or AA violation, in Danish and English, the phone layout does
not scroll sideways, and the register's JSON is one link away."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import AXE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (390, 1280)
URLS = ("/algoritmer", "/algoritmer/ledighedsrisiko", "/algoritmer/byggesagsscreening")
WCAG = """async () => await axe.run(document, {runOnly: {type: "tag",
             values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""


def _violations(page: Any) -> list[tuple[str, list[Any]]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(WCAG)
    return [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_violations_on_the_register(live_server, new_page, width) -> None:
    page = new_page(width=width, bypass_csp=True)
    report = {}
    for language in ("da", "en"):
        page.goto(f"{live_server}/sprog/{language}?next=/algoritmer")
        for url in URLS:
            page.goto(live_server + url)
            report[(language, url)] = _violations(page)
    assert report == {key: [] for key in report}


def test_the_phone_layout_does_not_scroll_sideways(live_server, new_page) -> None:
    page = new_page(width=390)
    for url in URLS:
        page.goto(live_server + url)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, url


def test_the_model_card_shows_the_model_card_and_links_its_json(live_server, new_page) -> None:
    page = new_page(width=1280)
    page.goto(f"{live_server}/algoritmer/ledighedsrisiko")
    main = page.locator("main").inner_text()
    for expected in ("Risikoklasse", "Hvor godt modellen virker", "Retfærdighed", "DPIA"):
        assert expected in main
    page.get_by_role("link", name="data (JSON)").click()
    body = page.evaluate("() => JSON.parse(document.body.innerText)")
    assert body["algorithms"][0]["name"] == "ledighedsrisiko"
