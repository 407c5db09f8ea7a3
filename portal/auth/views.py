"""Login and logout pages: the chooser, OpenID Connect for citizens and staff, demo login."""

from __future__ import annotations

from typing import Any, Literal

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from portal.auth import services
from portal.auth.forms import DemoLoginForm
from portal.auth.oidc import STATE_MISMATCH, OIDCClient
from portal.auth.principal import (
    Principal,
    current_principal,
    login_session,
    logout_session,
    role_label,
)
from portal.auth.services import LoginFailed
from portal.config import OIDCProvider, Settings
from portal.db_session import render_page, request_session, writes
from portal.i18n import safe_next
from portal.security import limiter

bp = Blueprint("auth", __name__, template_folder="templates")
limiter.limit(lambda: current_app.config["SETTINGS"].login_ratelimit)(bp)

Audience = Literal["citizen", "staff"]
_PENDING = "oidc_pending"
_CALLBACKS = {"citizen": "auth.citizen_callback", "staff": "auth.staff_callback"}


def _settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


@bp.app_context_processor
def _principal_in_templates() -> dict[str, Any]:
    return {"current_principal": current_principal, "role_label": role_label}


def _landing(principal: Principal) -> str:
    if principal.is_citizen:
        return "/mine-sager"
    # Auditors land on the oversight dashboards (/tilsyn), administrators on the overview
    # of systems and models, caseworkers on their search.
    return {"auditor": "/tilsyn", "admin": "/admin"}.get(principal.role, "/sagsbehandler")


@bp.get("/login")
def login() -> str:
    settings = _settings()
    return render_page(
        "auth/login.html",
        next=safe_next(request.args.get("next"), ""),
        citizen_enabled=settings.citizen_oidc.enabled,
        staff_enabled=settings.staff_oidc.enabled,
    )


# ------------------------------------------------------------------------ OpenID Connect


def _provider(audience: Audience) -> OIDCProvider:
    settings = _settings()
    provider = settings.citizen_oidc if audience == "citizen" else settings.staff_oidc
    if not provider.enabled:
        abort(404)
    return provider


def _client(audience: Audience) -> OIDCClient:
    settings = _settings()
    return OIDCClient(
        _provider(audience),
        redirect_uri=settings.base_url.rstrip("/") + url_for(_CALLBACKS[audience]),
        timeout=settings.oidc_timeout_seconds,
        leeway=settings.oidc_leeway_seconds,
    )


def _begin(audience: Audience) -> Response:
    client = _client(audience)  # 404 when this login is off; no provider call yet
    target = safe_next(request.args.get("next"), "")  # refused (400) before any provider call
    acr = None
    if audience == "citizen":
        acr = " ".join(client.provider.acr_values) or _settings().citizen_min_acr
    url, pending = client.begin(acr_values=acr)
    session[_PENDING] = {
        **pending,
        "audience": audience,
        "next": target,
    }
    return redirect(url, code=303)


def _finish(audience: Audience) -> tuple[dict[str, Any], dict[str, Any], OIDCClient]:
    client = _client(audience)
    # Popped before anything else: a pending login is good for one callback only.
    pending = session.pop(_PENDING, None)
    if not isinstance(pending, dict) or pending.get("audience") != audience:
        raise LoginFailed(STATE_MISMATCH, code="login-state-mismatch")
    claims = client.finish(pending, request.args)
    return claims, pending, client


@bp.get("/login/borger")
def citizen_start() -> Response:
    return _begin("citizen")


@bp.get("/login/borger/callback")
@writes  # stores the account and the login event
def citizen_callback() -> Response:
    claims, pending, client = _finish("citizen")
    settings = _settings()
    services.check_assurance(claims.get("acr"), settings.citizen_min_acr)
    principal = services.login_citizen(
        request_session(),
        issuer=client.issuer,
        subject=claims["sub"],
        cpr=str(claims.get(client.provider.cpr_claim) or ""),
        lookup_secret=settings.lookup_key,
        method="oidc",
        acr=claims.get("acr"),
    )
    login_session(principal)
    return redirect(pending["next"] or _landing(principal), code=303)


@bp.get("/login/medarbejder")
def staff_start() -> Response:
    return _begin("staff")


@bp.get("/login/medarbejder/callback")
@writes  # stores the staff principal and the login event
def staff_callback() -> Response:
    claims, pending, client = _finish("staff")
    provider = client.provider
    principal = services.login_staff(
        request_session(),
        issuer=client.issuer,
        subject=claims["sub"],
        role=services.map_staff_role(claims.get(provider.role_claim)),
        unit=str(claims.get(provider.unit_claim) or ""),
        display_name=str(claims.get("name") or ""),
        method="oidc",
    )
    login_session(principal)
    return redirect(pending["next"] or _landing(principal), code=303)


# ------------------------------------------------------------------------------ logout


@bp.post("/logout")
def logout() -> Response:
    """POST only, with the CSRF token (checked by CSRFProtect for every POST)."""
    principal = current_principal()
    if principal is not None:
        services.record_logout(request_session(), principal)
    logout_session()
    return redirect("/logget-ud", code=303)


@bp.get("/logget-ud")
def logged_out() -> str:
    return render_page("auth/logged_out.html")


# -------------------------------------------------------------------------- demo login


def _demo_people() -> tuple[list[Any], list[services.DemoStaff]]:
    from portal.demo import BYGGESAG, LEDIGHED, demo_citizens
    from portal.demo.manifests import base_manifest

    units = [base_manifest(name)["responsible_unit"] for name in (LEDIGHED, BYGGESAG)]
    return demo_citizens(), services.demo_staff(units)


@bp.before_request
def _demo_only() -> None:
    if request.endpoint == "auth.demo" and not _settings().demo:
        abort(404)


@bp.route("/login/demo", methods=["GET", "POST"], endpoint="demo")
def demo_login() -> Any:
    citizens, staff = _demo_people()
    form = DemoLoginForm()
    if form.validate_on_submit():
        target = safe_next(form.next.data, "")  # refused (400) before anyone is logged in
        person = form.person.data or ""
        principal: Principal | None = None
        kind, _, ref = person.partition(":")
        if kind == "citizen" and ref.isdigit() and 0 <= int(ref) < len(citizens):
            principal = services.login_demo_citizen(
                request_session(),
                index=int(ref),
                cpr=citizens[int(ref)].cpr,
                lookup_secret=_settings().lookup_key,
            )
        elif kind == "staff":
            chosen = next((p for p in staff if p.ref == ref), None)
            if chosen is not None:
                principal = services.login_demo_staff(request_session(), chosen)
        if principal is None:
            abort(400)
        login_session(principal)
        return redirect(target or _landing(principal), code=303)
    if request.method == "POST":
        abort(400)
    return render_page(
        "auth/demo.html",
        citizens=list(enumerate(citizens)),
        staff=staff,
        next=safe_next(request.args.get("next"), ""),
    )
