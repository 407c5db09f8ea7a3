"""The auditors' dashboards in headless Chromium: the demo auditor logs in, every
dashboard of every demo model passes axe-core (WCAG 2.1 A/AA) at 390 and 1280 px, and the
charts render under the real CSP (no inline styles or scripts)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import AXE, demo_login
from sqlalchemy import select

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AUDITOR = "Demo-revisor"
WIDTHS = (390, 1280)


@pytest.fixture(scope="module")
def dashboard_urls(seeded_db: Any) -> list[str]:
    """Aggregate the seeded decisions and verify the chain (as the worker would), then the
    URL of every dashboard."""
    from portal import create_app
    from portal.db_session import get_db
    from portal.registry.models import ModelVersion
    from portal.supervision.aggregates import aggregate_all
    from portal.supervision.chain import record_chain_check

    app = create_app(seeded_db.overrides)
    db = get_db(app)
    aggregate_all(db, min_group_size=5, settle_seconds=0)
    record_chain_check(db, app.config["SETTINGS"].audit_checkpoint_key)
    with db.reading() as session:
        models = session.execute(
            select(ModelVersion.name, ModelVersion.version).where(ModelVersion.status == "active")
        ).all()
    db.engine.dispose()
    urls = ["/tilsyn"]
    for name, version in models:
        urls += [
            f"/tilsyn/{name}/{version}/{tail}" for tail in ("retfaerdighed", "drift", "omgoerelser")
        ]
    return urls


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_violations_on_any_dashboard(live_server, new_page, dashboard_urls, width):
    page = new_page(width=width, bypass_csp=True)
    demo_login(page, live_server, AUDITOR, next_path="/tilsyn")
    report = {}
    for url in dashboard_urls:
        answer = page.goto(live_server + url)
        assert answer is not None
        assert answer.status == 200, url
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            """async () => await axe.run(document, {runOnly: {type: "tag",
                 values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
        )
        report[url] = [
            (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
        ]
        assert result["passes"], url
    assert {url: v for url, v in report.items() if v} == {}


def test_the_charts_render_under_the_real_csp(live_server, new_page, dashboard_urls):
    page = new_page(width=1280)
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    demo_login(page, live_server, AUDITOR, next_path="/tilsyn")
    fairness = next(
        u
        for u in dashboard_urls
        if u.startswith("/tilsyn/ledighedsrisiko/") and u.endswith("/retfaerdighed")
    )
    page.goto(live_server + fairness)
    charts = page.locator("svg.explanation-chart")
    assert charts.count() >= 1
    box = charts.first.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert violations == []
