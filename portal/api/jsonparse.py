"""Strict JSON for machine clients.

Python's ``json`` accepts ``NaN``, ``Infinity``, numbers that overflow to ``inf``, duplicate
keys (the last one wins) and nesting deep enough to exhaust the recursion limit. A signed
decision must mean exactly one thing, so all of these are refused before any schema check.
So is a ``\\u0000`` in any string: PostgreSQL cannot store it, and it would otherwise
surface as a 500 only after validation.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from portal.errors import BadRequest

#: Deepest nesting of objects and arrays accepted; a decision body needs about 4.
MAX_DEPTH = 32

# A complete string literal, and the longest prefix made only of complete strings and other
# text. Needed only for a body with an escaped quote (see _outside_strings). The prefix is
# possessive, so a string that never ends costs one scan, not one scan per later quote.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_UP_TO_UNENDED_STRING = re.compile(rb'(?:[^"]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


class InvalidJSON(BadRequest):
    code = "invalid-json"
    message = "The body is not valid JSON."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key in object")
    return out


# Built once: json.loads with hooks builds a decoder per call, a sixth of a decision's parse.
_STRICT_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant,
    parse_float=_finite_float,
    object_pairs_hook=_no_duplicate_keys,
)


def _outside_strings(raw: bytes) -> bytes:
    """``raw`` with every complete string literal cut out, scanning from the left.

    Without an escaped quote every quote opens or closes a string, so a split at the quotes
    does it in C. A string that never ends stays, with all after it: once one string is
    unended, every later quote is escaped within it and starts no string either.
    """
    if b'\\"' not in raw:
        parts = raw.split(b'"')
        outside = b"".join(parts[::2])
        return outside if len(parts) % 2 else outside + b'"' + parts[-1]
    end = _UP_TO_UNENDED_STRING.match(raw).end()  # type: ignore[union-attr]  # always matches
    return _STRING.sub(b"", raw[:end]) + raw[end:]


def nesting_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """Maximum nesting of ``raw`` (stops counting once ``limit`` is passed).

    Strings are cut out and everything but brackets dropped; then each pass removes every
    empty pair, i.e. the innermost level, so the number of passes is the depth. All of it
    runs in C (a Python loop per bracket cost 12 % of a batch request). Unbalanced brackets
    stop the count early; the parser refuses such a body anyway.
    """
    brackets = _outside_strings(raw).translate(None, _NOT_BRACKETS)
    depth = 0
    while brackets and depth <= limit:
        # Both kinds are marked before any is dropped: "{[]}" is two levels, not one.
        marked = brackets.replace(b"[]", b".").replace(b"{}", b".")
        if len(marked) == len(brackets):
            break
        brackets = marked.replace(b".", b"")
        depth += 1
    return depth


def parse_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body strictly (UTF-8, no NaN/Infinity, no duplicate keys, bounded
    depth). Raises :class:`InvalidJSON` (400) with a specific code."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJSON("The body is not UTF-8.", code="invalid-encoding") from None
    # Each level needs an opening bracket, so a body with few of them (strings included)
    # cannot be too deep: a typical single decision skips the exact count.
    brackets = raw.translate(None, _NOT_BRACKETS)
    if (
        brackets.count(b"[") + brackets.count(b"{") > max_depth
        and nesting_depth(raw, max_depth) > max_depth
    ):
        raise InvalidJSON(
            f"The JSON is nested deeper than {max_depth} levels.", code="json-too-deep"
        )
    try:
        if text.startswith("\ufeff"):  # as json.loads does before it decodes
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _STRICT_DECODER.decode(text)
    except RecursionError:  # defensive: the depth check above should have caught it
        raise InvalidJSON(code="json-too-deep") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError; so are our hooks' errors
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidJSON(f"The body is not valid JSON: {reason}.") from None
    # A raw NUL is already invalid JSON; only the escape can produce one, so the walk is
    # skipped for almost every body.
    if b"\\u0000" in raw and _has_nul(value):
        raise InvalidJSON(
            "The JSON contains a NUL character (\\u0000), which is not accepted in any text.",
            code="json-nul-character",
        )
    return value


def _has_nul(value: Any) -> bool:
    """True when a NUL character is in any string (key or value) of ``value``.

    Stored text cannot hold one (PostgreSQL refuses it), and no real decision needs one."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
