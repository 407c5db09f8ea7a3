"""A case that is not yours answers exactly like one that does not exist (the access matrix,
tests/test_access_matrix.py, checks the status of every route for every role)."""

from __future__ import annotations

import re


def _without_csrf(body: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', body)


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
        # (The CSRF token is signed with the time, so it may differ by a second.)
        yours_body = _without_csrf(not_yours.get_data(as_text=True)).replace(
            anne_case.public_id, "ID"
        )
        there_body = _without_csrf(not_there.get_data(as_text=True)).replace(missing, "ID")
        assert yours_body == there_body
        assert not_yours.headers["Content-Type"] == not_there.headers["Content-Type"]


def _costs(app, monkeypatch):
    """Counters of decryptions and SQL statements while a block runs."""
    from sqlalchemy import event

    from portal.crypto import KeyRing
    from portal.db_session import get_db

    counts = {"decrypt": 0, "queries": 0}
    decrypt = KeyRing.decrypt_json

    def counting(self, token, *place):
        counts["decrypt"] += 1
        return decrypt(self, token, *place)

    def statement(*_args):
        counts["queries"] += 1

    monkeypatch.setattr(KeyRing, "decrypt_json", counting)
    engine = get_db(app).engine
    event.listen(engine, "before_cursor_execute", statement)

    def measure(call):
        counts.update(decrypt=0, queries=0)
        call()
        return dict(counts)

    return measure, lambda: event.remove(engine, "before_cursor_execute", statement)


def test_not_yours_decrypts_nothing_and_costs_what_not_there_costs(
    app, client, session, citizens, cases_of, login_citizen, monkeypatch
):
    import pytest

    from portal.cases import services
    from portal.errors import NotFound

    anne_case, _ = cases_of(citizens["anne"])
    cases_of(citizens["jonas"])
    jonas = login_citizen(citizens["jonas"])
    missing = "A" * len(anne_case.public_id)
    session.expunge_all()  # nothing of Anne's already loaded in the identity map
    measure, stop = _costs(app, monkeypatch)
    try:

        def look_up(public_id):
            def call():
                with pytest.raises(NotFound):
                    services.own_decision(session, jonas, public_id)

            return call

        not_yours, not_there = measure(look_up(anne_case.public_id)), measure(look_up(missing))
        assert not_yours == not_there
        assert not_yours["decrypt"] == 0
        # Through the pages too: the same statements and decryptions (the session's own).
        client.get("/mine-sager")  # (the first request of a login may touch its session)
        for suffix in ("", "/pdf", "/genvurdering", "/anmodninger/x"):
            pages = [
                measure(lambda public_id=public_id: client.get(f"/mine-sager/{public_id}{suffix}"))
                for public_id in (anne_case.public_id, missing)
            ]
            assert pages[0] == pages[1], suffix
    finally:
        stop()
