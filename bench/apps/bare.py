"""The anchor: a bare Flask app that parses the JSON body and answers 202, nothing else."""

from __future__ import annotations

import json
import secrets
from typing import Any

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/decisions")
def decision() -> Any:
    json.loads(request.get_data())
    public_id = secrets.token_urlsafe(16)
    links = {"self": f"/api/v1/decisions/{public_id}"}
    return jsonify({"id": public_id, "status": "pending", "links": links}), 202


@app.get("/ready")
def ready() -> str:
    return "ok"
