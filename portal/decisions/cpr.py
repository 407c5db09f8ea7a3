"""CPR numbers: a real birth date with the century rule; the modulus-11 check is not used
(CPR numbers without it have been issued since 2007).

The one place the portal reads a birth date out of a CPR number (the century rule of the
7th digit is python-stdnum's ``get_birth_date``): the API's check of ``subject.cpr`` and the
demo's fictional citizens both use :func:`birth_date` and :func:`century_digits`.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_CPR = re.compile(r"^[0-9]{6}-?[0-9]{4}$")
_MOD11_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def birth_date(value: str) -> dt.date:
    """The birth date in a CPR number (``DDMMYYSSSS`` or ``DDMMYY-SSSS``), the century
    taken from the 7th digit. Raises ``ValueError`` (never showing the number) when the
    format or the date is not valid."""
    from stdnum.dk.cpr import get_birth_date

    if not _CPR.match(value):
        raise ValueError("a CPR number is 10 digits (DDMMYYSSSS or DDMMYY-SSSS)")
    return get_birth_date(value)  # stdnum's ValidationError is a ValueError


def century_digits(year: int) -> tuple[int, ...]:
    """The 7th digits that give a birth in ``year`` by the century rule (empty outside
    1858-2057), e.g. ``(0, 1, 2, 3)`` for 1950 and ``(4, 5, 6, 7, 8, 9)`` for 2003."""
    yy = year % 100
    return tuple(digit for digit in range(10) if birth_date(f"0101{yy:02d}{digit}000").year == year)


def passes_modulus_11(value: str) -> bool:
    """The old modulus-11 check (not a validity rule any more; the demo's fictional
    numbers deliberately fail it)."""
    digits = value.replace("-", "")
    return sum(int(d) * w for d, w in zip(digits, _MOD11_WEIGHTS, strict=True)) % 11 == 0


def cpr_problem(value: str, today: dt.date | None = None) -> tuple[str, str] | None:
    """``(code, message)`` when ``value`` is not a plausible CPR number, else None.

    The messages never contain the value.
    """
    if not _CPR.match(value):
        return "invalid-cpr-format", "CPR must be 10 digits (DDMMYYSSSS or DDMMYY-SSSS)"
    try:
        born = birth_date(value)
    except ValueError:
        return "invalid-cpr-date", "CPR does not contain a valid birth date"
    if born > (today or _danish_today()):
        return "invalid-cpr-date", "CPR birth date is in the future"
    return None


def _danish_today() -> dt.date:
    """Today in Denmark: a CPR number is given on a Danish calendar day, whatever the
    server's time zone (UTC is still yesterday until 01:00 or 02:00 here)."""
    return dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()
