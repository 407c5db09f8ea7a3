"""Signed checkpoints of the audit chain's head.

A checkpoint says "after ``sealed`` events the chain's head hash was ``head``, at ``at``",
signed with HMAC-SHA256 under ``PORTAL_AUDIT_CHECKPOINT_KEY``, a key that lives in the
environment of the portal's processes and never in the database. Someone who can rewrite
the database but does not have the key can rewrite the chain's rows, but not a checkpoint
that still matches them; removing the newest events shows as a chain shorter than a
checkpoint. The sealer also writes each checkpoint to the log as one line (no personal
data: counts, a hash and a time), so a copy kept outside the database catches even the
removal of the newest checkpoints (``flask --app wsgi audit verify --checkpoint LINE``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

#: What a checkpoint's log line starts with (the JSON object follows).
LOG_PREFIX = "audit-checkpoint"


def _timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign(key: str, sealed: int, head: str, at: dt.datetime) -> str:
    message = f"audit-checkpoint-v1|{sealed}|{head}|{_timestamp(at)}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: from the ``audit_checkpoint`` table (``id`` set) or a log line."""

    sealed: int
    head: str
    at: dt.datetime
    signature: str
    id: int | None = None

    def valid(self, key: str) -> bool:
        expected = sign(key, self.sealed, self.head, self.at)
        return hmac.compare_digest(expected, self.signature)

    def label(self) -> str:
        where = f"checkpoint {self.id}" if self.id is not None else "the given checkpoint"
        return f"{where} ({_timestamp(self.at)}, {self.sealed} events)"

    def log_line(self) -> str:
        body = {"sealed": self.sealed, "head": self.head, "at": _timestamp(self.at)}
        return f"{LOG_PREFIX} " + json.dumps({**body, "sig": self.signature}, sort_keys=True)

    @classmethod
    def from_log_line(cls, line: str) -> Checkpoint:
        """Parse a line copied from the log (anything before the JSON object is ignored)."""
        start = line.find("{")
        if start < 0:
            raise ValueError("no checkpoint in the line (expected a JSON object)")
        try:
            body = json.loads(line[start : line.rindex("}") + 1])
            at = dt.datetime.strptime(body["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
            return cls(int(body["sealed"]), str(body["head"]), at, str(body["sig"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a checkpoint line: {type(exc).__name__}") from exc
