"""The public algorithm register: no login needed. HTML pages and the same data as JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, current_app

from portal.db import utcnow
from portal.db_session import finish_unit_of_work, render_page, request_session
from portal.registry import services
from portal.registry.schema import SCHEMA_VERSION, register_schema
from portal.security import absolute_url, mark_public

bp = Blueprint("registry", __name__, template_folder="templates")


def _figures() -> dict[str, Any]:
    seconds = float(current_app.config["SETTINGS"].register_figures_seconds)
    return {"cache": services.FIGURES, "seconds": seconds}


def _linked(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for entry in entries:
        entry["links"] = {
            "html": absolute_url("registry.model_card", name=entry["name"]),
            "json": absolute_url("registry.model_card_json", name=entry["name"]),
        }
    return entries


def _json(body: dict[str, Any]) -> Response:
    finish_unit_of_work()
    text = json.dumps(body, ensure_ascii=False, indent=2, sort_keys=False)
    return Response(text + "\n", mimetype="application/json")


def _document(entries: list[dict[str, Any]]) -> Response:
    mark_public()
    return _json(
        {
            "$schema": absolute_url("registry.schema"),
            "schema_version": SCHEMA_VERSION,
            "publisher": {
                "name": current_app.config["SETTINGS"].municipality,
                "url": absolute_url("registry.register"),
            },
            "generated_at": utcnow().isoformat().replace("+00:00", "Z"),
            "algorithms": _linked(entries),
        }
    )


@bp.get("/algoritmer")
def register() -> str:
    mark_public()
    entries = _linked(services.register(request_session(), **_figures()))
    return render_page("registry/register.html", entries=entries)


@bp.get("/algoritmer/<name>")
def model_card(name: str) -> str:
    mark_public()
    entries = _linked(services.model_register(request_session(), name, **_figures()))
    return render_page("registry/model_card.html", current=entries[0], versions=entries)


@bp.get("/algoritmer.json")
def register_json() -> Response:
    return _document(services.register(request_session(), **_figures()))


@bp.get("/algoritmer/<name>.json")
def model_card_json(name: str) -> Response:
    return _document(services.model_register(request_session(), name, **_figures()))


@bp.get("/algoritmer.schema.json")
def schema() -> Response:
    mark_public()
    return _json(register_schema(absolute_url("registry.schema")))


@bp.app_template_filter("isodate")
def _isodate(value: str) -> dt.datetime:
    """A register entry's time (RFC 3339 text) back as a datetime, for the date filter."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
