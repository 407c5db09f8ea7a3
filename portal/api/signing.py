"""Standard Webhooks signatures: parsing the headers and verifying the HMAC.

A request is signed with ``HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{raw body}")``
and sent as ``webhook-signature: v1,<base64>`` (several space-separated entries are allowed,
e.g. one per secret during a rotation; any valid one suffices). This module verifies over the
raw *bytes*, so it is byte-for-byte compatible with the ``standardwebhooks`` library for JSON
bodies and also works for the multipart model upload (which is not UTF-8). Unlike
``standardwebhooks.Webhook.verify`` it never raises anything but :class:`SignatureError`,
whatever the header bytes are (that library raises ``ValueError`` on a malformed entry and
``UnicodeDecodeError`` on a binary body).

Which system is sending: the ``x-system`` header names it, and only that system's valid
secrets are tried, so system A's secret can never post as system B, and verification costs
one HMAC per valid secret of one system (not per system).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portal.errors import PortalError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SYSTEM_HEADER = "x-system"
#: Entries beyond this many in one signature header are ignored (bounded work per request).
MAX_SIGNATURES = 10
_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces; fits Delivery.webhook_id
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class SignatureError(PortalError):
    """Any problem with the signature headers or the signature itself (401)."""

    status = 401
    code = "invalid-signature"
    message = "The webhook signature could not be verified."


@dataclass(frozen=True)
class SignedHeaders:
    """The parsed signature headers of one request."""

    system: str
    webhook_id: str
    timestamp: int
    signatures: tuple[bytes, ...]


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise SignatureError(f"The {name} header is missing.", code="missing-signature-headers")
    return value.strip()


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """Parse ``x-system``, ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.

    ``headers`` must look names up case-insensitively (werkzeug's ``Headers`` does).
    """
    system = _header(headers, SYSTEM_HEADER)
    webhook_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signature = _header(headers, "webhook-signature")
    if not _SYSTEM.match(system):
        raise SignatureError("The x-system header is malformed.", code="invalid-system-header")
    if not _ID.match(webhook_id):
        raise SignatureError(
            "The webhook-id must be 1-200 printable ASCII characters without spaces.",
            code="invalid-webhook-id",
        )
    if not _TIMESTAMP.match(timestamp):
        raise SignatureError(
            "The webhook-timestamp must be whole seconds since the epoch.",
            code="invalid-timestamp",
        )
    signatures: list[bytes] = []
    for entry in signature.split()[:MAX_SIGNATURES]:
        version, sep, encoded = entry.partition(",")
        if version != "v1" or not sep:
            continue  # other schemes (v1a) are not ours; skipping them is what the spec says
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == hashlib.sha256().digest_size:
            signatures.append(raw)
    if not signatures:
        raise SignatureError(
            "The webhook-signature header has no well-formed v1 signature.",
            code="invalid-signature-header",
        )
    return SignedHeaders(system, webhook_id, int(timestamp), tuple(signatures))


def check_timestamp(signed: SignedHeaders, now: dt.datetime, tolerance_seconds: int) -> None:
    """Refuse a timestamp more than ``tolerance_seconds`` away from ``now`` (replays)."""
    if abs(now.timestamp() - signed.timestamp) > tolerance_seconds:
        raise SignatureError(
            f"The webhook-timestamp is more than {tolerance_seconds} seconds from now.",
            code="timestamp-out-of-tolerance",
        )


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (base64 after the prefix), as the library does."""
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX) :]
    return base64.b64decode(secret + "==")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` for a body (bytes). Used by tools that sign binary bodies."""
    mac = hmac.new(secret_bytes(secret), f"{webhook_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(signed: SignedHeaders, body: bytes, secrets: Sequence[str]) -> bool:
    """True when any signature in the header matches any of ``secrets`` (constant time)."""
    prefix = f"{signed.webhook_id}.{signed.timestamp}.".encode()
    matched = False
    for secret in secrets:
        expected = hmac.new(secret_bytes(secret), prefix + body, hashlib.sha256).digest()
        for candidate in signed.signatures:
            # no early exit: the work does not depend on which entry matched
            matched |= hmac.compare_digest(expected, candidate)
    return matched
