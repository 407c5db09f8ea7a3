"""Helpers for the API tests (imported by tests/api/conftest.py and the test modules)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from portal.decisions.models import Decision, Delivery, Job
from portal.registry import admin
from portal.registry.models import System

RICH_MANIFEST: dict[str, Any] = {
    "name": "apitest",
    "version": "2026.1",
    "title": {"da": "API-testmodel", "en": "API test model"},
    "purpose": {"da": "Til test.", "en": "For tests."},
    "responsible_unit": "Testforvaltningen",
    "output": {"kind": "probability", "positive_class": 1, "label": {"da": "Risiko"}},
    "considerations": [
        {"key": "arbejde", "label": {"da": "Arbejde"}},
        {"key": "person", "label": {"da": "Person"}},
    ],
    "features": [
        {
            "key": "ledighed_uger",
            "type": "number",
            "label": {"da": "Uger"},
            "source": {"da": "STAR"},
            "consideration": "arbejde",
            "min": 0,
            "max": 520,
        },
        {
            "key": "forloeb",
            "type": "integer",
            "label": {"da": "Forløb"},
            "source": {"da": "STAR"},
            "consideration": "arbejde",
            "min": 0,
            "max": 20,
        },
        {
            "key": "a_kasse",
            "type": "boolean",
            "label": {"da": "A-kasse"},
            "source": {"da": "AK"},
            "consideration": "arbejde",
        },
        {
            "key": "uddannelse",
            "type": "category",
            "label": {"da": "Uddannelse"},
            "source": {"da": "UVM"},
            "consideration": "person",
            "categories": ["grundskole", "gymnasial", "videregaaende"],
        },
        {
            "key": "tilmeldt",
            "type": "date",
            "label": {"da": "Tilmeldt"},
            "source": {"da": "STAR"},
            "consideration": "arbejde",
        },
    ],
}


def decision_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {"name": "apitest", "version": "2026.1"},
        "case": {"reference": "2026-0187046", "title": {"da": "Tilbud om jobrettet indsats"}},
        "subject": {"cpr": "0101901234"},
        "features": {
            "ledighed_uger": 30,
            "forloeb": 2,
            "a_kasse": True,
            "uddannelse": "gymnasial",
            "tilmeldt": "2026-01-05",
        },
        "data_sources": {"ledighed_uger": {"fetched_at": "2026-05-20T08:00:00Z"}},
        "model_output": 0.73,
        "decision": {
            "outcome": {"da": "Du tilbydes et forløb med en jobkonsulent."},
            "decided_by": "Jobcenter København, Team Vest",
            "human_decided": True,
            "followed_model": True,
            "decided_at": "2026-05-21T10:00:00Z",
        },
    }
    body.update(changes)
    return body


def with_features(**values: Any) -> dict[str, Any]:
    body = decision_body()
    body["features"] = {**body["features"], **values}
    return {k: v for k, v in body.items()}


@dataclass
class Sender:
    """A system as a sender sees it: its name and its plain secret."""

    system: System
    secret: str

    @property
    def name(self) -> str:
        return self.system.name


def make_sender(session: Session, name: str | None = None) -> Sender:
    system, secret = admin.create_system(session, name or f"sys-{secrets.token_hex(4)}", "Enhed")
    session.flush()
    return Sender(system, secret)


def sign_headers(
    secret: str,
    system: str,
    data: str,
    *,
    webhook_id: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    at = at or dt.datetime.now(dt.UTC)
    return {
        "x-system": system,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, data),
    }


class SignedClient:
    """Posts JSON signed with the standardwebhooks library, as a real sender would."""

    def __init__(self, client: FlaskClient, sender: Sender) -> None:
        self.client = client
        self.sender = sender

    def headers(self, data: str, **kwargs: Any) -> dict[str, str]:
        return sign_headers(self.sender.secret, self.sender.name, data, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.post(
            path,
            data=data.encode(),
            content_type="application/json",
            headers=self.headers(data, **kwargs),
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers("", **kwargs))


def row_counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (Decision, Delivery, Job)
    }


def commit_sender_and_model(db: Any, name: str) -> Sender:
    """A system ``name`` and the active RICH_MANIFEST model, committed in ``db``."""
    import copy

    from portal.registry.models import ModelArtifact, ModelVersion

    with db.transaction() as session:
        system, secret = admin.create_system(session, name, "Enhed")
        session.add(
            ModelVersion(
                name=RICH_MANIFEST["name"],
                version=RICH_MANIFEST["version"],
                status="active",
                manifest=copy.deepcopy(RICH_MANIFEST),
                responsible_unit="Enhed",
                artifact_sha256="0" * 64,
                registered_by_system_id=system.id,
                files=ModelArtifact(artifact=b"fake"),
            )
        )
    return Sender(system, secret)
