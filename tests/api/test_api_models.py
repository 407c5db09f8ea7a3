"""POST /api/v1/models (signed multipart) and the activate/retire endpoints."""

from __future__ import annotations

import copy
import io
import json
import time

import pytest
from api_support import Sender
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.api.signing import sign
from portal.registry.models import ModelVersion


def post_model(
    client,
    sender: Sender,
    manifest,
    artifact: bytes,
    background: bytes | None,
    webhook_id: str = "model-1",
    tamper: bool = False,
):
    fields = {
        "manifest": json.dumps(manifest),
        "artifact": FileStorage(io.BytesIO(artifact), "model.skops"),
    }
    if background is not None:
        fields["background"] = FileStorage(io.BytesIO(background), "bg.csv")
    boundary, data = encode_multipart(fields)
    ts = int(time.time())
    signature = sign(sender.secret, webhook_id, ts, data)
    if tamper:
        data = data.replace(b"skops", b"skopz", 1)
    return client.post(
        "/api/v1/models",
        data=data,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={
            "x-system": sender.name,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": signature,
        },
    )


def signed_empty_post(client, sender: Sender, path: str):
    ts = int(time.time())
    return client.post(
        path,
        data=b"",
        headers={
            "x-system": sender.name,
            "webhook-id": "act",
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(sender.secret, "act", ts, b""),
        },
    )


def model_count(session) -> int:
    return session.scalar(select(func.count()).select_from(ModelVersion))


@pytest.fixture
def bygge(demo_models):
    return demo_models["byggesagsscreening"]


def test_register_is_201_then_200_for_the_same_bytes(client, sender, session, bygge) -> None:
    first = post_model(client, sender, bygge.manifest, bygge.artifact, bygge.background_csv)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["name"], body["status"]) == ("byggesagsscreening", "registered")
    assert body["artifact_sha256"] == bygge.artifact_sha256
    assert body["explainer_kind"] == "linear"
    again = post_model(
        client, sender, bygge.manifest, bygge.artifact, bygge.background_csv, webhook_id="model-2"
    )
    assert (again.status_code, again.get_json()) == (200, body)
    stored = session.scalar(select(ModelVersion))
    assert stored.files.artifact == bygge.artifact
    assert stored.files.background == bygge.background_csv
    assert stored.registered_by_system_id == sender.system.id
    assert model_count(session) == 1


def test_same_version_other_bytes_is_409(client, sender, session, bygge, demo_models) -> None:
    post_model(client, sender, bygge.manifest, bygge.artifact, bygge.background_csv)
    rows = bygge.background_csv.splitlines(keepends=True)
    changed = b"".join(rows[:-1])  # one background row fewer
    response = post_model(
        client, sender, bygge.manifest, bygge.artifact, changed, webhook_id="model-3"
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "model-version-exists"
    assert model_count(session) == 1


def test_invalid_manifest_lists_every_problem_and_stores_nothing(client, sender, session, bygge):
    manifest = copy.deepcopy(bygge.manifest)
    manifest["features"][0]["categories"] = ["x"]
    manifest["features"][0]["type"] = "colour"
    del manifest["title"]
    response = post_model(client, sender, manifest, bygge.artifact, bygge.background_csv)
    assert response.status_code == 422
    codes = {d["code"] for d in response.get_json()["error"]["details"]}
    assert codes >= {"categories-not-allowed", "invalid-feature-type", "missing-text"}
    assert model_count(session) == 0


def _manifest_with(bygge, path: str, value) -> dict:
    manifest = copy.deepcopy(bygge.manifest)
    *parents, last = path.split(".")
    target = manifest
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value
    return manifest


@pytest.mark.parametrize(
    ("path", "value", "field", "code"),
    [
        # lone surrogates, in a value, a nested text and a key
        ("title.da", "Byggesag \ud800", "title.da", "invalid-text"),
        ("features.0.label.da", "\udfff", "features.0.label.da", "invalid-text"),
        ("title.\udc00", "x", "title.\\udc00", "invalid-text"),
        ("name", "bygge\ud800", "name", "invalid-text"),
        # integers beyond the float range in numeric fields
        ("features.0.min", 10**400, "features[0].min", "not-a-number"),
        ("features.0.max", -(10**400), "features[0].max", "not-a-number"),
        ("output.threshold", 10**400, "output.threshold", "not-a-number"),
        # values of a kind nobody checked for (unhashable where a name was expected)
        ("features.0.type", ["number"], "features[0].type", "invalid-feature-type"),
        ("output.kind", {"kind": "probability"}, "output.kind", "invalid-output-kind"),
    ],
)
def test_bad_manifest_values_are_422_with_their_field(
    client, sender, session, bygge, path, value, field, code
) -> None:
    manifest = _manifest_with(bygge, path, value)
    response = post_model(client, sender, manifest, bygge.artifact, bygge.background_csv)
    assert response.status_code == 422, response.get_json()
    details = response.get_json()["error"]["details"]
    assert (field, code) in {(d["field"], d["code"]) for d in details}
    assert model_count(session) == 0


def test_unsafe_or_broken_artifact_is_422(client, sender, session, bygge) -> None:
    response = post_model(client, sender, bygge.manifest, b"\x80\x04pickle", bygge.background_csv)
    assert response.status_code == 422
    assert {d["field"] for d in response.get_json()["error"]["details"]} >= {"artifact"}
    assert model_count(session) == 0


def test_missing_parts_are_422(client, sender, session) -> None:
    ts = int(time.time())
    boundary, data = encode_multipart({"manifest": "{}"})
    response = client.post(
        "/api/v1/models",
        data=data,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={
            "x-system": sender.name,
            "webhook-id": "m",
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(sender.secret, "m", ts, data),
        },
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["code"] == "missing-part"


def test_tampered_multipart_is_401(client, sender, session, bygge) -> None:
    response = post_model(
        client, sender, bygge.manifest, bygge.artifact, bygge.background_csv, tamper=True
    )
    assert response.status_code == 401
    assert model_count(session) == 0


def test_activate_and_retire_own_model_only(client, sender, other_sender, session, bygge):
    post_model(client, sender, bygge.manifest, bygge.artifact, bygge.background_csv)
    path = f"/api/v1/models/{bygge.name}/{bygge.version}"
    assert signed_empty_post(client, other_sender, f"{path}/activate").status_code == 404
    activated = signed_empty_post(client, sender, f"{path}/activate")
    assert (activated.status_code, activated.get_json()["status"]) == (200, "active")
    retired = signed_empty_post(client, sender, f"{path}/retire")
    assert retired.get_json()["status"] == "retired"
    again = signed_empty_post(client, sender, f"{path}/activate")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "model-status-conflict"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda m: m["features"][0].update(actionable="sideways"), "invalid-actionable"),
        (
            lambda m: m["features"][0].update(sensitive=True, actionable="increase"),
            "sensitive-actionable",
        ),
        (
            lambda m: m["features"][0].update(special_category=True, actionable=False),
            "missing-special-category-legal-basis",
        ),
        (lambda m: m["output"].update(counterfactual_for="always"), "invalid-counterfactual-for"),
        (
            lambda m: m["output"].update(
                recommendation={"above": {"en": "x"}, "below": {"da": "y"}}
            ),
            "missing-danish-text",
        ),
    ],
)
def test_counterfactual_and_legal_basis_rules_are_refused_with_422(
    client, sender, session, bygge, change, code
) -> None:
    manifest = copy.deepcopy(bygge.manifest)
    change(manifest)
    response = post_model(client, sender, manifest, bygge.artifact, bygge.background_csv)
    assert response.status_code == 422
    assert code in {d["code"] for d in response.get_json()["error"]["details"]}
    assert model_count(session) == 0
