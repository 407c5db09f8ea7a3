"""The caseworker's letter attachment: ``/sagsbehandler/sager/<id>/bilag.pdf``.

Only a caseworker of the decision's unit gets it; everyone else logged in gets the 404 of a
case that does not exist, and a visitor without a session the login page. The attachment is
written in the recipient's language (``?sprog=da|en``, Danish by default), whatever language
the caseworker reads the portal in.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from portal.auth.principal import current_principal
from portal.cases.presentation import present_case
from portal.db_session import finish_unit_of_work, request_session, store_after_render
from portal.errors import BadRequest, NotFound
from portal.i18n import safe_next
from portal.letters import services
from portal.letters.pdf import qr_png, render_attachment

bp = Blueprint("letters", __name__, template_folder="templates")


@bp.get("/sagsbehandler/sager/<public_id>/bilag.pdf")
def attachment_pdf(public_id: str) -> BaseResponse:
    principal = current_principal()
    if principal is None:
        return redirect(url_for("auth.login", next=safe_next(request.path)), 303)
    if not principal.is_staff or principal.role != "caseworker":
        raise NotFound()
    language = services.language_or_default(request.args.get("sprog"))
    if language is None:
        raise BadRequest(code="unknown-language")
    settings = current_app.config["SETTINGS"]
    draft = services.prepare_attachment(
        request_session(), principal, public_id, language=language, base_url=settings.base_url
    )
    finish_unit_of_work()  # nothing is held open while the PDF renders
    with force_locale(language):
        html = render_template(
            "letters/attachment_pdf.html",
            page=present_case(draft.detail),
            draft=draft,
            public_id=public_id,
            pdf=True,
            now=draft.issued_at,
            qr=qr_png(draft.verify_url),
        )
        pdf = render_attachment(
            html,
            draft.machine_readable_bytes(),
            name=services.EMBEDDED_NAME,
            description=_("The explanation as data (JSON)"),
        )
    store_after_render(lambda session: services.store_attachment(session, principal, draft, pdf))
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="bilag-{public_id}.pdf"'
    return response
