"""Verification codes of letter attachments: 12 characters of Crockford base32 (60 random
bits) in three groups of four, ``7KQ2-M9XD-4HTR``. Unguessable, short enough to type, and
forgiving when typed: case, spaces and hyphens do not matter, and O, I, L read as 0, 1, 1.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
LENGTH = 12
GROUP = 4
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-.]+")
#: A code as shown (groups joined by hyphens).
PATTERN = re.compile(rf"[{ALPHABET}]{{{GROUP}}}(?:-[{ALPHABET}]{{{GROUP}}}){{2}}")


def new_code() -> str:
    """A fresh random code, formatted in groups."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return _grouped(raw)


def normalize(text: str | None) -> str | None:
    """The code in ``text`` as stored (grouped, upper case), or None when it cannot be one."""
    if not text or len(text) > 40:
        return None
    raw = _SEPARATORS.sub("", text).upper().translate(_TYPOS)
    if len(raw) != LENGTH or any(char not in ALPHABET for char in raw):
        return None
    return _grouped(raw)


def _grouped(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))
