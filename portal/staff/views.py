"""The caseworker's pages (/sagsbehandler) and the administrator's overview (/admin).

Views are thin: check the role, parse the form, call one service, render or redirect. A
case or request of another unit answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale
from markupsafe import Markup

from portal.auth.principal import Principal, current_principal, staff_required
from portal.cases import language as lang
from portal.cases import tables
from portal.cases.presentation import present_case
from portal.db_session import finish_unit_of_work, render_page, request_session
from portal.i18n import LANGUAGES
from portal.staff import actions, labels, overview, services
from portal.staff.forms import (
    CprSearchForm,
    OversightForm,
    PurposeForm,
    RequestAnswerForm,
    SearchForm,
)

bp = Blueprint("staff", __name__, template_folder="templates")
bp.context_processor(labels.template_labels)
caseworker = staff_required("caseworker")


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # staff_required ran first
    return principal


def _settings() -> Any:
    return current_app.config["SETTINGS"]


@bp.get("/sagsbehandler")
@caseworker
def search() -> Any:
    session, principal = request_session(), _principal()
    form = SearchForm(request.args)
    form.set_models(services.unit_models(session, principal))
    result = None
    if form.validate():
        query = services.SearchQuery(
            reference=form.reference.data or "",
            decided_from=form.decided_from.data,
            decided_to=form.decided_to.data,
            model=form.model.data or "",
            page=_page_number(request.args.get("side", "")),
        )
        result = services.search(session, principal, query)
    args = {k: v for k, v in request.args.items() if k != "side" and v}
    page = render_page(
        "staff/search.html", form=form, result=result, args=args, cpr_form=CprSearchForm()
    )
    return page, 200 if result is not None else 400


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 6 else 1


@bp.post("/sagsbehandler/cpr")
@caseworker
def cpr_search() -> Any:
    form = CprSearchForm()
    if not form.validate_on_submit():
        form.cpr.data = ""  # a CPR number is never echoed back into the page
        return render_page("staff/cpr_search.html", form=form, found=None), 400
    found = services.search_by_cpr(
        request_session(),
        _principal(),
        form.cpr.data or "",
        purpose=form.purpose.data or "",
        lookup_secret=_settings().lookup_key,
    )
    form.cpr.data = ""
    return render_page("staff/cpr_search.html", form=form, found=found, purpose=form.purpose.data)


def _citizen_language() -> str:
    chosen = request.args.get("sprog", "da")
    return chosen if chosen in LANGUAGES else "da"


@bp.get("/sagsbehandler/sager/<public_id>")
@caseworker
def case(public_id: str) -> Any:
    session, principal = request_session(), _principal()
    decision = services.scoped_decision(session, principal, public_id)
    purpose_form = PurposeForm(request.args)
    asked = "formaal" in request.args or "aaben" in request.args
    if not asked or not purpose_form.validate():
        # Nothing of the case but its number until a purpose is chosen; nothing is logged.
        page = render_page(
            "staff/purpose.html", form=purpose_form, decision_ref=decision.case_reference
        )
        return page, 400 if asked else 200
    purpose = purpose_form.formaal.data
    opened = services.open_case(session, principal, public_id, purpose=purpose)
    return _case_page(opened, purpose, OversightForm(purpose=purpose))


def _case_page(opened: services.StaffCase, purpose: str, form: OversightForm) -> str:
    finish_unit_of_work()  # everything is loaded: present and render without the database
    detail, citizen_language = opened.detail, _citizen_language()
    with force_locale(citizen_language):
        page = present_case(detail)
        explanation = Markup(  # noqa: S704 - our own template's output, escaped by Jinja
            render_template(
                "cases/_explanation.html", page=page, pdf=False, public_id=detail.decision.public_id
            )
        )
    return render_template(
        "staff/case.html",
        opened=opened,
        page=page,
        explanation=explanation,
        citizen_language=citizen_language,
        purpose=purpose,
        purpose_label=lang.label_for(lang.PURPOSE_LABELS, purpose),
        form=form,
        requests=tables.request_rows(
            detail.requests, detail, response_days=_settings().request_response_days
        ),
    )


@bp.post("/sagsbehandler/sager/<public_id>/vurdering")
@caseworker
def oversight(public_id: str) -> Any:
    session, principal = request_session(), _principal()
    services.scoped_decision(session, principal, public_id)  # 404 before any form error
    form = OversightForm()
    purpose = form.purpose.data if form.purpose.data in services.PURPOSES else "casework"
    if form.validate_on_submit():
        actions.record_oversight(
            session, principal, public_id, verdict=form.verdict.data, reason=form.reason.data
        )
        return redirect(
            url_for("staff.case", public_id=public_id, formaal=purpose) + "#staff-oversight", 303
        )
    opened = services.open_case(session, principal, public_id, purpose=purpose)
    return _case_page(opened, purpose, form), 400


@bp.get("/sagsbehandler/anmodninger")
@caseworker
def requests() -> str:
    rows = actions.unit_requests(
        request_session(), _principal(), response_days=_settings().request_response_days
    )
    return render_page("staff/requests.html", rows=rows, form=None, blank_form=RequestAnswerForm())


@bp.post("/sagsbehandler/anmodninger/<request_id>")
@caseworker
def answer_request(request_id: str) -> Any:
    session, principal = request_session(), _principal()
    form = RequestAnswerForm()
    if form.validate_on_submit():
        actions.move_request(
            session, principal, request_id, status=form.status.data, answer=form.answer.data
        )
        return redirect(url_for("staff.requests") + "#request-" + request_id, 303)
    actions.scoped_request(session, principal, request_id)  # 404 for another unit's request
    rows = actions.unit_requests(
        session, principal, response_days=_settings().request_response_days
    )
    page = render_page(
        "staff/requests.html",
        rows=rows,
        form=form,
        blank_form=RequestAnswerForm(),
        failed=request_id,
    )
    return page, 400


@bp.get("/admin")
@staff_required("admin")
def admin() -> str:
    return render_page("staff/admin.html", systems=overview.systems(request_session()))
