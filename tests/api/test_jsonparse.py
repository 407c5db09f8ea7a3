"""Strict JSON parsing: what is refused, with which code, and that the fast depth check
agrees with its plain definition."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.api.jsonparse import MAX_DEPTH, InvalidJSON, nesting_depth, parse_json


def _refusal(raw: bytes, **kwargs: Any) -> InvalidJSON:
    with pytest.raises(InvalidJSON) as caught:
        parse_json(raw, **kwargs)
    return caught.value


def _reference_depth(raw: bytes, limit: int) -> int:
    """The definition the fast check must match: strings cut out from the left, then one
    pass per level removing every empty pair."""
    outside = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", raw, flags=re.DOTALL)
    brackets = re.sub(rb"[^\[\]{}]+", b"", outside)
    depth = 0
    while brackets and depth <= limit:
        brackets, removed = re.subn(rb"\[\]|\{\}", b"", brackets)
        if not removed:
            break
        depth += 1
    return depth


@settings(max_examples=500, deadline=None)
@given(
    raw=st.lists(
        st.sampled_from([b'"', b"\\", b'\\"', b"[", b"]", b"{", b"}", b"a", b":", b"\n"]),
        max_size=40,
    ).map(b"".join),
    limit=st.integers(0, 4),
)
def test_nesting_depth_matches_its_definition(raw: bytes, limit: int) -> None:
    """Invalid bodies included: the depth decides between json-too-deep and invalid-json."""
    assert nesting_depth(raw, limit) == _reference_depth(raw, limit)


def _repeats_a_key(raw: bytes) -> bool:
    """The plain definition: some object, once parsed, lists a key twice."""
    seen_twice = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen_twice
        seen_twice = seen_twice or len({key for key, _ in items}) != len(items)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return seen_twice


# Keys drawn from a few spellings, some of them equal once decoded, and some holding the
# characters the fast check counts or skips (colons, quotes, backslashes).
_KEYS = st.sampled_from(['"a"', '"\\u0061"', '"b"', '"a:b"', '"\\"x:"', '"\\\\"', '":"'])
_SCALARS = st.sampled_from(["1", "-2.5e3", "true", "null", '"v:w"', '"\\"{:}\\""', '""'])
_JSON_TEXT = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")
        | st.lists(st.tuples(_KEYS, inner), max_size=4).map(
            lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"
        )
    ),
    max_leaves=12,
)


@settings(max_examples=800, deadline=None)
@given(text=_JSON_TEXT)
def test_duplicate_keys_are_found_exactly_where_an_object_repeats_one(text: str) -> None:
    raw = text.encode()
    if _repeats_a_key(raw):
        assert "duplicate key" in _refusal(raw).message
    else:
        assert parse_json(raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": {"b": {"c": {"d": 1, "d": 2}}}}', "duplicate key"),
        (b'[{"a": 1}, {"a": 1, "b": 2, "a": 3}]', "duplicate key"),
        (b'{"a": 1, "\\u0061": 2}', "duplicate key"),  # equal once decoded
        (b'{"a": [[1, [2, 1e400]]]}', "number out of range"),
        (b'{"a": -1e400}', "number out of range"),
        (b"1e400", "number out of range"),
        (b'{"a": [-Infinity]}', "-Infinity is not allowed"),
        (b"\xef\xbb\xbf{}", "BOM"),  # the module-level decoder must refuse it as json.loads does
    ],
)
def test_ambiguous_json_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    error = _refusal(raw)
    assert error.code == "invalid-json"
    assert reason in error.message


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": "\\"a\\": 1", "b": "{\\"a\\": 2}"}', {"a": '"a": 1', "b": '{"a": 2}'}),
        (b'{"a\\"": 1, "a": 2, "a\\\\": 3}', {'a"': 1, "a": 2, "a\\": 3}),
        (b'{"a" \n\t : 1, "b"\r\n:[1e308, -0.0]}', {"a": 1, "b": [1e308, -0.0]}),
    ],
)
def test_keys_like_text_escaped_quotes_and_whitespace_are_accepted(raw: bytes, value: Any) -> None:
    assert parse_json(raw) == value


def test_depth_limit_is_exact_around_the_bracket_count_shortcut() -> None:
    """Up to the limit's number of opening brackets the exact count is skipped."""
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    deeper = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    assert _refusal(deeper).code == "json-too-deep"
    # "{[]}" is two levels even though removing "[]" leaves an empty "{}"
    assert parse_json(b'[{"a": [{}]}]', max_depth=4) == [{"a": [{}]}]
    assert _refusal(b'[{"a": [{}]}]', max_depth=3).code == "json-too-deep"


def test_brackets_in_strings_with_escaped_quotes_do_not_count() -> None:
    """An escaped quote takes the regex path instead of the split at quotes."""
    text = '\\"' + "[{" * MAX_DEPTH
    assert parse_json(f'[["{text}"], {{"k": "{text}"}}]'.encode()) == [
        [text.replace("\\", "")],
        {"k": text.replace("\\", "")},
    ]
    too_deep = b"[" * (MAX_DEPTH + 1) + b'"\\""' + b"]" * (MAX_DEPTH + 1)
    assert _refusal(too_deep).code == "json-too-deep"


def test_too_deep_wins_over_invalid() -> None:
    assert _refusal(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"x").code == (
        "json-too-deep"
    )
    assert _refusal(b"[" * (MAX_DEPTH + 1) + b"NaN" + b"]" * (MAX_DEPTH + 1)).code == (
        "json-too-deep"
    )


@pytest.mark.timeout(10)
def test_unended_string_of_escaped_quotes_is_refused_in_linear_time() -> None:
    """The string regex used to retry at every later quote: 80 kB took 35 s."""
    raw = b"[" * (MAX_DEPTH + 1) + b'"' + b'\\"' * 200_000
    assert _refusal(raw).code == "invalid-json"
