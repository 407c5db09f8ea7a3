"""Canonical JSON: equal values give equal text, whatever the key order."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from portal.canonical import all_text, canonical_json, is_text, lone_surrogates

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=15,
)


@given(_VALUES)
def test_is_json_dumps_with_sorted_keys_and_no_spaces(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected
    assert json.loads(canonical_json(value)) == value


def test_key_order_does_not_matter_and_text_is_kept_as_is() -> None:
    first = {"b": [1, {"y": "ø", "x": 2}], "a": None}
    second = {"a": None, "b": [1, {"x": 2, "y": "ø"}]}
    assert canonical_json(first) == canonical_json(second) == '{"a":null,"b":[1,{"x":2,"y":"ø"}]}'


_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))


@given(st.dictionaries(_ANY_TEXT, st.lists(_ANY_TEXT, max_size=3), max_size=4))
def test_any_text_even_lone_surrogates_gives_utf8_that_reads_back_equal(value: object) -> None:
    text = canonical_json(value)
    assert json.loads(text.encode("utf-8")) == value


def test_a_lone_surrogate_is_escaped_and_stays_apart_from_the_same_text_written_out() -> None:
    assert canonical_json({"\udc00": "a\ud800"}) == '{"\\udc00":"a\\ud800"}'
    # the six characters \ud800 as ordinary text are written with an escaped backslash
    assert canonical_json("\\ud800") == '"\\\\ud800"'
    assert canonical_json("\ud800") != canonical_json("\\ud800")
    # a proper pair is one character, written as is
    assert canonical_json("\U0001f600") == '"\U0001f600"'


def test_lone_surrogates_names_every_path_keys_shown_escaped() -> None:
    value = {"a": ["ok", "\ud800"], "\udfff": {"b": "x"}, "c": {"d": "\udc00"}, "e": 1}
    assert sorted(lone_surrogates(value)) == ["\\udfff", "a.1", "c.d"]
    assert list(lone_surrogates("\ud800")) == ["body"]
    assert list(lone_surrogates({"fine": ["ø", "\U0001f600"]})) == []
    assert all_text(value) is False
    assert all_text({"fine": ["ø", "\U0001f600"], "n": [1, None, 2.5]}) is True
    assert all_text([{"k": {"\udfff": 1}}]) is False
    assert is_text("ø\U0001f600")
    assert not is_text("x\udfff")
