"""The public algorithm register: no login needed."""

from __future__ import annotations

from flask import Blueprint

from portal.db_session import render_page, request_session
from portal.registry import services
from portal.security import mark_public

bp = Blueprint("registry", __name__, template_folder="templates")


@bp.get("/algoritmer")
def register() -> str:
    mark_public()
    return render_page("registry/register.html", models=services.public_models(request_session()))


@bp.get("/algoritmer/<name>")
def model_card(name: str) -> str:
    mark_public()
    versions = services.model_versions(request_session(), name)
    return render_page("registry/model_card.html", current=versions[0], versions=versions)
