"""The caseworker's forms. Search and purpose are GET forms (no personal data in them, so
no token); everything that changes data or carries a CPR number is a POST with CSRF."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.decisions.cpr import cpr_problem
from portal.staff.actions import MAX_TEXT_LENGTH

PURPOSE_CHOICES = [
    SelectChoice("casework", _l("Casework (sagsbehandling)")),
    SelectChoice("complaint", _l("Complaint (klage)")),
    SelectChoice("access-request", _l("Request for access to documents (aktindsigt)")),
    SelectChoice("oversight", _l("Oversight (tilsyn)")),
]
PURPOSE_KEYS = {c.value for c in PURPOSE_CHOICES}
_TEXT = Length(
    max=MAX_TEXT_LENGTH, message=_l("Write at most %(max)d characters.", max=MAX_TEXT_LENGTH)
)
_TEXTAREA = {"rows": 6, "maxlength": MAX_TEXT_LENGTH}


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class _DateField(DateField):
    """A date field whose parse error is in the page's language (WTForms has no Danish)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Write a real date (day, month and year).")) from None


class SearchForm(FlaskForm):
    """Search the unit's cases (GET: the URL holds no CPR number)."""

    class Meta:
        csrf = False

    reference = StringField(_l("Case number (exact)"), filters=[_strip], validators=[Optional()])
    decided_from = _DateField(
        _l("Decided on or after"),
        validators=[Optional()],
        render_kw={"type": "date"},
    )
    decided_to = _DateField(
        _l("Decided on or before"), validators=[Optional()], render_kw={"type": "date"}
    )
    model = SelectField(_l("Model"), validate_choice=False, validators=[Optional()])

    def set_models(self, names: list[str]) -> None:
        self.model.choices = [SelectChoice("", _l("All models"))]
        self.model.choices += [SelectChoice(n, n) for n in names]

    def validate_model(self, field: Any) -> None:
        if field.data and field.data not in {c.value for c in self.model.choices or []}:
            raise ValidationError(_l("Choose one of the models on the list."))

    def validate_decided_to(self, field: Any) -> None:
        start = self.decided_from.data
        if start and field.data and field.data < start:
            raise ValidationError(_l("The end date must not be before the start date."))


class PurposeForm(FlaskForm):
    """Why the case is opened (GET: goes into the audit trail when the case opens)."""

    class Meta:
        csrf = False

    formaal = RadioField(
        _l("Why are you opening the case?"),
        choices=PURPOSE_CHOICES,
        validate_choice=False,
        validators=[DataRequired(message=_l("Choose why you are opening the case."))],
    )

    def validate_formaal(self, field: Any) -> None:
        if field.data not in PURPOSE_KEYS:
            raise ValidationError(_l("Choose why you are opening the case."))


class CprSearchForm(FlaskForm):
    """Search by CPR number: POST only (never in a URL), and the search is logged."""

    cpr = StringField(
        _l("CPR number"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write a CPR number.")),
            Length(max=11, message=_l("Write the CPR number as 10 digits.")),
        ],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    purpose = SelectField(
        _l("Why are you searching?"),
        choices=[SelectChoice("", _l("Choose a purpose")), *PURPOSE_CHOICES],
        validate_choice=False,
        validators=[DataRequired(message=_l("Choose why you are searching."))],
    )

    def validate_purpose(self, field: Any) -> None:
        if field.data not in PURPOSE_KEYS:
            raise ValidationError(_l("Choose why you are searching."))

    def validate_cpr(self, field: Any) -> None:
        if cpr_problem((field.data or "").replace("-", "")) is not None:
            raise ValidationError(_l("Write a real CPR number: 10 digits, the first 6 a date."))


class OversightForm(FlaskForm):
    """Agree with the model's advice or override it (a reason is required to override)."""

    verdict = RadioField(
        _l("Your assessment of the model's advice"),
        choices=[
            SelectChoice("agreed", _l("I agree with the model's advice")),
            SelectChoice("overrode", _l("I override the model's advice")),
        ],
        validate_choice=False,
        validators=[DataRequired(message=_l("Choose whether you agree or override."))],
    )
    reason = TextAreaField(
        _l("Reason (required when you override)"),
        filters=[_strip],
        render_kw=_TEXTAREA,
        validators=[_TEXT],
    )
    purpose = HiddenField()

    def validate_verdict(self, field: Any) -> None:
        if field.data not in ("agreed", "overrode"):
            raise ValidationError(_l("Choose whether you agree or override."))

    def validate_reason(self, field: Any) -> None:
        if self.verdict.data == "overrode" and not field.data:
            raise ValidationError(_l("Write why you override the model's advice."))


class RequestAnswerForm(FlaskForm):
    """Move a citizen's request on, with an answer the citizen reads on the case page."""

    status = SelectField(
        _l("New status"),
        choices=[
            SelectChoice("in-progress", _l("In progress")),
            SelectChoice("answered", _l("Answered")),
            SelectChoice("closed", _l("Closed")),
        ],
        validate_choice=False,
        validators=[DataRequired(message=_l("Choose a status."))],
    )
    answer = TextAreaField(
        _l("Answer to the citizen"), filters=[_strip], render_kw=_TEXTAREA, validators=[_TEXT]
    )

    def validate_status(self, field: Any) -> None:
        if field.data not in ("in-progress", "answered", "closed"):
            raise ValidationError(_l("Choose a status."))

    def validate_answer(self, field: Any) -> None:
        if self.status.data == "answered" and not field.data:
            raise ValidationError(_l("Write the answer the citizen will read."))
