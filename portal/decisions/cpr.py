"""CPR numbers: a real birth date with the century rule; the modulus-11 check is not used
(CPR numbers without it have been issued since 2007)."""

from __future__ import annotations

import datetime as dt
import re

_CPR = re.compile(r"^[0-9]{6}-?[0-9]{4}$")


def cpr_problem(value: str, today: dt.date | None = None) -> tuple[str, str] | None:
    """``(code, message)`` when ``value`` is not a plausible CPR number, else None.

    The messages never contain the value.
    """
    from stdnum.dk.cpr import get_birth_date
    from stdnum.exceptions import ValidationError

    if not _CPR.match(value):
        return "invalid-cpr-format", "CPR must be 10 digits (DDMMYYSSSS or DDMMYY-SSSS)"
    try:
        born = get_birth_date(value)
    except ValidationError:
        return "invalid-cpr-date", "CPR does not contain a valid birth date"
    if born > (today or dt.date.today()):
        return "invalid-cpr-date", "CPR birth date is in the future"
    return None
