"""The /tilsyn pages: what auditors see, drawn from the stored reports, CSP-safe charts."""

from __future__ import annotations

import re

from portal.supervision.chain import record_chain_check


def test_the_overview_lists_models_and_the_chain_status(
    app, client, session, login_as, decide, aggregate
) -> None:
    decide(40, koen="k", output=0.8)
    decide(40, koen="m", output=0.2)
    aggregate()
    session.commit()  # releases the savepoint; the outer transaction still rolls back
    login_as("auditor")
    page = client.get("/tilsyn")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Tilsynstestmodel" in text
    assert "Markeret: Køn" in text
    assert "Revisionssporet er ikke kontrolleret endnu." in text


def test_the_chain_status_is_the_stored_verification(app, client, session, login_as) -> None:
    from portal.db_session import get_db

    check = record_chain_check(get_db(app), app.config["SETTINGS"].audit_checkpoint_key)
    assert check.ok
    login_as("admin")
    text = client.get("/tilsyn").get_data(as_text=True)
    assert "Revisionssporet er intakt" in text
    assert "Senest kontrolleret" in text


def test_the_fairness_page_has_a_chart_and_a_table_of_the_same_numbers(
    client, session, login_as, decide, aggregate, fair_model
) -> None:
    decide(40, koen="k", output=0.8)
    decide(40, koen="m", output=0.2)
    decide(3, koen="m", output=0.2, monitoring={"aldersgruppe": "18-29"})
    aggregate()
    login_as("auditor")
    page = client.get(f"/tilsyn/{fair_model.name}/{fair_model.version}/retfaerdighed")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert text.count("<svg") == 2  # koen and the monitoring attribute
    assert 'aria-labelledby="fairness-table-0"' in text
    assert 'id="fairness-table-0"' in text
    assert "100,0 %" in text  # the outcome rate of "k", in the chart and the table
    assert "for få til at vurdere" in text  # the monitoring group of three
    # Groups are named as the manifest names them, in the table and in the chart.
    assert text.count(">Kvinde<") == 2
    assert text.count(">Mand<") == 2
    assert ">18-29" in text  # a monitoring value as the system sent it
    assert "style=" not in text
    assert not re.search(r"<script(?![^>]*src=)", text)


def test_the_drift_page_flags_injected_drift(
    client, session, login_as, decide, aggregate, fair_model
) -> None:
    decide(50, weeks=lambda i: 400 + i, koen="k")
    decide(50, weeks=lambda i: 400 + i, koen="m")
    aggregate()
    login_as("auditor")
    text = client.get(f"/tilsyn/{fair_model.name}/{fair_model.version}/drift").get_data(
        as_text=True
    )
    assert "Drift markeret: Uger som ledig." in text
    assert "100,0 %" in text  # every recent decision is outside the background
    assert 'id="drift-weeks-table"' in text
    assert "style=" not in text


def test_the_rates_page_shows_overrides_per_unit_and_week(
    client, session, login_as, decide, aggregate, fair_model
) -> None:
    decide(3, followed_model=False, decided_by="Team Vest")
    decide(1, decided_by="Team Vest")
    aggregate()
    login_as("auditor")
    text = client.get(f"/tilsyn/{fair_model.name}/{fair_model.version}/omgoerelser").get_data(
        as_text=True
    )
    assert "Team Vest" in text
    assert "2026-W21" in text
    assert "75,0 %" in text


def test_before_the_job_has_run_the_pages_say_so(client, login_as, fair_model) -> None:
    login_as("auditor")
    for tail in ("retfaerdighed", "drift", "omgoerelser"):
        page = client.get(f"/tilsyn/{fair_model.name}/{fair_model.version}/{tail}")
        assert page.status_code == 200
        assert "Ingen tal endnu" in page.get_data(as_text=True)


def test_an_unknown_model_version_is_not_found(client, login_as) -> None:
    login_as("auditor")
    assert client.get("/tilsyn/findesikke/1/drift").status_code == 404


def test_a_caseworker_may_not_see_the_dashboards(client, login_as) -> None:
    login_as("caseworker")
    assert client.get("/tilsyn").status_code == 403


def test_english_on_request(client, login_as) -> None:
    login_as("auditor")
    text = client.get("/tilsyn?lang=en").get_data(as_text=True)
    assert "Supervision" in text
    assert "The audit trail has not been verified yet." in text
