"""Canonical JSON: one text for one JSON value (keys sorted, no spaces, text as is).

Wherever JSON is compared or hashed (a delivery's content, a registered manifest, the audit
chain), two equal values must give the same bytes, whatever order their keys came in.

A lone UTF-16 surrogate (``"\\ud800"``, which JSON allows) is the one character that has no
UTF-8 form: it is written as its ``\\uXXXX`` escape, so the text can always be encoded and
hashed. Every other text is unchanged (a backslash in a string is written ``\\\\``, so the
escape cannot be confused with text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

# Built once: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def canonical_json(value: Any) -> str:
    """The canonical text of ``value``; the same as ``json.dumps`` with these options,
    except that lone surrogates are escaped."""
    text = _ENCODER.encode(value)
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_escape, text)


def is_text(value: str) -> bool:
    """False for a string holding a lone surrogate: it is not text (no UTF-8 form, so it
    can be neither stored nor shown)."""
    return _SURROGATE.search(value) is None


def all_text(value: Any) -> bool:
    """True when every string (keys included) of a JSON value is text: the quick check run
    on every body (one regex search over all its strings), before any path is worked out."""
    strings: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return _SURROGATE.search("".join(strings)) is None


def shown(text: str) -> str:
    """``text`` with each lone surrogate as its ``\\uXXXX`` escape: always text."""
    return text if is_text(text) else text.encode("utf-8", "backslashreplace").decode()


def lone_surrogates(value: Any, path: str = "") -> Iterator[str]:
    """The dotted path (``body`` for the whole; keys :func:`shown`) of every string, key or
    value, in a JSON value that is not text (see :func:`is_text`)."""
    if isinstance(value, str):
        if not is_text(value):
            yield path or "body"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{shown(str(key))}" if path else shown(str(key))
            if isinstance(key, str) and not is_text(key):
                yield where
            yield from lone_surrogates(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from lone_surrogates(item, f"{path}.{index}" if path else str(index))
