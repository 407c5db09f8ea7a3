"""Login rules: turning verified identity claims into a principal, and the audit trail.

Plain functions on a database session; they never read Flask's globals, and they flush,
never commit. The CPR number is turned into the lookup key at once and goes no further.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.models import CitizenAccount, StaffPrincipal
from portal.auth.principal import CITIZEN, STAFF_ROLES, Principal, audit_actor
from portal.config_checks import loa_rank
from portal.crypto import lookup_key
from portal.db import utcnow
from portal.errors import PortalError
from portal.oversight.audit import record_event

DEMO_ISSUER = "urn:forklaringsportalen:demo"

# Role claim values from the municipality's identity provider, mapped to portal roles.
STAFF_ROLE_ALIASES: Mapping[str, str] = {
    "caseworker": "caseworker",
    "sagsbehandler": "caseworker",
    "auditor": "auditor",
    "revisor": "auditor",
    "tilsyn": "auditor",
    "admin": "admin",
    "administrator": "admin",
}


class LoginFailed(PortalError):
    """A login that must not go through. The message is shown to the person."""

    status = 401
    code = "login-failed"
    message = _l("We could not log you in. Please try again.")


class LoginRefused(LoginFailed):
    """The identity is valid, but not enough for this portal (assurance level, role)."""

    status = 403
    code = "login-refused"


class ProviderUnavailable(PortalError):
    """The identity provider could not be reached or answered nonsense."""

    status = 502
    code = "login-provider-unavailable"
    message = _l(
        "We cannot reach the login service right now. You have not been logged in. "
        "Please try again in a few minutes."
    )


def check_assurance(acr: str | None, minimum: str) -> None:
    """Refuse a login below the minimum assurance level (an unknown level is refused)."""
    if loa_rank(minimum) < 0:
        raise ValueError(f"unknown minimum assurance level {minimum!r}")
    if loa_rank(acr) < loa_rank(minimum):
        raise LoginRefused(
            _l(
                "Your login was not secure enough for this service. Please log in with MitID again."
            ),
            code="login-assurance-too-low",
        )


def citizen_principal(account: CitizenAccount) -> Principal:
    return Principal(
        kind="citizen",
        subject_key=account.subject_key,
        account_id=account.id,
        staff_id=None,
        role=CITIZEN,
        unit=None,
        display="",
    )


def staff_principal(staff: StaffPrincipal) -> Principal:
    return Principal(
        kind="staff",
        subject_key=None,
        account_id=None,
        staff_id=staff.id,
        role=staff.role,
        unit=staff.unit or None,
        display=staff.display_name,
    )


def login_citizen(
    db: Session,
    *,
    issuer: str,
    subject: str,
    cpr: str,
    lookup_secret: str,
    method: str,
    acr: str | None = None,
) -> Principal:
    """Find or create the citizen's account (keyed by issuer and subject) and log the login.

    The CPR becomes the lookup key here and is not kept. A subject whose CPR changed
    (rare, but it happens) is re-linked to the new lookup key.
    """
    cpr = (cpr or "").replace("-", "").strip()
    if len(cpr) != 10 or not cpr.isdigit():
        raise LoginFailed(code="login-cpr-missing")
    key = lookup_key(lookup_secret, cpr)
    account = db.scalar(
        select(CitizenAccount).where(
            CitizenAccount.issuer == issuer, CitizenAccount.subject == subject
        )
    )
    if account is None:
        account = CitizenAccount(issuer=issuer, subject=subject, subject_key=key)
        db.add(account)
    account.subject_key = key
    account.last_login_at = utcnow()
    db.flush()
    principal = citizen_principal(account)
    record_login(db, principal, method=method, acr=acr)
    return principal


def map_staff_role(claim: Any) -> str:
    """The portal role from a role claim (a string or a list); refuse when none matches.

    With several matching roles the strongest wins: admin, then auditor, then caseworker.
    """
    values = claim if isinstance(claim, list | tuple) else [claim]
    found = {STAFF_ROLE_ALIASES.get(str(v).strip().lower()) for v in values if v is not None}
    for role in ("admin", "auditor", "caseworker"):
        if role in found:
            return role
    raise LoginRefused(
        _l("Your user has no role in this service. Contact your manager to get access."),
        code="login-role-unknown",
    )


def login_staff(
    db: Session,
    *,
    issuer: str,
    subject: str,
    role: str,
    unit: str,
    display_name: str,
    method: str,
) -> Principal:
    """Create or update the staff principal from the identity provider's claims."""
    if role not in STAFF_ROLES:
        raise LoginRefused(code="login-role-unknown")
    if role == "caseworker" and not unit:
        # A caseworker sees the cases of their unit; without a unit they would see none.
        raise LoginRefused(
            _l("Your user has no unit in this service. Contact your manager to get access."),
            code="login-unit-missing",
        )
    staff = db.scalar(
        select(StaffPrincipal).where(
            StaffPrincipal.issuer == issuer, StaffPrincipal.subject == subject
        )
    )
    if staff is None:
        staff = StaffPrincipal(issuer=issuer, subject=subject, role=role, unit=unit)
        db.add(staff)
    staff.role = role
    staff.unit = unit
    staff.display_name = display_name[:200]
    staff.last_login_at = utcnow()
    db.flush()
    principal = staff_principal(staff)
    record_login(db, principal, method=method)
    return principal


def record_login(db: Session, principal: Principal, *, method: str, acr: str | None = None) -> None:
    details: dict[str, Any] = {"method": method}
    if acr:
        details["acr"] = acr
    if principal.unit:
        details["unit"] = principal.unit
    record_event(
        db,
        audit_actor(principal),
        "auth.login",
        purpose="authentication",
        subject_key=principal.subject_key,
        details=details,
    )


def record_logout(db: Session, principal: Principal) -> None:
    record_event(
        db,
        audit_actor(principal),
        "auth.logout",
        purpose="authentication",
        subject_key=principal.subject_key,
    )


# ---------------------------------------------------------------------------- demo login


@dataclass(frozen=True)
class DemoStaff:
    """A made-up member of staff offered by the demo login."""

    ref: str
    role: str
    unit: str
    name: str


def demo_staff(units: Sequence[str]) -> list[DemoStaff]:
    """A caseworker per demo unit, an auditor and an administrator."""
    people = [
        DemoStaff(
            ref=f"caseworker-{i}", role="caseworker", unit=unit, name=f"Demo-sagsbehandler {i}"
        )
        for i, unit in enumerate(units, start=1)
    ]
    people.append(DemoStaff("auditor", "auditor", "Revision og tilsyn", "Demo-revisor"))
    people.append(DemoStaff("admin", "admin", "Digitalisering", "Demo-administrator"))
    return people


def login_demo_staff(db: Session, person: DemoStaff) -> Principal:
    return login_staff(
        db,
        issuer=DEMO_ISSUER,
        subject=person.ref,
        role=person.role,
        unit=person.unit,
        display_name=person.name,
        method="demo",
    )


def login_demo_citizen(db: Session, *, index: int, cpr: str, lookup_secret: str) -> Principal:
    return login_citizen(
        db,
        issuer=DEMO_ISSUER,
        subject=f"citizen-{index}",
        cpr=cpr,
        lookup_secret=lookup_secret,
        method="demo",
    )
