"""Encryption at rest and the CPR lookup key.

Personal data (CPR, feature values, free text from citizens) is stored as AES-256-GCM
ciphertext. Each ciphertext names the key that made it, so keys can be rotated: new data
is written with the first key of the ring, old data stays readable with the others until
``flask keys rotate`` re-encrypts it.

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

_VERSION = b"\x01"
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
# The plaintext of encrypted JSON; built once (json.dumps builds an encoder per call).
_PLAINTEXT_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


class DecryptionError(Exception):
    """Ciphertext is damaged or was made with a key the ring does not hold."""


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
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, associated_data)
        return _VERSION + self._current_id + nonce + sealed

    def decrypt(self, token: bytes, associated_data: bytes = b"") -> bytes:
        if len(token) < 1 + _KEY_ID_BYTES + _NONCE_BYTES + 16 or token[:1] != _VERSION:
            raise DecryptionError("not a portal ciphertext")
        key_id = token[1 : 1 + _KEY_ID_BYTES]
        nonce = token[1 + _KEY_ID_BYTES : 1 + _KEY_ID_BYTES + _NONCE_BYTES]
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionError("ciphertext made with a key that is not in the ring")
        try:
            return aead.decrypt(nonce, token[1 + _KEY_ID_BYTES + _NONCE_BYTES :], associated_data)
        except Exception as exc:  # cryptography raises InvalidTag without a message
            raise DecryptionError("ciphertext failed authentication") from exc

    def needs_rotation(self, token: bytes) -> bool:
        return token[1 : 1 + _KEY_ID_BYTES] != self._current_id

    def encrypt_json(self, value: Any) -> bytes:
        return self.encrypt(_PLAINTEXT_ENCODER.encode(value).encode())

    def decrypt_json(self, token: bytes) -> Any:
        return json.loads(self.decrypt(token))


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
