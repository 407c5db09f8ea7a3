"""Canonical JSON: equal values give equal text, whatever the key order."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from portal.canonical import canonical_json

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
