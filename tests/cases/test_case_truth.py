"""Issue 13: what the citizen's page says is true of the case itself.

Every demo case is rendered and checked against its own data: no sentence denies a
sensitive data point the model uses, the recommendation matches the model's output, the
page says whether the caseworker followed it (and why not), the case number is shown, and
numbers near the threshold are on the right side of it.
"""

from __future__ import annotations

import re

import pytest
from factories_cases import demo_citizens
from test_pages import main_text

from portal.cases import language as lang
from portal.cases import views

CASES = [(c.name, i) for c in demo_citizens() for i in range(len(c.cases))]

# Sentences that deny that the model uses data about who the person is.
DENIALS = (
    "vi ser aldrig på, hvem du er",
    "we never look at who you are",
    "bruger ikke oplysninger om, hvem du er",
    "does not use data about who you are",
)
WHO_YOU_ARE = (
    "hvem du er",
    "who you are",
    "din alder",
    "your age",
    "hvor du bor",
    "where you live",
)


def _page(client, citizens, cases_of, login_citizen, name, index, language="da"):
    citizen = next(c for c in citizens.values() if c.name == name)
    decision = cases_of(citizen)[index]
    login_citizen(citizen)
    html = client.get(f"/mine-sager/{decision.public_id}?lang={language}").get_data(as_text=True)
    return decision, html


def _section(html: str, element_id: str) -> str:
    """The text of the element with this id (up to its tag's first closing tag)."""
    match = re.search(rf'<([a-z0-9]+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, flags=re.S)
    assert match, element_id
    return main_text(f'<main id="main-content"><p>{match.group(2)}</main>').lstrip("> ")


@pytest.mark.parametrize("language", ["da", "en"])
@pytest.mark.parametrize(("name", "index"), CASES)
def test_no_sentence_contradicts_the_cases_own_data(
    client, citizens, cases_of, login_citizen, name, index, language
):
    decision, html = _page(client, citizens, cases_of, login_citizen, name, index, language)
    text = main_text(html)
    lowered = text.lower()
    manifest = decision.model_version.manifest
    features = {f["key"]: f for f in manifest["features"]}
    used = [f for f in manifest["features"] if f.get("sensitive") or f.get("special_category")]

    # 1. never a denial of data about who the person is, when the model uses such data
    if used:
        for denial in DENIALS:
            assert denial not in lowered, denial
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if re.search(r"\b(aldrig|never)\b", sentence, flags=re.I):
                assert not any(w in sentence.lower() for w in WHO_YOU_ARE), sentence
        block = _section(html, "sensitive-data")
        for spec in used:
            label = spec["label"][language]
            assert label in block, label
        special = [f for f in used if f.get("special_category")]
        for spec in special:
            basis = manifest["special_category_legal_basis"]
            assert basis.get(language, basis["da"]) in block
        assert ("artikel 9" in block or "article 9" in block) == bool(special)
        assert re.search(r"holder hele tiden øje|keep an eye on it", block)
    else:
        assert 'id="sensitive-data"' not in html

    # the list of possible changes only names data a person can change
    for change in decision.explanation.payload["counterfactual"]["changes"]:
        spec = features[change["feature"]]
        assert spec["actionable"]
        assert not spec.get("sensitive")
        assert not spec.get("special_category")

    # 2. the recommendation is the one for the side of the threshold the output is on
    threshold = manifest["output"]["threshold"]
    above = decision.explanation.payload["explanation"]["presentation"]["output"] >= threshold
    texts = manifest["output"]["recommendation"]
    recommendation = _section(html, "recommendation")
    assert texts["above" if above else "below"][language] in recommendation
    assert texts["below" if above else "above"][language] not in text

    # ... what was decided, and whether the caseworker followed the model
    followed = _section(html, "followed")
    if decision.followed_model:
        assert followed.startswith(("Ja.", "Yes."))
        assert 'id="not-followed"' not in html
    else:
        assert followed.startswith(("Nej.", "No."))
        assert html.index('id="not-followed"') < html.index('id="recommendation"')
    assert decision.case_reference in _section(html, "case-reference")


def test_a_reason_for_not_following_the_model_comes_first(
    client, citizens, cases_of, login_citizen, session
):
    (decision,) = cases_of(citizens["fatima"])
    decision.decision_reason = {
        "da": "Du har fået et job, som starter om en måned.",
        "en": "You have a job that starts in a month.",
    }
    session.commit()
    login_citizen(citizens["fatima"])
    html = client.get(f"/mine-sager/{decision.public_id}").get_data(as_text=True)
    block = _section(html, "not-followed")
    assert "Sagsbehandleren fulgte ikke modellens råd." in block
    assert "Begrundelsen: Du har fået et job, som starter om en måned." in block
    decision_part = html.split('id="decision-heading"', 1)[1]
    assert decision_part.index("not-followed") < decision_part.index('id="outcome"')
    english = client.get(f"/mine-sager/{decision.public_id}?lang=en").get_data(as_text=True)
    assert "The reason: You have a job that starts in a month." in english


def test_without_a_reason_the_page_points_to_the_letter(
    client, citizens, cases_of, login_citizen, session
):
    (decision,) = cases_of(citizens["fatima"])
    decision.decision_reason = None  # a sender that gave none (the demo's override has one)
    session.flush()
    login_citizen(citizens["fatima"])
    html = client.get(f"/mine-sager/{decision.public_id}").get_data(as_text=True)
    assert "Du kan læse begrundelsen i dit brev om afgørelsen." in _section(html, "not-followed")


def test_case_number_on_my_cases_and_in_the_pdf(
    client, citizens, cases_of, login_citizen, monkeypatch
):
    decisions = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    listing = main_text(client.get("/mine-sager").get_data(as_text=True))
    assert "Sagsnummer" in listing
    for decision in decisions:
        assert decision.case_reference in listing
    rendered: list[str] = []

    def fake_pdf(html: str) -> bytes:  # the HTML WeasyPrint would lay out
        rendered.append(html)
        return b"%PDF-1.7"

    monkeypatch.setattr(views, "render_pdf", fake_pdf)
    assert client.get(f"/mine-sager/{decisions[0].public_id}/pdf").status_code == 200
    assert (
        f'Sagsnummer</dt>\n    <dd id="case-reference">{decisions[0].case_reference}'
        in (rendered[0])
    )


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize(
    ("value", "threshold", "expected"),
    [
        (0.496, 0.5, "49,6 %"),
        (0.4996, 0.5, "49,96 %"),
        (0.49996, 0.5, "49,996 %"),
        (0.5004, 0.5, "50,0 %"),  # at or above the limit, and shown so
        (0.542, 0.5, "54,2 %"),
        (0.542, None, "54,2 %"),
    ],
)
def test_a_result_near_the_limit_shows_its_side(app, value, threshold, expected):
    with app.test_request_context("/?lang=da"):
        assert lang.format_output(value, "probability", threshold) == expected


def test_a_counterfactual_across_the_limit_is_shown_below_it(
    client, citizens, cases_of, login_citizen
):
    ledighed, _ = cases_of(citizens["anne"])  # 54 % against a limit of 50 %
    login_citizen(citizens["anne"])
    text = main_text(client.get(f"/mine-sager/{ledighed.public_id}").get_data(as_text=True))
    match = re.search(r"Så ville resultatet have været ([\d,]+) % i stedet for ([\d,]+) %", text)
    assert match
    new = float(match.group(1).replace(",", "."))
    assert new < 50  # shown below the limit, never "50 %"
    assert "," in match.group(1)
    assert match.group(2) == "54,2"


# --------------------------------------------------------------------------- access log


def test_access_log_names_the_sending_system_and_the_case(
    client, citizens, cases_of, login_citizen, session
):
    from portal.decisions.deliveries import system_actor
    from portal.oversight.audit import record_event

    ledighed, _ = cases_of(citizens["anne"])
    for action, purpose in (("decision.received", "ingest"), ("something.new", "a-new-purpose")):
        record_event(
            session,
            system_actor(ledighed.system),
            action,
            purpose=purpose,
            decision_public_id=ledighed.public_id,
            subject_key=ledighed.subject_key,
        )
    session.commit()
    login_citizen(citizens["anne"])
    html = client.get("/mine-data/log").get_data(as_text=True)
    rows = re.findall(
        r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>"
        r"<td>(.*?)</td><td>(.*?)</td></tr>",
        html,
    )
    received = [r for r in rows if r[3] == "Vi fik afgørelsen"]
    assert received
    _time, who, unit, what, why, case = received[0]
    assert who == "Det system, der sendte afgørelsen"  # not "Andet", as before
    assert unit == ledighed.system.name
    assert why == "Så vi kan forklare dig afgørelsen"
    assert what != why
    assert case == f"Tilbud om jobrettet indsats<br>Sagsnummer {ledighed.case_reference}"
    assert ledighed.public_id not in html
    for row in rows:
        assert "Andet" not in (row[1], row[3], row[4])  # never "Other" on its own
    unknown = next(r for r in rows if r[3].startswith("Andet"))
    assert unknown[3] == "Andet: something new"
    assert unknown[4] == "Andet: a new purpose"


# --------------------------------------------------------------------------- plurals


@pytest.mark.parametrize(
    ("feature", "value", "language", "expected"),
    [
        ({"unit": {"da": "forløb", "en": "programmes"}}, 1, "en", "1 programme"),
        ({"unit": {"da": "forløb", "en": "programmes"}}, 2, "en", "2 programmes"),
        ({"unit": {"da": "uger", "en": "weeks"}, "unit_one": {"da": "uge"}}, 1, "da", "1 uge"),
        ({"unit": {"da": "uger", "en": "weeks"}, "unit_one": {"da": "uge"}}, 3, "da", "3 uger"),
        ({"unit": {"da": "m²", "en": "m²"}}, 1, "en", "1 m²"),
        ({"unit": {"da": "afslag", "en": "refusals"}}, 0, "en", "0 refusals"),
    ],
)
def test_a_unit_agrees_with_its_number(app, feature, value, language, expected):
    with app.test_request_context(f"/?lang={language}"):
        assert lang.format_value({"type": "integer", **feature}, value) == expected


def test_a_value_with_brackets_is_never_put_in_brackets_again(app):
    with app.test_request_context("/?lang=da"):
        subject = lang.subject_with_value("Højeste fuldførte uddannelse", "Grundskole (folkeskole)")
    assert subject == "Højeste fuldførte uddannelse (Grundskole, folkeskole)"


def test_sensitive_uses_name_the_legal_basis_the_manifest_gives(app):
    from portal.cases.presentation import sensitive_uses

    manifest = {
        "special_category_legal_basis": {"da": "Artikel 9, stk. 2, litra b."},
        "considerations": [{"key": "p", "legal_basis": {"da": "Hensynets regel."}}],
        "features": [
            {
                "key": "alder",
                "label": {"da": "Alder"},
                "consideration": "p",
                "sensitive": True,
                "legal_basis": {"da": "Alderens egen regel.", "en": "Age's own rule."},
            },
            {"key": "bydel", "label": {"da": "Bydel"}, "consideration": "p", "sensitive": True},
            {
                "key": "syg",
                "label": {"da": "Sygedage"},
                "consideration": "p",
                "special_category": True,
            },
            {"key": "uger", "label": {"da": "Uger"}, "consideration": "p", "sensitive": False},
            {"key": "x", "label": {"da": "X"}, "consideration": "nope", "sensitive": True},
        ],
    }
    with app.test_request_context("/?lang=da"):
        uses = {u.label: u for u in sensitive_uses(manifest)}
    assert list(uses) == ["Alder", "Bydel", "Sygedage", "X"]
    assert uses["Alder"].legal_basis == "Alderens egen regel."
    assert uses["Bydel"].legal_basis == "Hensynets regel."
    assert uses["Sygedage"].legal_basis == "Artikel 9, stk. 2, litra b."
    assert uses["Sygedage"].special_category
    assert uses["X"].legal_basis == "reglerne under “Om modellen” længere nede."
    with app.test_request_context("/?lang=en"):
        assert sensitive_uses(manifest)[0].legal_basis == "Age's own rule."


def test_a_pending_case_says_which_data_about_who_you_are_the_model_uses(
    client, citizens, cases_of, login_citizen
):
    (decision,) = cases_of(citizens["jonas"], statuses=["pending"])
    login_citizen(citizens["jonas"])
    html = client.get(f"/mine-sager/{decision.public_id}").get_data(as_text=True)
    assert 'id="change-heading"' not in html  # no explanation yet
    block = _section(html, "sensitive-data")
    assert "Alder" in block
    assert "Bydel, hvor du bor" in block
    # the recommendation follows the output the sender reported
    above = decision.model_version.manifest["output"]["recommendation"]["above"]["da"]
    assert decision.reported_output >= decision.model_version.manifest["output"]["threshold"]
    assert _section(html, "recommendation").startswith(above)


def test_percentages_follow_each_languages_custom(app):
    with app.test_request_context("/?lang=da"):
        assert lang.format_output(0.542, "probability") == "54,2 %"
    with app.test_request_context("/?lang=en"):
        assert lang.format_output(0.542, "probability") == "54.2%"


def test_the_data_export_holds_the_reason(client, citizens, cases_of, login_citizen, session):
    (decision,) = cases_of(citizens["fatima"])
    decision.decision_reason = {"da": "Du har fået et job."}
    session.commit()
    login_citizen(citizens["fatima"])
    export = client.get("/mine-data.json").get_json()
    (entry,) = export["decisions"]
    assert entry["reason"] == {"da": "Du har fået et job."}
    assert entry["case_reference"] == decision.case_reference


@pytest.mark.parametrize(("name", "index"), CASES)
def test_no_list_of_changes_for_an_outcome_the_model_shows_none_for(
    client, citizens, cases_of, login_citizen, name, index
):
    # The demo models show what could have changed the result only for the outcome that
    # went against the citizen (output.counterfactual_for = "above").
    decision, html = _page(client, citizens, cases_of, login_citizen, name, index)
    output = decision.model_version.manifest["output"]
    above = decision.reported_output >= output["threshold"]
    shown_for = output["counterfactual_for"]
    wanted = shown_for == "both" or shown_for == ("above" if above else "below")
    assert ('id="change-heading"' in html) == wanted
    assert "Vi fandt ingen lille ændring" not in html or wanted
