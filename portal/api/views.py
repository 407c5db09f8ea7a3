"""The machine API at /api/v1: signed decision webhooks, model registration, status.

Views only parse, authenticate, call one service and answer; the request's single commit
makes the work durable before the answer leaves.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from portal.api.auth import Caller, authenticate
from portal.api.jsonparse import parse_json
from portal.api.signing import SignedHeaders, parse_headers
from portal.config import Settings
from portal.db import utcnow
from portal.db_session import request_session
from portal.decisions.deliveries import Answer, system_actor
from portal.decisions.dispatch import get_dispatcher
from portal.decisions.intake import IngestOptions, receive_batch, receive_decision
from portal.decisions.status import decision_status
from portal.errors import NotFound, PayloadTooLarge, ValidationFailed
from portal.registry import admin
from portal.registry.models import ModelVersion
from portal.security import csrf, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # machine clients sign their requests; there is no browser session to forge


def _settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def _api_limit() -> str:
    return _settings().api_ratelimit


def _system_key() -> str:
    # Set by ``_authenticate`` before the view (and so this limit) runs: only a verified
    # signature names the bucket, so a made-up ``webhook-system`` header buys no new one.
    caller: Caller = g.api_caller
    return f"system:{caller.id}"


# Each view counted on its own (Flask-Limiter's scope is the endpoint): per verified system
# on the signed views, per client address on the unsigned OpenAPI document. Failed
# signatures have their own limit per client address (``portal.security``).
per_system = limiter.limit(_api_limit, key_func=_system_key)
per_address = limiter.limit(_api_limit)


@bp.url_value_preprocessor
def _no_nul_in_path(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Nothing stored can be named with a NUL (PostgreSQL refuses it in any query), so such a
    # path is simply not found, instead of a database error.
    if values and any("\x00" in str(value) for value in values.values()):
        raise NotFound()


def read_body(limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes before any signature work.

    Content-Length is checked first (cheap), but not trusted: at most ``limit + 1`` bytes
    are read from the stream, whatever the header says.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return body


# The signed views and the largest body each reads (None: MAX_CONTENT_LENGTH, for the
# multipart model upload, whose whole body is signed and cached before werkzeug parses it).
_SIGNED_BODY_LIMITS: dict[str, str | None] = {
    "api.post_decision": "max_webhook_bytes",
    "api.post_batch": "max_batch_bytes",
    "api.get_decision": "max_webhook_bytes",
    "api.post_outcome": "max_webhook_bytes",
    "api.post_model": None,
    "api.activate_model": "max_webhook_bytes",
    "api.retire_model": "max_webhook_bytes",
}


@bp.before_request
def _authenticate() -> None:
    """Verify the signature before the view, so its rate limit is keyed by the system that
    signed (401/403 otherwise; a 401 counts against the address's failed-signature limit)."""
    endpoint = request.endpoint or ""
    if endpoint not in _SIGNED_BODY_LIMITS:
        return
    setting = _SIGNED_BODY_LIMITS[endpoint]
    if setting is None:
        body = request.get_data(cache=True)
    else:
        body = read_body(int(getattr(_settings(), setting)))
    signed = parse_headers(request.headers)
    g.api_caller = authenticate(
        request_session(),
        signed,
        body,
        now=utcnow(),
        tolerance_seconds=_settings().webhook_tolerance_seconds,
    )
    g.api_signed = signed
    g.api_body = body


def _signed() -> tuple[SignedHeaders, Caller, bytes]:
    """The parsed headers, the calling system and the body ``_authenticate`` verified."""
    return g.api_signed, g.api_caller, g.api_body


def _options() -> IngestOptions:
    settings = _settings()
    return IngestOptions(
        lookup_key=settings.lookup_key, max_attempts=settings.explanation_job_attempts
    )


def _answer(answer: Answer) -> tuple[Response, int]:
    response = jsonify(answer.body)
    if answer.new_jobs:
        dispatcher = get_dispatcher(current_app)
        jobs = list(answer.new_jobs)
        # Runs after the response is sent, i.e. after the request's commit succeeded.
        response.call_on_close(lambda: dispatcher.nudge(jobs))
    return response, answer.status


@bp.post("/decisions")
@per_system
def post_decision() -> Any:
    signed, system, body = _signed()
    answer = receive_decision(
        request_session(), system, signed.webhook_id, parse_json(body), _options()
    )
    return _answer(answer)


@bp.post("/decisions/batch")
@per_system
def post_batch() -> Any:
    signed, system, body = _signed()
    answer = receive_batch(
        request_session(), system, signed.webhook_id, parse_json(body), _options()
    )
    return _answer(answer)


@bp.get("/decisions/<public_id>")
@per_system
def get_decision(public_id: str) -> Any:
    _, system, _ = _signed()  # reads only: it never takes the write lock
    return jsonify(decision_status(request_session(), system, public_id))


@bp.post("/decisions/<public_id>/outcome")
@per_system
def post_outcome(public_id: str) -> Any:
    from portal.supervision.outcomes import report_outcome

    _, system, body = _signed()
    return _answer(report_outcome(request_session(), system, public_id, parse_json(body)))


def _model_body(model: ModelVersion) -> dict[str, Any]:
    return {
        "name": model.name,
        "version": model.version,
        "status": model.status,
        "artifact_sha256": model.artifact_sha256,
        "background_sha256": model.background_sha256,
        "explainer_kind": model.explainer_kind,
        "warnings": model.warnings,
        "links": {"self": f"/api/v1/models/{model.name}/{model.version}"},
    }


def _part(name: str) -> bytes | None:
    upload = request.files.get(name)
    if upload is not None:
        return upload.read()
    text = request.form.get(name)
    return None if text is None else text.encode()


@bp.post("/models")
@per_system
def post_model() -> Any:
    # The whole multipart body was signed, read (bounded by MAX_CONTENT_LENGTH) and cached
    # by ``_authenticate``; werkzeug parses the parts from that same cached copy.
    _, system, _ = _signed()
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise ValidationFailed(
            details=[
                {
                    "field": "body",
                    "code": "multipart-required",
                    "message": "send multipart/form-data with manifest and artifact parts",
                }
            ]
        )
    manifest_raw, artifact = _part("manifest"), _part("artifact")
    if manifest_raw is None or artifact is None:
        raise ValidationFailed(
            details=[
                {"field": name, "code": "missing-part", "message": f"the {name} part is required"}
                for name, value in (("manifest", manifest_raw), ("artifact", artifact))
                if value is None
            ]
        )
    result = admin.register_model(
        request_session(),
        parse_json(manifest_raw),
        artifact,
        _part("background"),
        system=system.load(request_session()),
        actor=system_actor(system),
    )
    return jsonify(_model_body(result.model)), 201 if result.created else 200


def _own_model(system: Caller, name: str, version: str) -> ModelVersion:
    model = admin.get_model_version(request_session(), name, version)
    if model.registered_by_system_id != system.id:
        raise NotFound(f"No model version {name} {version}.")
    return model


def _change_status(name: str, version: str, change: Any) -> Any:
    """Activate or retire a version, by the system that registered it (others: 404)."""
    _, system, _ = _signed()
    _own_model(system, name, version)
    model = change(request_session(), name, version, actor=system_actor(system))
    return jsonify(_model_body(model))


@bp.post("/models/<name>/<version>/activate")
@per_system
def activate_model(name: str, version: str) -> Any:
    return _change_status(name, version, admin.activate_model)


@bp.post("/models/<name>/<version>/retire")
@per_system
def retire_model(name: str, version: str) -> Any:
    return _change_status(name, version, admin.retire_model)


@bp.get("/openapi.json")
@per_address
def openapi() -> Any:
    from portal.api.openapi import openapi_document

    return jsonify(openapi_document())
