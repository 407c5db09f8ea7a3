"""The floor: what any implementation of the ack must at least do on this stack.

It checks the Standard Webhooks HMAC and stores the raw body durably (SQLite WAL,
``synchronous=FULL``, one commit per request), nothing else: no schema or feature
validation, no CPR check, no encryption, no idempotency, no audit event. What it loses
against the bare app is the cost of "signed and durable" alone, so it bounds the ratio
any fuller implementation can reach.

Environment: ``FLOOR_SECRET`` (the sender's ``whsec_`` secret), ``FLOOR_DATABASE`` (a file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from typing import Any

from flask import Flask, jsonify, request

app = Flask(__name__)
_local = threading.local()  # one connection per thread (gthread workers)


def _key() -> bytes:
    return base64.b64decode(os.environ["FLOOR_SECRET"].removeprefix("whsec_"))


def _connection() -> sqlite3.Connection:
    if not hasattr(_local, "db"):
        db = sqlite3.connect(os.environ["FLOOR_DATABASE"], isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("CREATE TABLE IF NOT EXISTS decision (id TEXT PRIMARY KEY, body BLOB)")
        _local.db = db
    return _local.db  # type: ignore[no-any-return]


@app.post("/api/v1/decisions")
def decision() -> Any:
    body = request.get_data()
    headers = request.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(_key(), signed, hashlib.sha256).digest()).decode()
    if not any(
        hmac.compare_digest(part.partition(",")[2], expected)
        for part in headers["webhook-signature"].split()
    ):
        return jsonify({"error": "bad signature"}), 401
    json.loads(body)
    public_id = secrets.token_urlsafe(16)
    db = _connection()
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO decision VALUES (?, ?)", (public_id, body))
    db.execute("COMMIT")
    links = {"self": f"/api/v1/decisions/{public_id}"}
    return jsonify({"id": public_id, "status": "pending", "links": links}), 202


@app.get("/ready")
def ready() -> str:
    return "ok"
