"""Staff-facing labels (translated when shown)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.cases import language as lang

FLAG_LABELS = {
    "sensitive-top-contributor": _l(
        "A sensitive data point (or a proxy for one) weighed heavily in the result"
    ),
    "out-of-distribution": _l("A value lies outside the range of the model's background data"),
    "output-mismatch": _l(
        "The sending system's result differs from what the registered model computes"
    ),
}
VERDICT_LABELS = {
    "agreed": _l("Agreed with the model's advice"),
    "overrode": _l("Overrode the model's advice"),
}
LANGUAGE_NAMES = {"da": "Dansk", "en": "English"}


def template_labels() -> dict[str, object]:
    return {
        "flag_labels": FLAG_LABELS,
        "verdict_labels": VERDICT_LABELS,
        "language_names": LANGUAGE_NAMES,
        "kind_labels": lang.REQUEST_KIND_LABELS,
        "status_labels": lang.REQUEST_STATUS_LABELS,
    }
