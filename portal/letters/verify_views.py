"""Public verification of a letter attachment at ``/bekraeft`` (no login).

Type the code (``/bekraeft?kode=...`` leads to ``/bekraeft/<code>``, the address the QR code
holds) or upload the PDF. The answer says whether it is a genuine, unchanged attachment and,
if it is ours, when it was issued, by which unit and for which kind of case: nothing
personal. Nothing is stored. Rate limited per client address (``PORTAL_VERIFY_RATELIMIT``);
an upload larger than ``PORTAL_VERIFY_MAX_UPLOAD_BYTES`` is refused (413) before it is read.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.db_session import render_page, request_session
from portal.letters import codes, services
from portal.letters.forms import UploadForm
from portal.security import limiter

bp = Blueprint("verify", __name__, template_folder="templates")


def _limit() -> str:
    return str(current_app.config["SETTINGS"].verify_ratelimit)


limiter.limit(_limit)(bp)


@bp.url_value_preprocessor
def _upload_size(endpoint: str | None, _values: Any) -> None:
    # Runs before the CSRF check reads the form: an oversized upload is refused unread.
    if endpoint == "verify.upload":
        request.max_content_length = current_app.config["SETTINGS"].verify_max_upload_bytes


def _page(result: services.Verification | None, form: UploadForm, typed: str = "") -> Any:
    status = result.status if result is not None else (400 if form.errors else 200)
    return render_page(
        "letters/verify.html",
        result=result,
        form=form,
        typed=typed,
        max_mb=current_app.config["SETTINGS"].verify_max_upload_bytes / 1_000_000,
    ), status


@bp.get("/bekraeft")
def start() -> Any:
    typed = request.args.get("kode")
    if typed is None or not typed.strip():  # the page itself, or the form sent empty
        return _page(None, UploadForm())
    code = codes.normalize(typed)
    if code is not None:
        return redirect(url_for("verify.code", code=code), 303)
    return _page(services.Verification(services.UNKNOWN_CODE), UploadForm(), typed[:40])


@bp.get("/bekraeft/<code>")
def code(code: str) -> BaseResponse | Any:
    normalized = codes.normalize(code)
    if normalized is not None and normalized != code:
        return redirect(url_for("verify.code", code=normalized), 303)
    result = services.verify_code(request_session(), code)
    return _page(result, UploadForm(), code[:40])


@bp.post("/bekraeft")
def upload() -> Any:
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(None, form)
    data = form.document.data.read()
    return _page(services.verify_upload(request_session(), data), UploadForm())
