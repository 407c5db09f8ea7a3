"""The public verification forms (Flask-WTF: the upload carries its CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class UploadForm(FlaskForm):
    """Upload an attachment (PDF) to check that it is genuine and unchanged."""

    document = FileField(
        _l("The attachment as a PDF file"),
        validators=[FileRequired(message=_l("Choose the PDF file of the attachment."))],
        render_kw={"accept": "application/pdf,.pdf"},
    )
