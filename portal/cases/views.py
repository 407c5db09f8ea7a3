"""The citizen's pages: my cases, one case's explanation (page and PDF), requests about a
case, my data (export) and who has looked at my data.

Views are thin: check the login, call one service, present and render. Another
citizen's case and a case that does not exist give the same 404.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, redirect, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.auth.principal import Principal, citizen_required, current_principal
from portal.cases import exports, services, subject_access, tables
from portal.cases import language as lang
from portal.cases.corrections import what_changed
from portal.cases.forms import RectificationForm, ReviewForm
from portal.cases.models import PdfExport
from portal.cases.pdf import render_pdf
from portal.cases.presentation import present_case
from portal.db import utcnow
from portal.db_session import finish_unit_of_work, render_page, request_session
from portal.decisions.dispatch import get_dispatcher
from portal.decisions.models import EXPORT_PDF
from portal.decisions.worker import register_job_handler
from portal.i18n import localized
from portal.security import limiter

bp = Blueprint("cases", __name__, template_folder="templates")


@bp.record
def _export_jobs(state: Any) -> None:
    # The worker builds large PDFs with this app's templates and settings (each app
    # registers its own; the Celery worker builds an app for it, portal.decisions.tasks).
    register_job_handler(EXPORT_PDF, exports.handler(state.app))


def _form_limit() -> str:
    return str(current_app.config["SETTINGS"].request_form_ratelimit)


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # citizen_required ran first
    return principal


@bp.get("/mine-sager")
@citizen_required
def my_cases() -> str:
    cases = services.list_cases(request_session(), _principal())
    return render_page("cases/list.html", cases=cases, status_labels=lang.STATUS_LABELS)


@bp.get("/mine-sager/<public_id>")
@citizen_required
def case(public_id: str) -> str:
    detail = services.view_case(request_session(), _principal(), public_id)
    finish_unit_of_work()  # the service loaded everything: present and render without it
    page = present_case(detail)
    previous = detail.previous
    return render_page(
        "cases/case.html",
        page=page,
        public_id=public_id,
        pdf=False,
        requests=tables.request_rows(detail.requests, detail, response_days=_response_days()),
        replaced_by=detail.replaced_by,
        previous_id=previous.decision.public_id if previous else None,
        changes=what_changed(page, present_case(previous)) if previous else None,
    )


@bp.get("/mine-sager/<public_id>/pdf")
@citizen_required
def case_pdf(public_id: str) -> Response:
    detail = services.view_case(request_session(), _principal(), public_id, action="decision.pdf")
    finish_unit_of_work()
    page = present_case(detail)
    html = render_page(
        "cases/case_pdf.html",
        page=page,
        public_id=public_id,
        pdf=True,
        now=utcnow(),
        status_label=lang.label_for(lang.STATUS_LABELS, page.state),
    )
    return _download(render_pdf(html), "application/pdf", f"forklaring-{public_id}.pdf")


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _request_page(
    public_id: str,
    form: ReviewForm | RectificationForm,
    *,
    kind: str,
    heading: str,
    lead: str,
) -> Any:
    session, principal = request_session(), _principal()
    decision = services.own_decision(session, principal, public_id)
    if isinstance(form, RectificationForm):
        form.set_choices(
            [(key, localized(label)) for key, label in services.feature_choices(decision)]
        )
    if form.validate_on_submit():
        feature = form.data_point.data if isinstance(form, RectificationForm) else None
        created = services.create_request(
            session, principal, public_id, kind=kind, message=form.message.data, feature_key=feature
        )
        # The confirmation is a page of its own, so the citizen lands at its top.
        return redirect(
            url_for("cases.request_sent", public_id=public_id, request_id=created.public_id),
            303,
        )
    status = 400 if form.errors else 200
    return render_page(
        "cases/request_form.html",
        form=form,
        public_id=public_id,
        title=localized(decision.case_title),
        heading=heading,
        lead=lead,
        max_length=services.MAX_MESSAGE_LENGTH,
    ), status


@bp.route("/mine-sager/<public_id>/genvurdering", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"])
@citizen_required
def review(public_id: str) -> Any:
    return _request_page(
        public_id,
        ReviewForm(),
        kind="human-review",
        heading=_("Ask a person to look at the decision again"),
        lead=_(
            "You have a right to have a person assess your case again (GDPR, article 22). "
            "Tell us why, in your own words."
        ),
    )


@bp.route("/mine-sager/<public_id>/forkerte-oplysninger", methods=["GET", "POST"])
@limiter.limit(_form_limit, methods=["POST"])
@citizen_required
def rectification(public_id: str) -> Any:
    return _request_page(
        public_id,
        RectificationForm(),
        kind="rectification",
        heading=_("Tell us about wrong data"),
        lead=_(
            "You have a right to have wrong data corrected (GDPR, article 16). Choose the "
            "data and tell us what is right."
        ),
    )


@bp.get("/mine-sager/<public_id>/anmodninger/<request_id>")
@citizen_required
def request_sent(public_id: str, request_id: str) -> str:
    """The confirmation of a request: what was sent, what happens next and by when."""
    session, principal = request_session(), _principal()
    sent = services.own_request(session, principal, public_id, request_id)
    decision = sent.decision
    (row,) = tables.request_rows([sent], response_days=_response_days())
    return render_page(
        "cases/request_sent.html",
        sent=row,
        public_id=public_id,
        title=localized(decision.case_title),
        case_reference=decision.case_reference,
    )


def _response_days() -> int:
    return int(current_app.config["SETTINGS"].request_response_days)


@bp.get("/mine-data")
@citizen_required
def my_data() -> str:
    return render_page("cases/my_data.html")


@bp.get("/mine-data.json")
@citizen_required
def my_data_json() -> Response:
    export = subject_access.export_data(request_session(), _principal(), fmt="json")
    body = {
        "about": _(
            "All the data Forklaringsportalen holds about you. Your CPR number is stored "
            "encrypted. We only use it to find your cases, so it is not in this file."
        ),
        **export.to_json(),
    }
    text = json.dumps(body, ensure_ascii=False, indent=2)
    return _download(text.encode("utf-8"), "application/json", "mine-data.json")


@bp.get("/mine-data.pdf")
@citizen_required
def my_data_pdf() -> Response:
    """A small PDF at once; a large one is queued for the worker (``exports``)."""
    result = exports.my_data_pdf(
        request_session(),
        _principal(),
        locale=str(get_locale() or "da"),
        settings=exports.Settings.of(current_app.config["SETTINGS"]),
    )
    finish_unit_of_work()
    if isinstance(result, PdfExport):
        response = redirect(url_for("cases.my_data_pdf_status", export_id=result.public_id), 303)
        if result.status == "pending" and result.job_id is not None:
            job_id, dispatcher = result.job_id, get_dispatcher(current_app)
            response.call_on_close(lambda: dispatcher.nudge([job_id]))
        return response
    html = render_page(
        "cases/my_data_pdf.html", **exports.my_data_pdf_context(result, _response_days())
    )
    return _download(render_pdf(html), "application/pdf", "mine-data.pdf")


@bp.get("/mine-data/pdf/<export_id>")
@citizen_required
def my_data_pdf_status(export_id: str) -> str:
    """ "We are preparing your PDF" (reloading itself), or the link to the finished file."""
    export = exports.own_export(request_session(), _principal(), export_id)
    return render_page(
        "cases/pdf_export.html", export=export, refresh_seconds=exports.REFRESH_SECONDS
    )


@bp.get("/mine-data/pdf/<export_id>/fil")
@citizen_required
def my_data_pdf_file(export_id: str) -> Response:
    body = exports.export_file(request_session(), _principal(), export_id)
    finish_unit_of_work()
    return _download(body, "application/pdf", "mine-data.pdf")


@bp.get("/mine-data/log")
@citizen_required
def access_log() -> str:
    session, principal = request_session(), _principal()
    events = subject_access.access_log(session, principal)
    names = subject_access.case_names(session, principal)
    return render_page("cases/access_log.html", entries=tables.access_rows(events, names))
