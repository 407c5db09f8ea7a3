"""The OpenAPI 3.1 document of the machine API: component schemas generated from the
pydantic models, paths written by hand (they carry the signing rules)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from portal.decisions import schemas

_REF = "#/components/schemas/{model}"

SIGNING = """\
Every request except this document is signed per the Standard Webhooks specification
(https://www.standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256>` over
`{webhook-id}.{webhook-timestamp}.{raw body}` with the system's `whsec_` secret (base64 after
the prefix). Several space-separated signatures may be sent (e.g. during a secret rotation);
any valid one suffices. The timestamp must be within 5 minutes of the portal's clock.
The `x-system` header names the sending system: only that system's secrets are tried, so a
secret can never post as another system. Signature, timestamp or header problems give 401,
a disabled system 403. A system posts decisions only to the model versions it registered
(through this API, or with `flask models register --system`) or has been granted by an
administrator (`flask systems grant SYSTEM MODEL[/VERSION]`); any other is a 403
`model-not-granted` (in a batch: a rejected item).

The `webhook-id` (and each batch item's `id`) is an idempotency key, unique per system
forever: the same key with the same JSON body gives the first answer again with 200; with a
different body, 409 `webhook-id-reused`. Bodies are strict JSON: UTF-8, no NaN/Infinity, no
duplicate keys, no `\\u0000` in any string, at most 32 levels deep (400 otherwise); unknown
fields are refused (422). Every value that passes this parse is either valid or a 422 naming
its field: a lone UTF-16 surrogate in any text or key (`invalid-text`), an integer beyond the
float range (`not-finite` or `wrong-type`), a date-time outside 1900-2999 UTC
(`date-out-of-range`), a probability output outside 0-1 (`out-of-range`).
A decision is committed (decision, delivery record and explanation job) before 202 is sent.
Errors are `{"error": {"code", "message", "details": [{"field", "code", "message"}]}}` with
stable kebab-case codes."""


def _header(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = pattern
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": schema,
    }


SIGNED_HEADERS = [
    _header("x-system", "Name of the sending system.", r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
    _header("webhook-id", "Idempotency key, unique per system forever (1-200 characters)."),
    _header("webhook-timestamp", "Unix time in seconds.", r"^[0-9]{1,12}$"),
    _header("webhook-signature", "Space-separated `v1,<base64>` signatures."),
]


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: (
            "Body is not strict JSON (codes invalid-json, invalid-encoding, json-too-deep, "
            "json-nul-character)."
        ),
        401: "Missing or malformed signature headers, stale timestamp, or bad signature.",
        403: (
            "The system is disabled (system-disabled), or may not post to this model version "
            "(model-not-granted: it neither registered the version nor has been granted it)."
        ),
        404: "Not found, or not this system's.",
        409: (
            "Conflict (webhook-id-reused, model-version-exists, model-status-conflict, "
            "outcome-already-reported)."
        ),
        413: "Body too large (checked before the signature).",
        422: "Validation failed: every problem in `details`.",
        429: "Rate limited.",
    }
    return {str(s): {"description": texts[s], "content": _json("ErrorBody")} for s in statuses}


SIGNED_ERRORS = (400, 401, 403, 409, 413, 422, 429)

# Links: what a client (and the stateful fuzz) can do next with an answer's values.
_DECISION_LINKS = {
    "GetDecision": {"operationId": "getDecision", "parameters": {"id": "$response.body#/id"}}
}
_MODEL_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"name": "$response.body#/name", "version": "$response.body#/version"},
    }
    for name, operation in (("ActivateModel", "activateModel"), ("RetireModel", "retireModel"))
}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process)."""
    _, top = models_json_schema(
        [
            (schemas.DecisionIn, "validation"),
            (schemas.BatchItemIn, "validation"),
            (schemas.DecisionAccepted, "serialization"),
            (schemas.ErrorBody, "serialization"),
            (schemas.BatchResult, "serialization"),
            (schemas.DecisionStatus, "serialization"),
            (schemas.ModelRegistered, "serialization"),
            (schemas.OutcomeIn, "validation"),
            (schemas.OutcomeRecorded, "serialization"),
        ],
        ref_template=_REF,
    )
    components = top["$defs"]
    components["BatchIn"] = {
        "type": "object",
        "title": "BatchIn",
        "description": "Up to 1,000 decisions, each with its own idempotency key `id`.",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1000,
                "items": {"$ref": _REF.format(model="BatchItemIn")},
            }
        },
        "required": ["items"],
        "additionalProperties": False,
    }
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    version_param = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    model_status_op = {
        "parameters": [*SIGNED_HEADERS, name_param, version_param],
        "responses": {
            "200": {"description": "The model version.", "content": _json("ModelRegistered")},
            **_errors(400, 401, 403, 404, 409, 413, 429),
        },
    }
    paths: dict[str, Any] = {
        "/api/v1/decisions": {
            "post": {
                "operationId": "postDecision",
                "summary": "Send one decision (signed webhook).",
                "parameters": SIGNED_HEADERS,
                "requestBody": {"required": True, "content": _json("DecisionIn")},
                "responses": {
                    "202": {
                        "description": "Accepted and stored; the explanation is pending.",
                        "content": _json("DecisionAccepted"),
                        "links": _DECISION_LINKS,
                    },
                    "200": {
                        "description": "A repeat of an earlier webhook-id: the first answer.",
                        "content": _json("DecisionAccepted"),
                        "links": _DECISION_LINKS,
                    },
                    **_errors(*SIGNED_ERRORS),
                },
            }
        },
        "/api/v1/decisions/batch": {
            "post": {
                "operationId": "postDecisionBatch",
                "summary": "Send up to 1,000 decisions in one signed body.",
                "description": (
                    "Answered per item with 200 (not 207): each item is `accepted`, "
                    "`duplicate` (its id was seen with the same content; the first answer is "
                    "in `decision`) or `rejected` (with `error`: `validation-failed`, "
                    "`model-not-granted` or `webhook-id-reused`). A bad item, even one that "
                    "is not an object, never loses the good ones; only a bad envelope is a "
                    "422. Item ids share the namespace of webhook-ids."
                ),
                "parameters": SIGNED_HEADERS,
                "requestBody": {"required": True, "content": _json("BatchIn")},
                "responses": {
                    "200": {"description": "Per-item results.", "content": _json("BatchResult")},
                    **_errors(*SIGNED_ERRORS),
                },
            }
        },
        "/api/v1/decisions/{id}": {
            "get": {
                "operationId": "getDecision",
                "summary": "Status and, when ready, the explanation of a decision you sent.",
                "description": "Signed like the webhook, over an empty body.",
                "parameters": [
                    *SIGNED_HEADERS,
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The decision.", "content": _json("DecisionStatus")},
                    **_errors(400, 401, 403, 404, 413, 429),
                },
            }
        },
        "/api/v1/decisions/{id}/outcome": {
            "post": {
                "operationId": "reportOutcome",
                "summary": "Report the real outcome of a decision you sent, once it is known.",
                "description": (
                    "For fairness monitoring (equalised odds): whether the real outcome was "
                    "the model's positive class. Once per decision: the same outcome again "
                    "gives the first answer with 200, another one 409 "
                    "`outcome-already-reported`. Another system's decision: 404."
                ),
                "parameters": [
                    *SIGNED_HEADERS,
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": True, "content": _json("OutcomeIn")},
                "responses": {
                    "201": {"description": "Recorded.", "content": _json("OutcomeRecorded")},
                    "200": {
                        "description": "The same outcome was reported before.",
                        "content": _json("OutcomeRecorded"),
                    },
                    **_errors(400, 401, 403, 404, 409, 413, 422, 429),
                },
            }
        },
        "/api/v1/models": {
            "post": {
                "operationId": "registerModel",
                "summary": "Register a model version (immutable).",
                "description": (
                    "The raw multipart body is what is signed. The manifest is validated "
                    "against the artifact; every problem is listed (422) and nothing is stored. "
                    "Same name+version with the same content: 200; with other content: 409."
                ),
                "parameters": SIGNED_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "manifest": {
                                        "type": "string",
                                        "description": "The manifest as JSON.",
                                    },
                                    "artifact": {
                                        "type": "string",
                                        "contentMediaType": "application/octet-stream",
                                        "description": "The .skops file.",
                                    },
                                    "background": {
                                        "type": "string",
                                        "contentMediaType": "text/csv",
                                        "description": "Optional background CSV.",
                                    },
                                },
                                "required": ["manifest", "artifact"],
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Registered, owned by the calling system.",
                        "content": _json("ModelRegistered"),
                        "links": _MODEL_LINKS,
                    },
                    "200": {
                        "description": "Already registered with the same content.",
                        "content": _json("ModelRegistered"),
                        "links": _MODEL_LINKS,
                    },
                    **_errors(*SIGNED_ERRORS),
                },
            }
        },
        "/api/v1/models/{name}/{version}/activate": {
            "post": {
                "operationId": "activateModel",
                "summary": "Activate a version this system registered.",
                **model_status_op,
            }
        },
        "/api/v1/models/{name}/{version}/retire": {
            "post": {
                "operationId": "retireModel",
                "summary": "Retire a version this system registered.",
                **model_status_op,
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Forklaringsportalen machine API",
            "version": "1",
            "description": SIGNING,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components},
    }
