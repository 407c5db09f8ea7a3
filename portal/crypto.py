"""Encryption at rest and the CPR lookup key.

Personal data (CPR, feature values, free text from citizens) is stored as AES-256-GCM
ciphertext. Each ciphertext names the key that made it, so keys can be rotated: new data
is written with the first key of the ring, old data stays readable with the others until
``flask keys rotate`` re-encrypts it.

A ciphertext in the database is bound to its place: the AES-GCM associated data names the
table, the column and the row's key (:func:`place`), so a ciphertext copied to another row,
column or table fails authentication instead of decrypting as someone else's data. The
format byte tells the two formats apart: ``0x01`` (no associated data, written before
places existed: still read, rewritten by ``keys rotate``) and ``0x02`` (bound to a place).
See docs/security.md.

Citizens are found by a keyed HMAC of the CPR number (the *lookup key*), never by the CPR.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: Format bytes: v1 has no associated data (old rows, Redis sessions), v2 is bound to a place.
_V1 = b"\x01"
_V2 = b"\x02"
_FORMATS = (_V1, _V2)
_PLACE_PREFIX = b"forklaringsportalen/place/v2"
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
# The plaintext of encrypted JSON; built once (json.dumps builds an encoder per call).
_PLAINTEXT_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


class DecryptionError(Exception):
    """Ciphertext is damaged, was made with a key the ring does not hold, or belongs to
    another place (row, column or table) than the one it was read from."""


def place(table: str, column: str, row_key: object) -> bytes:
    """The associated data binding a ciphertext to ``table.column`` of the row ``row_key``.

    Each part is length-prefixed, so no two different places give the same bytes.
    """
    parts = [_PLACE_PREFIX, table.encode(), column.encode(), str(row_key).encode()]
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


class KeyRing:
    """AES-GCM keys; the first encrypts, all decrypt."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._keys = {self.key_id(key): AESGCM(key) for key in keys}
        self._current_id = self.key_id(keys[0])

    @classmethod
    def from_config(cls, value: str) -> KeyRing:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        return cls([base64.urlsafe_b64decode(e.encode()) for e in entries])

    @staticmethod
    def key_id(key: bytes) -> bytes:
        return hashlib.sha256(b"forklaringsportalen-key-id" + key).digest()[:_KEY_ID_BYTES]

    @property
    def current_key_id(self) -> bytes:
        return self._current_id

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Seal ``plaintext``; with ``associated_data`` (a :func:`place`) in format v2."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, associated_data)
        return (_V2 if associated_data else _V1) + self._current_id + nonce + sealed

    def decrypt(self, token: bytes, associated_data: bytes = b"") -> bytes:
        """Open ``token``. A v2 token opens only with the associated data it was made with;
        a v1 token (made without) opens whatever the place, until ``keys rotate``."""
        if len(token) < 1 + _KEY_ID_BYTES + _NONCE_BYTES + 16 or token[:1] not in _FORMATS:
            raise DecryptionError("not a portal ciphertext")
        key_id = token[1 : 1 + _KEY_ID_BYTES]
        nonce = token[1 + _KEY_ID_BYTES : 1 + _KEY_ID_BYTES + _NONCE_BYTES]
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionError("ciphertext made with a key that is not in the ring")
        if token[:1] == _V1:
            associated_data = b""
        elif not associated_data:
            raise DecryptionError("ciphertext is bound to a place and was read without one")
        try:
            return aead.decrypt(nonce, token[1 + _KEY_ID_BYTES + _NONCE_BYTES :], associated_data)
        except Exception as exc:  # cryptography raises InvalidTag without a message
            raise DecryptionError(
                "ciphertext failed authentication (damaged, or copied from another place)"
            ) from exc

    def needs_rotation(self, token: bytes, *, placed: bool = False) -> bool:
        """Made with an older key; with ``placed``, also when it is not yet bound to a place."""
        stale_key = token[1 : 1 + _KEY_ID_BYTES] != self._current_id
        return stale_key or (placed and token[:1] != _V2)

    def encrypt_json(self, value: Any, associated_data: bytes = b"") -> bytes:
        return self.encrypt(_PLAINTEXT_ENCODER.encode(value).encode(), associated_data)

    def decrypt_json(self, token: bytes, associated_data: bytes = b"") -> Any:
        return json.loads(self.decrypt(token, associated_data))


def lookup_key(secret: str, cpr: str) -> str:
    """The keyed HMAC that identifies a citizen without storing the CPR number."""
    normalised = cpr.replace("-", "").strip()
    return hmac.new(secret.encode(), normalised.encode(), hashlib.sha256).hexdigest()


# The key ring used by the EncryptedJSON column type. create_app() and workers install it;
# a column type cannot take constructor arguments per request, so this one module-level
# reference is the seam (tests install their own ring the same way).
_active_ring: KeyRing | None = None


def install_key_ring(ring: KeyRing) -> None:
    global _active_ring
    _active_ring = ring


def active_key_ring() -> KeyRing:
    if _active_ring is None:
        raise RuntimeError("no encryption key ring installed; call create_app() first")
    return _active_ring
