"""Helpers for the decisions tests (importable as ``decisions_support``)."""

from __future__ import annotations

import datetime as dt

from standardwebhooks import Webhook


def signed_headers(secret: str, system: str, webhook_id: str, data: str) -> dict[str, str]:
    """Standard Webhooks headers for ``data``, signed now by the official library."""
    now = dt.datetime.now(dt.UTC)
    return {
        "x-system": system,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, data),
    }
