"""Languages: Danish first, English second.

The locale is the user's explicit choice (``?lang=`` on this request, else the language
switch's cookie), then ``Accept-Language``, then Danish. Numbers and dates are formatted
by Babel through the filters registered here.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.numbers import format_decimal as babel_format_decimal
from flask import Flask, request
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l

from portal.errors import BadRequest

LANGUAGES = ("da", "en")
DEFAULT_LANGUAGE = "da"
LANGUAGE_COOKIE = "lang"
TIMEZONE = "Europe/Copenhagen"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def select_locale() -> str:
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def localized(texts: Any, language: str | None = None) -> str:
    """Pick the text for the language from a ``{"da": ..., "en": ...}`` manifest field.

    Danish is required in manifests, so it is the fallback.
    """
    if not isinstance(texts, dict):
        return "" if texts is None else str(texts)
    language = language or current_language()
    return str(texts.get(language) or texts.get(DEFAULT_LANGUAGE) or "")


def format_number(
    value: float | int, decimals: int | None = None, language: str | None = None
) -> str:
    language = language or current_language()
    if decimals is None:
        return babel_format_decimal(value, locale=language)
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return babel_format_decimal(value, format=pattern, locale=language)


def format_date(value: dt.date | dt.datetime, language: str | None = None) -> str:
    """The locale's long date: ``29. november 2026`` in Danish, ``November 29, 2026`` in
    English. Every date on every page goes through here (dates with a time too)."""
    language = language or current_language()
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).astimezone(_tz()).date()
    return babel_format_date(value, format="long", locale=language)


def format_datetime(value: dt.datetime, language: str | None = None) -> str:
    """The long date of :func:`format_date` and the time in Copenhagen:
    ``29. november 2026 kl. 14:05``, ``November 29, 2026 at 14:05``."""
    language = language or current_language()
    time = babel_format_datetime(value, format="HH:mm", tzinfo=_tz(), locale=language)
    joiner = " kl. " if language == "da" else " at "
    return format_date(value, language) + joiner + time


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(TIMEZONE)


MAX_RETURN_TARGET = 2000


class BadReturnTarget(BadRequest):
    code = "bad-return-target"
    message = _l(
        "The link you followed has an address to return to that we cannot use."
        " Go to the front page and try again."
    )


def _junk(char: str) -> bool:
    # Control and format characters (C0, DEL, C1, bidi overrides, zero-width), line and
    # paragraph separators and any space but the plain one; backslashes, which browsers
    # read as slashes ("/\\evil.example" is another host to them).
    if char == "\\":
        return True
    category = unicodedata.category(char)
    return category[0] == "C" or (category[0] == "Z" and char != " ")


def safe_next(target: str | None, fallback: str = "/") -> str:
    """The local path to return to (``fallback`` when none is given).

    Anything else is refused with :class:`BadReturnTarget` (400), never followed: a scheme
    or host, a protocol-relative ``//host``, a path not starting with ``/``, backslashes,
    control or separator characters, or more than ``MAX_RETURN_TARGET`` characters.
    """
    if not target:
        return fallback
    if len(target) > MAX_RETURN_TARGET or any(_junk(char) for char in target):
        raise BadReturnTarget()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        raise BadReturnTarget()
    return target


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(
        localized=localized,
        number=format_number,
        date=format_date,
        datetime=format_datetime,
    )
    app.jinja_env.globals.update(current_language=current_language, LANGUAGES=LANGUAGES)
