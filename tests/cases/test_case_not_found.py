"""A case that is not yours answers exactly like one that does not exist (the access matrix,
tests/test_access_matrix.py, checks the status of every route for every role)."""

from __future__ import annotations


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
