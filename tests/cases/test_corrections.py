"""A corrected decision (``supersedes``): the citizen reads the new explanation with what
changed side by side, and the old one stays readable, marked as replaced."""

from __future__ import annotations

from typing import Any

import pytest
from factories_cases import add_decision, bodies_of


@pytest.fixture
def corrected(app: Any, session: Any, world: Any, citizens: Any, cases_of: Any) -> tuple[Any, Any]:
    """Anne's unemployment case, and a correction of it with other data (Lars's case's
    data and explanation, sent about Anne)."""
    old = cases_of(citizens["anne"])[0]
    body = bodies_of(citizens["lars"].cpr)[0]
    assert body["model"]["name"] == old.model_version.name
    new = add_decision(
        session,
        world,
        body,
        lookup_secret=app.config["SETTINGS"].lookup_key,
        cpr=citizens["anne"].cpr,
    )
    new.supersedes = old.public_id
    session.commit()
    return old, new


def test_the_new_decision_shows_what_changed_and_links_the_old(
    client: Any, corrected: Any, citizens: Any, login_citizen: Any
) -> None:
    old, new = corrected
    login_citizen(citizens["anne"])
    html = client.get(f"/mine-sager/{new.public_id}").get_data(as_text=True)
    assert "Denne afgørelse erstatter en tidligere" in html
    assert f'href="/mine-sager/{old.public_id}"' in html
    assert "Oplysninger, der er ændret" in html
    assert "Hensyn, der vejede anderledes" in html


def test_the_old_decision_stays_readable_and_says_it_was_replaced(
    client: Any, corrected: Any, citizens: Any, login_citizen: Any
) -> None:
    old, new = corrected
    login_citizen(citizens["anne"])
    answer = client.get(f"/mine-sager/{old.public_id}")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Afgørelsen er erstattet" in html
    assert f'href="/mine-sager/{new.public_id}"' in html
    assert "Denne afgørelse erstatter en tidligere" not in html


def test_another_citizen_sees_neither(
    client: Any, corrected: Any, citizens: Any, login_citizen: Any
) -> None:
    old, new = corrected
    login_citizen(citizens["jonas"])
    assert client.get(f"/mine-sager/{new.public_id}").status_code == 404
    assert client.get(f"/mine-sager/{old.public_id}").status_code == 404
