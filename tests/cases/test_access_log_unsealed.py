""" "Who has seen my data" reads the audit events as appended: a view shows at once, before
the sealer has chained it."""

from __future__ import annotations

from portal.oversight.models import AuditSeal


def test_the_access_log_shows_events_not_sealed_yet(
    client, session, citizens, cases_of, login_citizen
) -> None:
    anne_case, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    assert "Så sagen" not in client.get("/mine-data/log").get_data(as_text=True)
    assert client.get(f"/mine-sager/{anne_case.public_id}").status_code == 200
    assert session.query(AuditSeal).count() == 0
    assert "Så sagen" in client.get("/mine-data/log").get_data(as_text=True)
