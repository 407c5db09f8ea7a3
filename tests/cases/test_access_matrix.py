"""Who may do what on the citizen pages: one table, (method, URL, role) -> status.

Roles: ``anonymous``; ``owner`` (the citizen whose case it is); ``other`` (a citizen with
cases of their own); ``nocases`` (a citizen with none); staff (``caseworker``, ``auditor``,
``admin``: citizen pages are not theirs, so 404); ``machine`` (a request carrying webhook
headers but no session: anonymous to these pages). Only the owner ever sees the case; for
everyone else logged in as a citizen it does not exist, with the very same body as a case
that does not exist at all.

The CSRF check is switched off here so the table tests access, not tokens (CSRF has its
own tests); a logged-out POST would otherwise stop at the token with a 400.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.cases.models import CitizenRequest

ROLES = ("anonymous", "owner", "other", "nocases", "caseworker", "auditor", "admin", "machine")
STAFF = ("caseworker", "auditor", "admin")
LOGIN = 303  # to the login page
CASE = "{case}"

POST_DATA = {
    "genvurdering": {"message": "Se venligst på sagen igen."},
    "forkerte-oplysninger": {"data_point": "ledighed_uger", "message": "Det er forkert."},
}


def _row(method: str, url: str, owner: int, others: int) -> list[tuple[str, str, str, int]]:
    """Expected status per role: ``owner`` for the owner, ``others`` for other citizens."""
    expected = {
        "anonymous": LOGIN,
        "machine": LOGIN,
        "owner": owner,
        "other": others,
        "nocases": others,
        **dict.fromkeys(STAFF, 404),
    }
    return [(method, url, role, expected[role]) for role in ROLES]


MATRIX = [
    *_row("GET", "/mine-sager", 200, 200),
    *_row("GET", f"/mine-sager/{CASE}", 200, 404),
    *_row("GET", f"/mine-sager/{CASE}/pdf", 200, 404),
    *_row("GET", f"/mine-sager/{CASE}/genvurdering", 200, 404),
    *_row("POST", f"/mine-sager/{CASE}/genvurdering", 303, 404),
    *_row("GET", f"/mine-sager/{CASE}/forkerte-oplysninger", 200, 404),
    *_row("POST", f"/mine-sager/{CASE}/forkerte-oplysninger", 303, 404),
    *_row("GET", "/mine-data", 200, 200),
    *_row("GET", "/mine-data.json", 200, 200),
    *_row("GET", "/mine-data.pdf", 200, 200),
    *_row("GET", "/mine-data/log", 200, 200),
]


@pytest.fixture
def no_csrf(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


@pytest.fixture
def login(login_as, login_citizen, citizens):
    def as_role(role: str) -> dict[str, str]:
        """Log the client in as ``role``; returns extra headers for the request."""
        if role == "owner":
            login_citizen(citizens["anne"])
        elif role == "other":
            login_citizen(citizens["jonas"])
        elif role == "nocases":
            login_citizen(citizens["mette"])
        elif role in STAFF:
            login_as(role, unit="Jobcenter København, Team Syd")
        elif role == "machine":
            return {
                "webhook-id": "msg_2Lb0cXc1Qd5l3Y",
                "webhook-timestamp": "1780000000",
                "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
            }
        return {}

    return as_role


@pytest.mark.parametrize(("method", "url", "role", "expected"), MATRIX)
def test_access_matrix(
    client, session, citizens, cases_of, login, no_csrf, method, url, role, expected
):
    anne_case, _ = cases_of(citizens["anne"])
    cases_of(citizens["jonas"])
    headers = login(role)
    target = url.replace(CASE, anne_case.public_id)
    before = session.scalar(select(func.count()).select_from(CitizenRequest))
    if method == "GET":
        answer = client.get(target, headers=headers)
    else:
        answer = client.post(target, headers=headers, data=POST_DATA[url.rsplit("/", 1)[1]])
    assert answer.status_code == expected
    if role in ("anonymous", "machine"):
        assert answer.headers["Location"].startswith("/login")
    elif expected == 303:
        assert answer.headers["Location"].startswith(f"/mine-sager/{anne_case.public_id}")
    after = session.scalar(select(func.count()).select_from(CitizenRequest))
    assert after == before + (1 if method == "POST" and expected == 303 and role == "owner" else 0)
    if expected == 404:  # nothing of the case leaks (the URL itself is echoed by the layout)
        body = answer.get_data(as_text=True)
        assert "Tilbud om jobrettet indsats" not in body
        assert "Siden findes ikke" in body


def test_not_yours_and_does_not_exist_look_the_same(client, citizens, cases_of, login_citizen):
    anne_case, _ = cases_of(citizens["anne"])
    cases_of(citizens["jonas"])
    login_citizen(citizens["jonas"])
    missing = "A" * len(anne_case.public_id)
    for suffix in ("", "/pdf", "/genvurdering", "/forkerte-oplysninger"):
        not_yours = client.get(f"/mine-sager/{anne_case.public_id}{suffix}")
        not_there = client.get(f"/mine-sager/{missing}{suffix}")
        assert not_yours.status_code == not_there.status_code == 404
        # The layout's language switch links back to the URL asked for; apart from that echo
        # the two answers are byte for byte the same.
        yours_body = not_yours.get_data(as_text=True).replace(anne_case.public_id, "ID")
        there_body = not_there.get_data(as_text=True).replace(missing, "ID")
        assert yours_body == there_body
        assert not_yours.headers["Content-Type"] == not_there.headers["Content-Type"]
