"""Who is logged in: the principal kept in the server-side session, and access decorators.

Views ask :func:`current_principal`; services take the :class:`Principal` as an argument
and never read the session themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, ParamSpec, TypeVar, cast

from flask import g, redirect, request, session, url_for
from flask_babel import gettext as _

from portal.auth.sessions import ServerSideSession
from portal.db import utcnow
from portal.errors import Forbidden, NotFound
from portal.i18n import safe_next
from portal.oversight.audit import Actor

P = ParamSpec("P")
R = TypeVar("R")

PrincipalKind = Literal["citizen", "staff"]
CITIZEN = "citizen"
STAFF_ROLES = ("caseworker", "auditor", "admin")
ROLES = (CITIZEN, *STAFF_ROLES)
_SESSION_KEY = "principal"


@dataclass(frozen=True)
class Principal:
    """The logged-in person. A citizen is known by the CPR lookup key, never by the CPR."""

    kind: PrincipalKind
    subject_key: str | None
    account_id: int | None
    staff_id: int | None
    role: str  # citizen | caseworker | auditor | admin
    unit: str | None
    # For the page header. A citizen sees a neutral text, never a CPR number or a name.
    display: str

    @property
    def is_citizen(self) -> bool:
        return self.kind == "citizen"

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"


def principal_session_data(principal: Principal) -> dict[str, Any]:
    """What the session stores: everything but the display text, which is made per request
    (so it follows the language the person reads in)."""
    data = asdict(principal)
    if principal.is_citizen:
        data["display"] = ""
    return data


def _principal_from_session(data: dict[str, Any]) -> Principal | None:
    try:
        kind = data["kind"]
        role = data["role"]
        valid = (kind == "citizen" and role == CITIZEN) or (kind == "staff" and role in STAFF_ROLES)
        if not valid:
            return None
        display = data.get("display") or ""
        if kind == "citizen":
            display = _("You are logged in")
        elif not display:
            display = role_label(role)
        return Principal(
            kind=kind,
            subject_key=data.get("subject_key"),
            account_id=data.get("account_id"),
            staff_id=data.get("staff_id"),
            role=role,
            unit=data.get("unit"),
            display=display,
        )
    except (KeyError, TypeError):
        return None


def role_label(role: str) -> str:
    labels = {
        "citizen": _("Citizen"),
        "caseworker": _("Caseworker"),
        "auditor": _("Auditor"),
        "admin": _("Administrator"),
    }
    return labels.get(role, role)


def current_principal() -> Principal | None:
    """The principal of this request's session, or None for an anonymous visitor."""
    if "principal" in g:
        return cast(Principal | None, g.principal)
    data = session.get(_SESSION_KEY)
    principal = _principal_from_session(data) if isinstance(data, dict) else None
    g.principal = principal
    return principal


def _server_session() -> ServerSideSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, ServerSideSession):
        raise RuntimeError("login needs the server-side session interface (auth_sessions)")
    return current


def login_session(principal: Principal) -> None:
    """Start a logged-in session: drop whatever the anonymous session held, new token."""
    current = _server_session()
    current.clear()
    current.regenerate()
    current[_SESSION_KEY] = principal_session_data(principal)
    current["login_at"] = utcnow().isoformat()
    g.principal = _principal_from_session(current[_SESSION_KEY])


def logout_session() -> None:
    """End the session: the stored session is deleted and the old cookie stops working."""
    _server_session().destroy()
    g.principal = None


def _login_redirect() -> Any:
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=safe_next(target)), code=303)


def citizen_required(view: Callable[P, R]) -> Callable[P, R]:
    """Only a logged-in citizen. Staff get a 404: a citizen page reveals nothing to them."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        principal = current_principal()
        if principal is None:
            return cast(R, _login_redirect())
        if not principal.is_citizen:
            raise NotFound()
        return view(*args, **kwargs)

    return wrapper


def staff_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Only logged-in staff, and only the given roles (any staff role when none is given)."""
    unknown = set(roles) - set(STAFF_ROLES)
    if unknown:
        raise ValueError(f"unknown staff roles: {sorted(unknown)}")
    allowed = roles or STAFF_ROLES

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            principal = current_principal()
            if principal is None:
                return cast(R, _login_redirect())
            if not principal.is_staff or principal.role not in allowed:
                raise Forbidden()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def audit_actor(principal: Principal) -> Actor:
    """The audit trail's actor for a principal: opaque ids only, never a name or a CPR."""
    if principal.is_citizen:
        ref = f"citizen-account:{principal.account_id}" if principal.account_id else "self"
        return Actor(kind="citizen", ref=ref, role=CITIZEN)
    return Actor(kind="staff", ref=f"staff:{principal.staff_id}", role=principal.role)
