"""Forms a citizen sends about a decision (Flask-WTF: each carries its CSRF token)."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.cases.services import MAX_MESSAGE_LENGTH

# Room for a long message; ``maxlength`` is the same limit the server checks (Length below
# and services.create_request), so the browser never accepts text the server refuses.
_TEXTAREA = {"rows": 12, "maxlength": MAX_MESSAGE_LENGTH}


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ReviewForm(FlaskForm):
    """Ask for a new assessment by a person (GDPR art. 22(3))."""

    message = TextAreaField(
        _l("Why do you want a person to look at the decision again?"),
        filters=[_strip],
        render_kw=_TEXTAREA,
        validators=[
            DataRequired(message=_l("Write why you want a new assessment.")),
            Length(
                max=MAX_MESSAGE_LENGTH,
                message=_l("Write at most %(max)d characters.", max=MAX_MESSAGE_LENGTH),
            ),
        ],
    )


class RectificationForm(FlaskForm):
    """Report that a data point is wrong (GDPR art. 16)."""

    data_point = SelectField(
        _l("Which data is wrong?"),
        validate_choice=False,  # checked below, with a message a citizen understands
        validators=[DataRequired(message=_l("Choose the data that is wrong."))],
    )
    message = TextAreaField(
        _l("What is wrong, and what is right?"),
        filters=[_strip],
        render_kw=_TEXTAREA,
        validators=[
            DataRequired(message=_l("Write what is wrong.")),
            Length(
                max=MAX_MESSAGE_LENGTH,
                message=_l("Write at most %(max)d characters.", max=MAX_MESSAGE_LENGTH),
            ),
        ],
    )

    def set_choices(self, choices: Sequence[tuple[str, str]]) -> None:
        self.data_point.choices = [("", _l("Choose data")), *choices]

    def validate_data_point(self, field: Field) -> None:
        keys = {key for key, _label in (self.data_point.choices or []) if key}
        if field.data not in keys:
            raise ValidationError(_l("Choose one of the data on the list."))
