"""The citizen's pages in headless Chromium: the journey, WCAG 2.1 AA (axe-core), keyboard
only, and no JavaScript."""

from __future__ import annotations

import re

import pytest
from conftest import demo_login

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANNE = "Demo-borger Anne Jensen"
ANNE_CPR = "0105852468"


def test_citizen_opens_a_case_switches_language_and_downloads_the_pdf(
    live_server, seeded_db, new_page
):
    page = new_page()
    demo_login(page, live_server, ANNE)
    assert page.get_by_role("heading", level=1).inner_text() == "Mine sager"
    rows = page.locator("table tbody tr")
    assert rows.count() == len(seeded_db.cases[ANNE_CPR])
    first_title = rows.first.locator("a").inner_text()
    rows.first.locator("a").click()
    page.wait_for_url(re.compile(r".*/mine-sager/[A-Za-z0-9_-]+$"))
    assert page.get_by_role("heading", level=1).inner_text() == first_title
    assert page.get_by_role("heading", name="Det vejede mest").is_visible()
    chart = page.get_by_role("img", name=re.compile("Modellen starter fra"))
    assert chart.is_visible()

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="What weighed the most").is_visible()
    page.get_by_role("link", name="Dansk").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "da"

    with page.expect_download() as info:
        page.get_by_role("link", name="Hent forklaringen som PDF").click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"


# axe-core at 390 and 1280 px: test_case_pages_issue13.py


FOCUSABLE = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary,"
    " [tabindex]:not([tabindex='-1'])"
)


@pytest.mark.parametrize("kind", ["case", "review", "rectification"])
def test_keyboard_reaches_every_control(live_server, seeded_db, new_page, kind):
    page = new_page()
    demo_login(page, live_server, ANNE)
    public_id = seeded_db.cases[ANNE_CPR][0]
    suffix = {"case": "", "review": "/genvurdering", "rectification": "/forkerte-oplysninger"}
    page.goto(f"{live_server}/mine-sager/{public_id}{suffix[kind]}")
    page.evaluate(
        # every control that is shown (the phone menu's are hidden at this width)
        f"""() => [...document.querySelectorAll("{FOCUSABLE}")]
              .filter(el => el.checkVisibility())
              .forEach((el, i) => el.setAttribute("data-kb", String(i)))"""
    )
    expected = set(page.eval_on_selector_all("[data-kb]", "els => els.map(e => e.dataset.kb)"))
    reached = set()
    page.locator("body").click(position={"x": 1, "y": 1})
    for _ in range(len(expected) + 5):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement && document.activeElement.dataset.kb")
        if focused is not None:
            reached.add(focused)
    assert expected
    assert reached == expected


def test_works_without_javascript(live_server, seeded_db, new_page):
    page = new_page(javascript=False)
    demo_login(page, live_server, ANNE)
    public_id = seeded_db.cases[ANNE_CPR][0]
    page.goto(f"{live_server}/mine-sager/{public_id}")
    svg = page.locator("svg.explanation-chart--wide")
    box = svg.bounding_box()
    assert box is not None
    assert box["width"] > 200
    assert box["height"] > 100
    assert page.locator("table").count() >= 2
    page.get_by_role("link", name="Bed en person se på afgørelsen igen").click()
    page.get_by_label("Hvorfor vil du have, at en person ser på afgørelsen igen?").fill(
        "Jeg har fået nyt arbejde."
    )
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(rf".*/mine-sager/{public_id}/anmodninger/[A-Za-z0-9_-]+$"))
    assert page.get_by_role("heading", name="Vi har fået din anmodning").is_visible()
    page.get_by_role("link", name="Tilbage til sagen").click()
    assert page.get_by_role("link", name="Ny vurdering ved en person").first.is_visible()
