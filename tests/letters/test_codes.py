"""Verification codes: random, typeable, forgiving when typed."""

from __future__ import annotations

from portal.letters import codes


def test_a_new_code_is_twelve_crockford_characters_in_three_groups() -> None:
    code = codes.new_code()
    assert codes.PATTERN.fullmatch(code)
    assert len(code.replace("-", "")) == 12
    assert not set(code) & set("ILOU")


def test_codes_do_not_repeat() -> None:
    assert len({codes.new_code() for _ in range(2000)}) == 2000


def test_typing_is_forgiven() -> None:
    assert codes.normalize("7kq2 m9xd 4htr") == "7KQ2-M9XD-4HTR"
    assert codes.normalize("7KQ2M9XD4HTR") == "7KQ2-M9XD-4HTR"
    assert codes.normalize("OIL2-M9XD-4HTR") == "0112-M9XD-4HTR"  # O reads 0, I and L read 1


def test_what_cannot_be_a_code_is_none() -> None:
    for text in ("", None, "7KQ2-M9XD-4HT", "7KQ2-M9XD-4HTRX", "7KQ2-M9XD-4HTU", "x" * 100):
        assert codes.normalize(text) is None
