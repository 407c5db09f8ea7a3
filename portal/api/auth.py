"""Who is calling: the signed system behind a machine request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.api.signing import SignatureError, SignedHeaders, check_timestamp, verify
from portal.errors import Forbidden
from portal.registry.models import System, WebhookSecret


class SystemDisabled(Forbidden):
    code = "system-disabled"
    message = "This system is disabled and may not send requests."


def valid_secrets(session: Session, system: System, now: dt.datetime) -> list[str]:
    """The system's secrets that are valid at ``now`` (decrypted)."""
    rows = session.scalars(
        select(WebhookSecret.secret).where(
            WebhookSecret.system_id == system.id,
            or_(WebhookSecret.valid_until.is_(None), WebhookSecret.valid_until > now),
        )
    ).all()
    return list(rows)


def authenticate(
    session: Session,
    signed: SignedHeaders,
    body: bytes,
    *,
    now: dt.datetime,
    tolerance_seconds: int,
) -> System:
    """The system that signed ``body``; 401 for any signature problem, 403 when disabled.

    An unknown system name and a wrong secret give the same answer, so the API does not
    tell an outsider which system names exist.
    """
    check_timestamp(signed, now, tolerance_seconds)
    system = session.scalar(select(System).where(System.name == signed.system))
    if system is None or not verify(signed, body, valid_secrets(session, system, now)):
        raise SignatureError()
    if system.status != "active":
        raise SystemDisabled()
    return system
