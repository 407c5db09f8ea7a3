"""Plain-language wording of a stored explanation for citizens.

The explainers package returns numbers and keys; this module turns them into short
Danish (or English) sentences. Every sentence is one whole msgid with named
placeholders: sizes and directions pick a sentence, they are never glued together.
Call inside a request (or ``flask_babel.force_locale``): texts follow the current locale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.i18n import current_language, format_date, format_number, localized

# Sizes of a contribution. On the probability scale the limits are probability points;
# on any other scale they are shares of the total movement (sum of |contributions|).
MOST, MUCH, SOME, LITTLE, NONE = "most", "much", "some", "little", "none"
PROBABILITY_LIMITS = ((0.10, MUCH), (0.03, SOME), (0.005, LITTLE))
SHARE_LIMITS = ((0.25, MUCH), (0.10, SOME), (0.02, LITTLE))

# Whom the direction is told against: the decision (the caseworker followed the model),
# the model's estimate (the caseworker decided otherwise), or just up/down (no threshold).
DECISION, ESTIMATE, NUMBER = "decision", "estimate", "number"
TOWARD, AGAINST = 1, -1

SIZE_WORDS = {
    MUCH: _l("much"),
    MOST: _l("most"),
    SOME: _l("some"),
    LITTLE: _l("a little"),
    NONE: _l("almost nothing"),
}

# (target, direction, size) -> whole sentence. ``subject`` is a data point with its value,
# or a consideration.
_SENTENCES: dict[tuple[str, int, str], Any] = {
    (DECISION, TOWARD, MOST): _l("%(subject)s pulled the most towards the decision."),
    (DECISION, TOWARD, MUCH): _l("%(subject)s pulled a lot towards the decision."),
    (DECISION, TOWARD, SOME): _l("%(subject)s pulled somewhat towards the decision."),
    (DECISION, TOWARD, LITTLE): _l("%(subject)s pulled a little towards the decision."),
    (DECISION, AGAINST, MOST): _l("%(subject)s pulled the most against the decision."),
    (DECISION, AGAINST, MUCH): _l("%(subject)s pulled a lot against the decision."),
    (DECISION, AGAINST, SOME): _l("%(subject)s pulled somewhat against the decision."),
    (DECISION, AGAINST, LITTLE): _l("%(subject)s pulled a little against the decision."),
    (ESTIMATE, TOWARD, MOST): _l("%(subject)s pulled the most towards the model's advice."),
    (ESTIMATE, TOWARD, MUCH): _l("%(subject)s pulled a lot towards the model's advice."),
    (ESTIMATE, TOWARD, SOME): _l("%(subject)s pulled somewhat towards the model's advice."),
    (ESTIMATE, TOWARD, LITTLE): _l("%(subject)s pulled a little towards the model's advice."),
    (ESTIMATE, AGAINST, MOST): _l("%(subject)s pulled the most against the model's advice."),
    (ESTIMATE, AGAINST, MUCH): _l("%(subject)s pulled a lot against the model's advice."),
    (ESTIMATE, AGAINST, SOME): _l("%(subject)s pulled somewhat against the model's advice."),
    (ESTIMATE, AGAINST, LITTLE): _l("%(subject)s pulled a little against the model's advice."),
    (NUMBER, TOWARD, MOST): _l("%(subject)s raised the result the most."),
    (NUMBER, TOWARD, MUCH): _l("%(subject)s raised the result a lot."),
    (NUMBER, TOWARD, SOME): _l("%(subject)s raised the result somewhat."),
    (NUMBER, TOWARD, LITTLE): _l("%(subject)s raised the result a little."),
    (NUMBER, AGAINST, MOST): _l("%(subject)s lowered the result the most."),
    (NUMBER, AGAINST, MUCH): _l("%(subject)s lowered the result a lot."),
    (NUMBER, AGAINST, SOME): _l("%(subject)s lowered the result somewhat."),
    (NUMBER, AGAINST, LITTLE): _l("%(subject)s lowered the result a little."),
}
_NO_EFFECT = _l("%(subject)s mattered almost nothing.")

# Short direction words for the table column.
_DIRECTION_WORDS: dict[tuple[str, int], Any] = {
    (DECISION, TOWARD): _l("Towards the decision"),
    (DECISION, AGAINST): _l("Against the decision"),
    (ESTIMATE, TOWARD): _l("Towards the model's advice"),
    (ESTIMATE, AGAINST): _l("Against the model's advice"),
    (NUMBER, TOWARD): _l("Raised the result"),
    (NUMBER, AGAINST): _l("Lowered the result"),
}


# The chart's legend: one reading, said in one sentence (side and colour agree).
_LEGENDS: dict[str, Any] = {
    DECISION: _l(
        "Bars to the right (orange) pulled towards the decision, and bars to the left (blue) "
        "pulled against it."
    ),
    ESTIMATE: _l(
        "Bars to the right (orange) pulled towards the model's advice, and bars to the left "
        "(blue) pulled against it."
    ),
    NUMBER: _l(
        "Bars to the right (orange) raised the result, and bars to the left (blue) lowered it."
    ),
}


def chart_legend(target: str) -> str:
    return str(_LEGENDS[target])


def size_of(value: float, scale: str, total: float) -> str:
    """A size word key for a contribution (see ``PROBABILITY_LIMITS`` / ``SHARE_LIMITS``)."""
    magnitude = abs(value)
    if scale == "probability":
        limits = PROBABILITY_LIMITS
    else:
        magnitude = magnitude / total if total > 0 else 0.0
        limits = SHARE_LIMITS
    for limit, size in limits:
        if magnitude >= limit:
            return size
    return NONE


def target_of(has_threshold: bool, followed_model: bool) -> str:
    if not has_threshold:
        return NUMBER
    return DECISION if followed_model else ESTIMATE


def relative_direction(direction: int, target: str, model_outcome: bool | None) -> int:
    """TOWARD / AGAINST what the page talks about, from the explainer's +1 (higher output) /
    -1 (lower output) and the model's own outcome (output at or above the threshold)."""
    if direction == 0:
        return 0
    if target == NUMBER or model_outcome is None:
        return TOWARD if direction > 0 else AGAINST
    higher_is_toward = bool(model_outcome)
    return TOWARD if (direction > 0) == higher_is_toward else AGAINST


def sentence(subject: str, target: str, relative: int, size: str) -> str:
    if relative == 0 or size == NONE:
        return _NO_EFFECT % {"subject": subject}
    return str(_SENTENCES[(target, relative, size)] % {"subject": subject})


def direction_word(target: str, relative: int) -> str:
    if relative == 0:
        return _("No effect")
    return str(_DIRECTION_WORDS[(target, relative)])


def subject_with_value(label: str, value: str) -> str:
    """ "Label (value)". A value with brackets of its own ("Grundskole (folkeskole)") has them
    turned into a comma, so that brackets are never nested."""
    value = _unbracket(value)
    return _("%(label)s (%(value)s)", label=label, value=value)


def _unbracket(text: str) -> str:
    """ "Grundskole (folkeskole)" -> "Grundskole, folkeskole"."""
    if "(" not in text:
        return text
    flat = text.replace(" (", ", ").replace("(", "").replace(")", "")
    return " ".join(flat.split())


def capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- values


def format_value(feature: Mapping[str, Any], value: Any, language: str | None = None) -> str:
    """A data point's value as a citizen reads it: Danish number format, unit, category
    label, yes/no."""
    kind = feature.get("type")
    if value is None:
        return _("Not stated")
    if kind == "boolean":
        return _("Yes") if value else _("No")
    if kind == "category":
        labels = feature.get("category_labels") or {}
        return localized(labels.get(value), language) or str(value)
    if kind == "date":
        try:
            return format_date(dt.date.fromisoformat(str(value)[:10]), language)
        except ValueError:
            return str(value)
    if isinstance(value, int | float):
        number = format_number(value, language=language)
        unit = unit_for(feature, value, language)
        if unit:
            return _("%(number)s %(unit)s", number=number, unit=unit)
        return number
    return str(value)


def unit_for(feature: Mapping[str, Any], value: float, language: str | None = None) -> str:
    """The unit in the form that goes with ``value``: ``unit_one`` (manifest, per language:
    "uge", "week") for exactly one, else ``unit`` ("uger", "weeks"). Without ``unit_one``
    an English plural in -s loses its s for one ("1 programme"); other languages keep the
    manifest's word."""
    unit = localized(feature.get("unit"), language)
    if value != 1 or not unit:
        return unit
    one = localized(feature.get("unit_one"), language)
    if one:
        return one
    if (language or current_language()) == "en" and unit.endswith("s") and not unit.endswith("ss"):
        return unit[:-1]
    return unit


def format_output(value: float, scale: str, threshold: float | None = None) -> str:
    """The model's output as shown: a percentage with one decimal on the probability scale.

    With a ``threshold``, more decimals are used when one is not enough to show on which
    side of the threshold the value is (49,96 % against a limit of 50 %, never "50,0 %").
    """
    if scale != "probability":
        return format_number(value, decimals=_decimals(value, threshold, 2))
    percent = value * 100
    limit = None if threshold is None else threshold * 100
    return _(
        "%(percent)s %%", percent=format_number(percent, decimals=_decimals(percent, limit, 1))
    )


def _decimals(value: float, threshold: float | None, least: int, most: int = 6) -> int:
    """The fewest decimals (at least ``least``) at which ``value`` rounded is on the same
    side of ``threshold`` rounded as the value itself."""
    if threshold is None:
        return least
    above = value >= threshold
    for decimals in range(least, most + 1):
        if (round(value, decimals) >= round(threshold, decimals)) == above:
            return decimals
    return most


def format_points(value: float, scale: str, *, signed: bool = True) -> str:
    """A contribution, percentage points on the probability scale; with its sign unless
    ``signed`` is false (the chart and its table say the direction in words)."""
    sign = "+" if value > 0 else ("−" if value < 0 else "")
    if not signed:
        sign = ""
    if scale == "probability":
        number = format_number(abs(value) * 100, decimals=1)
        return _("%(sign)s%(number)s percentage points", sign=sign, number=number)
    return _("%(sign)s%(number)s points", sign=sign, number=format_number(abs(value), decimals=2))


# --------------------------------------------------------------------------- labels

STATUS_LABELS = {
    "ready": _l("The explanation is ready"),
    "pending": _l("The explanation is on its way"),
    "failed": _l("The explanation could not be made"),
}

REQUEST_KIND_LABELS = {
    "human-review": _l("Request for a new assessment by a person"),
    "rectification": _l("Report of wrong data"),
}

REQUEST_STATUS_LABELS = {
    "received": _l("Received"),
    "in-progress": _l("Being handled"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
}

ROLE_LABELS = {
    "citizen": _l("You"),
    "caseworker": _l("Caseworker"),
    "auditor": _l("Auditor"),
    "admin": _l("Administrator"),
    "worker": _l("The portal itself (automatic)"),
    # A decision-support system posting decisions is recorded with the role "sender".
    "sender": _l("The system that sent the decision"),
    "system": _l("The system that sent the decision"),
    "public": _l("Someone without login"),
}

# What happened ("Hvad") ...
ACTION_LABELS = {
    "decision.received": _l("The decision was received"),
    "explanation.computed": _l("The explanation was made"),
    "explanation.failed": _l("The explanation could not be made"),
    "counterfactual.computed": _l("We worked out what could have changed the result"),
    "auth.login": _l("Logged in"),
    "auth.logout": _l("Logged out"),
    "decision.viewed": _l("Looked at the case"),
    "decision.pdf": _l("Downloaded the case as PDF"),
    "data.exported": _l("Downloaded all your data"),
    "request.created": _l("Sent a request"),
    "letter.created": _l("Made the letter attachment"),
    "oversight.recorded": _l("Recorded an assessment of the model's advice"),
    "request.updated": _l("Handled your request"),
    "search.cpr": _l("Searched for your cases by your CPR number"),
}

# ... and why it was allowed ("Hvorfor"): never the same words as the action.
PURPOSE_LABELS = {
    "own-case": _l("You have a right to see your own case"),
    "casework": _l("To handle your case"),
    "complaint": _l("To handle your complaint"),
    "access-request": _l("To answer a request for access to documents (aktindsigt)"),
    "audit": _l("To check that the model works as it should"),
    "oversight": _l("To check that the model works as it should"),
    "explanation": _l("So that you can see why the decision went the way it did"),
    "ingest": _l("So that the decision can be explained to you"),
    "authentication": _l("To make sure that it is you"),
    "retention": _l("To delete data we may no longer keep"),
}


def label_for(table: Mapping[str, Any], key: str | None) -> str:
    """The label of ``key``; a key without one says what it is ("Other: ..."), never just
    "Other"."""
    if key is None:
        return ""
    text = table.get(key)
    if text is not None:
        return str(text)
    return _("Other: %(code)s", code=key.replace("-", " ").replace(".", " ").replace("_", " "))
