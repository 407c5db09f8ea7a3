"""The minimum: the ack work the design requires, done with the portal's own code, and
nothing more.

Per request: the signature checked by the portal (``portal.api.auth.authenticate``: headers,
timestamp tolerance, the system and its decrypted secrets read, HMAC, status), the strict
JSON parse, the portal's validation (schema, CPR, features against the manifest), the
content hash, and the delivery (claimed with ``ON CONFLICT``), decision and job rows
inserted through the portal's own row builders and Core statements (four columns
encrypted by ``EncryptedJSON``), committed once. Left out: the audit event, the rate
limit, security headers, error details, the request-session machinery and the error
mapping. What it reaches bounds what the portal can reach with the work the design asks
for; the portal's distance to it is what the rest costs.

Environment: ``MINIMUM_DATABASE_URL`` (a migrated portal database with the bench's
system and models), ``MINIMUM_ENCRYPTION_KEY``, ``MINIMUM_LOOKUP_KEY``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, request

from portal.api.auth import authenticate
from portal.api.jsonparse import parse_json
from portal.api.signing import SignatureError, parse_headers
from portal.crypto import KeyRing, install_key_ring
from portal.db import Database, utcnow
from portal.decisions.deliveries import claim_deliveries, content_hash
from portal.decisions.storing import new_decision, store_decisions
from portal.decisions.validation import ModelCatalog, validate_decision

TOLERANCE_SECONDS = 300

app = Flask(__name__)
install_key_ring(KeyRing.from_config(os.environ["MINIMUM_ENCRYPTION_KEY"]))
_database = Database(os.environ["MINIMUM_DATABASE_URL"])
_lookup = os.environ["MINIMUM_LOOKUP_KEY"]


@app.post("/api/v1/decisions")
def decision() -> Any:
    body = request.get_data()
    with _database.transaction() as session:
        try:
            signed = parse_headers(request.headers)
            system = authenticate(
                session, signed, body, now=utcnow(), tolerance_seconds=TOLERANCE_SECONDS
            )
        except SignatureError:
            return jsonify({"error": "bad signature"}), 401
        obj = parse_json(body)
        decision_in, choice, _ = validate_decision(ModelCatalog(session, system.id), obj)
        if decision_in is None or choice is None:
            return jsonify({"error": "invalid"}), 422
        new = new_decision(
            system,
            signed.webhook_id,
            content_hash(obj),
            decision_in,
            choice,
            lookup_secret=_lookup,
            now=utcnow(),
        )
        if not claim_deliveries(session, [new.delivery]):
            return jsonify({"error": "repeat"}), 200
        store_decisions(session, system, [new], max_attempts=5)
    return jsonify(new.response), 202


@app.get("/ready")
def ready() -> str:
    return "ok"
