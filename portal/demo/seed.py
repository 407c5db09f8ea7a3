"""``flask --app wsgi demo seed``: demo data through the signed machine API.

The seed is a client like any decision-support system: it creates (once) the demo system,
registers and activates the two demo models with signed multipart requests, and posts the
demo decisions as signed batches, all through the same views a real sender reaches (via the
Flask test client, so no server needs to run). Then it computes the explanations with the
worker's own function, so the demo shows ready explanations.

Idempotent: the decisions are generated for a fixed moment (the demo system's creation
minute) and keyed by case reference, so a second run builds the same bodies with the same
ids; a batch whose items were all delivered before is not sent again (its request would
be a new delivery row), and any other item is answered as a duplicate; nothing is added.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from standardwebhooks import Webhook
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.db_session import get_db
from portal.oversight.sealer import seal_all

DEMO_SYSTEM = "demo-sagssystem"
DEMO_UNIT = "Københavns Kommune (demo)"
BATCH_SIZE = 100


@dataclass
class SeedReport:
    models_registered: int = 0
    decisions_accepted: int = 0
    decisions_duplicate: int = 0
    decisions_rejected: int = 0
    # Worker jobs run: each decision's explanation and then its counterfactual search.
    jobs_run: int = 0
    # Sealing rounds run after seeding (each chains a run of new audit events).
    audit_rounds: int = 0
    problems: list[str] = field(default_factory=list)


class SignedClient:
    """Sends signed requests to the API as a decision-support system would."""

    def __init__(self, client: FlaskClient, system: str, secret: str) -> None:
        self.client = client
        self.system = system
        self.secret = secret
        self.webhook = Webhook(secret)

    def _headers(self, webhook_id: str, signature: str, timestamp: int) -> dict[str, str]:
        return {
            "x-system": self.system,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }

    def post_json(self, path: str, webhook_id: str, body: Any) -> Any:
        data = json.dumps(body, ensure_ascii=False)
        now = dt.datetime.now(dt.UTC)
        signature = self.webhook.sign(webhook_id, now, data)
        return self.client.post(
            path,
            data=data.encode(),
            content_type="application/json",
            headers=self._headers(webhook_id, signature, int(now.timestamp())),
        )

    def post_multipart(self, path: str, webhook_id: str, fields: dict[str, Any]) -> Any:
        from portal.api.signing import sign

        boundary, data = encode_multipart(fields)
        timestamp = int(time.time())
        # The library signs text; a multipart body with a binary artifact is signed over its
        # bytes exactly as the spec defines (same HMAC, same header format).
        signature = sign(self.secret, webhook_id, timestamp, data)
        return self.client.post(
            path,
            data=data,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers=self._headers(webhook_id, signature, timestamp),
        )


def _demo_system(app: Flask) -> tuple[str, dt.datetime]:
    """The demo system's secret and creation time (creating it the first time)."""
    from portal.api.auth import valid_secrets
    from portal.db import utcnow
    from portal.registry import admin
    from portal.registry.models import System

    with get_db(app).transaction() as session:
        system = session.scalar(select(System).where(System.name == DEMO_SYSTEM))
        if system is None:
            system, secret = admin.create_system(session, DEMO_SYSTEM, DEMO_UNIT)
        else:
            secrets = valid_secrets(session, system, utcnow())
            secret = secrets[-1] if secrets else admin.rotate_secret(session, DEMO_SYSTEM)
        return secret, system.created_at


def seed(app: Flask) -> SeedReport:
    """Seed the demo through the API; safe to run again."""
    from io import BytesIO

    from portal.decisions.dispatch import get_worker
    from portal.decisions.worker import WorkerOptions, run_until_idle
    from portal.demo import build_demo_models, demo_citizens, demo_decisions

    worker = get_worker(app)
    if worker is not None:
        worker.autostart = False  # explanations are computed below, in this process
    report = SeedReport()
    secret, created_at = _demo_system(app)
    client = SignedClient(app.test_client(), DEMO_SYSTEM, secret)
    models = build_demo_models()
    for model in models:
        key = f"demo-model-{model.name}-{model.version}"
        fields = {
            "manifest": json.dumps(model.manifest, ensure_ascii=False),
            "artifact": FileStorage(
                BytesIO(model.artifact),
                f"{model.name}.skops",
                content_type="application/octet-stream",
            ),
            "background": FileStorage(
                BytesIO(model.background_csv), f"{model.name}.csv", content_type="text/csv"
            ),
        }
        response = client.post_multipart("/api/v1/models", key, fields)
        if response.status_code not in (200, 201):
            report.problems.append(f"register {model.name}: {response.status_code} {response.json}")
            continue
        report.models_registered += response.status_code == 201
        response = _activate(client, model.name, model.version, key)
        if response.status_code != 200:
            report.problems.append(f"activate {model.name}: {response.status_code}")

    now = created_at.replace(second=0, microsecond=0)
    bodies = demo_decisions(models, demo_citizens(), now=now)
    items = [{"id": f"demo-{b['model']['name']}-{b['case']['reference']}", **b} for b in bodies]
    delivered = _delivered_ids(app, [item["id"] for item in items])
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start : start + BATCH_SIZE]
        if all(item["id"] in delivered for item in chunk):
            # Sending it again would be answered "duplicate" item by item, but the batch
            # request itself would still be a new delivery row: a rerun must add nothing.
            report.decisions_duplicate += len(chunk)
            continue
        # Item ids are the idempotency keys; the batch request itself gets a fresh id.
        key = f"demo-batch-{uuid.uuid4().hex}"
        response = client.post_json("/api/v1/decisions/batch", key, {"items": chunk})
        if response.status_code != 200:
            report.problems.append(f"batch {start}: {response.status_code} {response.json}")
            continue
        counts = response.json["counts"]
        report.decisions_accepted += counts["accepted"]
        report.decisions_duplicate += counts["duplicate"]
        report.decisions_rejected += counts["rejected"]
        for item in response.json["items"]:
            if item["status"] == "rejected":
                report.problems.append(f"item {item['id']}: {item['error']}")
    options = WorkerOptions.from_settings(app.config["SETTINGS"])
    report.jobs_run = run_until_idle(get_db(app), options)
    # Seal what seeding logged, so `audit verify` right after a demo seed finds no
    # unsealed tail (the worker's sealer would do it within seconds anyway).
    report.audit_rounds = seal_all(get_db(app), app.config["SETTINGS"].audit_checkpoint_key)
    return report


def _delivered_ids(app: Flask, ids: list[str]) -> set[str]:
    """Which of the demo system's idempotency keys were already delivered."""
    from portal.decisions.models import Delivery
    from portal.registry.models import System

    with get_db(app).transaction() as session:
        found = session.scalars(
            select(Delivery.webhook_id)
            .join(System, System.id == Delivery.system_id)
            .where(System.name == DEMO_SYSTEM, Delivery.webhook_id.in_(ids))
        ).all()
    return set(found)


def _activate(client: SignedClient, name: str, version: str, key: str) -> Any:
    """Activation is a signed POST with an empty body."""
    from portal.api.signing import sign

    webhook_id = f"{key}-activate"
    timestamp = int(time.time())
    return client.client.post(
        f"/api/v1/models/{name}/{version}/activate",
        data=b"",
        headers=client._headers(
            webhook_id, sign(client.secret, webhook_id, timestamp, b""), timestamp
        ),
    )


def register(app: Flask) -> None:
    @app.cli.group("demo")
    def demo() -> None:
        """Demo data."""

    @demo.command("seed")
    def demo_seed() -> None:
        """Create the demo system, register the demo models and post the demo decisions
        through the signed API; compute their explanations. Safe to run again."""
        report = seed(app)
        click.echo(
            f"models registered: {report.models_registered}; decisions accepted: "
            f"{report.decisions_accepted}, already there: {report.decisions_duplicate}, "
            f"rejected: {report.decisions_rejected}; worker jobs run (explanations and "
            f"counterfactual searches): {report.jobs_run}"
        )
        for problem in report.problems[:20]:
            click.echo(f"problem: {problem}", err=True)
        if report.problems:
            raise SystemExit(1)
