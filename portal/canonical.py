"""Canonical JSON: one text for one JSON value (keys sorted, no spaces, text as is).

Wherever JSON is compared or hashed (a delivery's content, a registered manifest, the audit
chain), two equal values must give the same bytes, whatever order their keys came in.
"""

from __future__ import annotations

import json
from typing import Any

# Built once: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The canonical text of ``value``; the same as ``json.dumps`` with these options."""
    return _ENCODER.encode(value)
