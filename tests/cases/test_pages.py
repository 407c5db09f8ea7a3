"""The citizen's pages: my cases, the explanation page and its states."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import select

from portal.oversight.models import AuditEvent

JARGON = ("shap", "log-odds", "logodds", "feature")


def main_text(html: str) -> str:
    """The visible text of <main>, without the SVG chart (its texts are in the table)."""
    main = html.split('<main id="main-content"', 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<svg.*?</svg>", " ", main, flags=re.S)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", main))
    return re.sub(r"\s+", " ", text).strip()


def test_my_cases_lists_own_cases_newest_first(client, citizens, cases_of, login_citizen):
    decisions = cases_of(citizens["peter"], statuses=["ready", "pending", "failed"])
    cases_of(citizens["anne"])
    login_citizen(citizens["peter"])
    page = client.get("/mine-sager")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    ids = re.findall(r'href="/mine-sager/([A-Za-z0-9_-]{10,})"', html)
    newest_first = sorted(decisions, key=lambda d: d.decided_at, reverse=True)
    assert ids == [d.public_id for d in newest_first]
    text = main_text(html)
    for status in (
        "Forklaringen er klar",
        "Forklaringen er på vej",
        "Forklaringen kunne ikke laves",
    ):
        assert status in text
    assert "Center for Bygninger" in text  # the unit that decided
    assert "Ansøgning om byggetilladelse" in text  # the localized title
    assert citizens["peter"].cpr not in html


def test_a_citizen_without_cases_gets_a_plain_message(client, citizens, cases_of, login_citizen):
    cases_of(citizens["anne"])
    login_citizen(citizens["mette"])
    html = client.get("/mine-sager").get_data(as_text=True)
    assert "Du har ingen sager her" in html
    assert "/mine-sager/" not in html.replace('href="/mine-sager"', "")


def test_explanation_page_shows_the_sections_in_order(client, citizens, cases_of, login_citizen):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    page = client.get(f"/mine-sager/{ledighed.public_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    order = [
        "decision-heading",
        "weighed-heading",
        "chart-heading",
        "data-heading",
        "change-heading",
        "model-heading",
        "rights-heading",
    ]
    positions = [html.index(f'id="{anchor}"') for anchor in order]
    assert positions == sorted(positions)
    text = main_text(html)
    assert "Du får tilbudt et forløb" in text  # the outcome
    assert "Ja. En sagsbehandler traf afgørelsen." in text
    assert "trak mest i retning af afgørelsen" in text
    assert re.search(r"Antal uger som ledig \(\d+ uger\) trak", text)
    assert "/algoritmer/ledighedsrisiko" in html
    assert "artikel 15" in text
    assert "artikel 22" in text
    assert "artikel 86" in text
    assert "/mine-sager/" + ledighed.public_id + "/genvurdering" in html


def test_every_data_point_is_listed_with_value_source_and_date(
    client, citizens, cases_of, login_citizen
):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    html = client.get(f"/mine-sager/{ledighed.public_id}").get_data(as_text=True)
    data_section = html.split('id="data-heading"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(
        r"<tr><th scope=\"row\">(.*?)</th><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", data_section
    )
    manifest = ledighed.model_version.manifest
    assert [r[0] for r in rows] == [f["label"]["da"] for f in manifest["features"]]
    weeks = ledighed.features["ledighed_uger"]
    assert rows[0][1] == f"{weeks:g} uger".replace(".", ",")
    assert rows[0][2] == "Det Fælles Datagrundlag (STAR)"
    assert re.fullmatch(r"\d{1,2}\. [a-zæøå]+ 2026", rows[0][3])  # Danish long date


def test_chart_is_an_accessible_svg_with_the_same_numbers_as_the_table(
    client, citizens, cases_of, login_citizen
):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    html = client.get(f"/mine-sager/{ledighed.public_id}").get_data(as_text=True)
    svg = re.search(r"<svg[^>]*explanation-chart--wide.*?</svg>", html, flags=re.S).group(0)
    assert 'role="img"' in svg
    assert 'aria-labelledby="chart-summary"' in svg
    assert 'id="chart-summary"' in html
    assert "<script" not in html  # works without JavaScript
    assert 'style="' not in html  # the CSP forbids inline styles
    svg_texts = [t for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)]
    chart_section = html.split('id="chart-heading"', 1)[1].split("</section>", 1)[0]
    table = chart_section.split("<table", 1)[1]
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", table.split("<tbody>", 1)[1])
    for text in svg_texts:  # nothing in the chart that is not in the table
        assert text in cells
    points = [t for t in svg_texts if "procentpoint" in t]
    assert len(points) == len(ledighed.model_version.manifest["features"])
    assert all(re.fullmatch(r"[+−]?\d+,\d procentpoint", p) for p in points)
    # the two colours: orange towards, blue against
    assert "#b35806" in svg
    assert "#1f5f99" in svg


def test_contributions_add_up_to_the_result_shown(
    client, citizens, cases_of, login_citizen, session
):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    text = main_text(client.get(f"/mine-sager/{ledighed.public_id}").get_data(as_text=True))
    base = float(re.search(r"Modellen starter fra (\d+,\d) %", text).group(1).replace(",", "."))
    output = float(
        re.search(r"I din sag blev resultatet (\d+,\d) %", text).group(1).replace(",", ".")
    )
    assert "Resultatet nåede grænsen" in text  # a yes case: towards the decision is up
    chart_part = text.split("Tallene bag diagrammet", 1)[1].split("De oplysninger", 1)[0]
    points = [
        float(m.group(2).replace(",", ".")) * (1 if m.group(1) == "I retning af" else -1)
        for m in re.finditer(
            r"(I retning af|Imod) afgørelsen \S+(?: \S+)? (\d+,\d) procentpoint", chart_part
        )
    ]
    assert len(points) == len(ledighed.model_version.manifest["features"])
    assert abs(base + sum(points) - output) <= 0.05 + 0.05 * len(points)


@pytest.mark.parametrize("language", ["da", "en"])
def test_no_jargon_on_any_citizen_page(client, citizens, cases_of, login_citizen, language):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    client.get(f"/mine-sager/{ledighed.public_id}/genvurdering")
    urls = [
        "/mine-sager",
        f"/mine-sager/{ledighed.public_id}",
        f"/mine-sager/{ledighed.public_id}/genvurdering",
        f"/mine-sager/{ledighed.public_id}/forkerte-oplysninger",
        "/mine-data",
        "/mine-data/log",
    ]
    for url in urls:
        page = client.get(f"{url}?lang={language}")
        assert page.status_code == 200, url
        html = page.get_data(as_text=True).lower()
        for word in JARGON:
            assert word not in html, (url, word)


def test_english_version(client, citizens, cases_of, login_citizen):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    html = client.get(f"/mine-sager/{ledighed.public_id}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "pulled the most towards the decision" in html
    assert "Offer of job-focused support" in html
    assert "Weeks unemployed" in html


def test_overridden_decision_talks_about_the_models_advice(
    client, citizens, cases_of, login_citizen
):
    (decision,) = cases_of(citizens["fatima"])
    login_citizen(citizens["fatima"])
    text = main_text(client.get(f"/mine-sager/{decision.public_id}").get_data(as_text=True))
    assert "Nej. Sagsbehandleren valgte noget andet end modellens råd." in text
    assert "modellens råd" in text.split("Det vejede mest", 1)[1]
    assert "i retning af afgørelsen" not in text


def test_heavy_sensitive_data_point_is_pointed_out(client, citizens, cases_of, login_citizen):
    (decision,) = cases_of(citizens["jonas"])
    login_citizen(citizens["jonas"])
    text = main_text(client.get(f"/mine-sager/{decision.public_id}").get_data(as_text=True))
    flagged = [
        f for f in decision.explanation.payload["flags"] if f["code"] == "sensitive-top-contributor"
    ]
    assert flagged
    assert "En oplysning om, hvem du er, vejede meget" in text


def test_counterfactual_only_names_actionable_non_sensitive_data(
    client, citizens, cases_of, login_citizen
):
    ledighed, _ = cases_of(citizens["anne"])  # near the threshold: a small change flips it
    login_citizen(citizens["anne"])
    text = main_text(client.get(f"/mine-sager/{ledighed.public_id}").get_data(as_text=True))
    section = text.split("Hvad kunne have ændret resultatet", 1)[1].split("Om modellen", 1)[0]
    changes = ledighed.explanation.payload["counterfactual"]["changes"]
    assert changes
    features = {f["key"]: f for f in ledighed.model_version.manifest["features"]}
    for change in changes:
        spec = features[change["feature"]]
        assert spec["actionable"]
        assert not spec["sensitive"]
        assert spec["label"]["da"] in section
    assert "Det er ikke et råd" in section
    for sensitive in ("Alder", "Bydel"):
        assert f"{sensitive}:" not in section


@pytest.mark.parametrize(
    ("status", "alert"),
    [
        ("pending", "Forklaringen er på vej"),
        ("failed", "Forklaringen kunne ikke laves"),
    ],
)
def test_not_ready_and_failed_are_clear_pages(
    client, citizens, cases_of, login_citizen, status, alert
):
    (decision,) = cases_of(citizens["lars"], statuses=[status])
    login_citizen(citizens["lars"])
    page = client.get(f"/mine-sager/{decision.public_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="alert alert-' in html
    assert alert in main_text(html)
    assert 'id="chart-heading"' not in html
    assert 'id="data-heading"' in html  # the data used is shown all the same
    assert "/pdf" not in html


def test_retired_model(client, citizens, cases_of, login_citizen, session, world):
    ready, pending = cases_of(citizens["anne"], statuses=["ready", "pending"])
    for version in world.versions.values():
        version.status = "retired"
    session.commit()
    login_citizen(citizens["anne"])
    with_explanation = client.get(f"/mine-sager/{ready.public_id}")
    assert with_explanation.status_code == 200
    text = main_text(with_explanation.get_data(as_text=True))
    assert "Modellen bruges ikke længere" in text
    assert "Det vejede mest" in text
    without = client.get(f"/mine-sager/{pending.public_id}")
    assert without.status_code == 200
    assert "Forklaringen kunne ikke laves" in main_text(without.get_data(as_text=True))


def test_viewing_a_case_is_logged(client, citizens, cases_of, login_citizen, session):
    ledighed, _ = cases_of(citizens["anne"])
    principal = login_citizen(citizens["anne"])
    client.get(f"/mine-sager/{ledighed.public_id}")
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "decision.viewed")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert event.decision_public_id == ledighed.public_id
    assert event.subject_key == principal.subject_key == ledighed.subject_key
    assert (event.actor_kind, event.actor_role, event.purpose) == ("citizen", "citizen", "own-case")
    assert citizens["anne"].cpr not in (event.actor_ref + str(event.details))


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("pending", "Vi er stadig ved at regne ud, hvad der kunne have ændret resultatet."),
        ("failed", "Vi kunne ikke regne ud, hvad der kunne have ændret resultatet."),
    ],
)
def test_counterfactual_not_there_yet_or_failed_is_said_plainly(
    client, session, citizens, cases_of, login_citizen, status, text
):
    ledighed, _ = cases_of(citizens["anne"])
    explanation = ledighed.explanation
    explanation.payload = {
        **explanation.payload,
        "counterfactual": None,
        "counterfactual_status": status,
    }
    session.flush()
    login_citizen(citizens["anne"])
    html = client.get(f"/mine-sager/{ledighed.public_id}").get_data(as_text=True)
    assert text in html
    assert "Vi fandt ingen lille ændring" not in html
