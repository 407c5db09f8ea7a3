"""Forms of the login pages (Flask-WTF: each carries its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired


class LogoutForm(FlaskForm):
    """The header's log-out button: a POST with a CSRF token, so no link can log you out."""


class DemoLoginForm(FlaskForm):
    """Pick a made-up person to log in as (demo mode only)."""

    person = StringField(validators=[DataRequired()])
    next = HiddenField()
