"""Public verification at /bekraeft: by code or by uploading the PDF. Clear answers, nothing
personal shown, nothing stored."""

from __future__ import annotations

import io
from typing import Any

import pikepdf
import pytest
from sqlalchemy import func, select

from portal.letters.models import LetterAttachment
from portal.oversight.models import AuditEvent


@pytest.fixture
def issued(
    app: Any, attachment_pdf: Any, session: Any, case: Any, client: Any
) -> tuple[bytes, str]:
    """An issued attachment (bytes and code); the client is a member of the public again."""
    from portal.auth.sessions import session_interface

    body = attachment_pdf().data
    code = session.scalar(
        select(LetterAttachment.verification_code).where(LetterAttachment.decision_id == case.id)
    )
    client.delete_cookie(session_interface(app).cookie_name)
    assert client.get("/mine-sager").status_code == 303  # logged out
    return body, code


def _stored(session: Any) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(LetterAttachment)) or 0,
        session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def _upload(client: Any, data: bytes, name: str = "bilag.pdf") -> Any:
    return client.post(
        "/bekraeft",
        data={"document": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def no_csrf(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


def _verdict(answer: Any) -> str:
    text = answer.get_data(as_text=True)
    marker = 'data-verdict="'
    return text[text.index(marker) + len(marker) :].split('"', 1)[0]


def test_the_page_offers_both_ways_without_login(client: Any) -> None:
    answer = client.get("/bekraeft")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "Tjek et bilag" in text
    assert 'name="kode"' in text
    assert 'enctype="multipart/form-data"' in text
    assert 'name="csrf_token"' in text


def test_a_genuine_code_tells_date_unit_and_kind_of_case_and_nothing_personal(
    client: Any, session: Any, issued: tuple[bytes, str], case: Any
) -> None:
    _body, code = issued
    before = _stored(session)
    answer = client.get(f"/bekraeft/{code}")
    assert answer.status_code == 200
    assert _verdict(answer) == "genuine"
    text = answer.get_data(as_text=True)
    assert "Bilaget er ægte" in text
    assert case.model_version.responsible_unit in text
    assert case.model_version.manifest["title"]["da"] in text
    for personal in (case.case_reference, case.case_title["da"], case.public_id, case.decided_by):
        assert personal not in text
    assert _stored(session) == before


def test_a_typed_code_is_forgiven_and_leads_to_its_address(
    client: Any, issued: tuple[bytes, str]
) -> None:
    _body, code = issued
    typed = code.replace("-", " ").lower()
    answer = client.get("/bekraeft", query_string={"kode": typed})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/bekraeft/{code}")
    assert client.get(f"/bekraeft/{code.lower()}").status_code == 303


def test_a_forged_code_is_unknown(client: Any, session: Any, issued: tuple[bytes, str]) -> None:
    _body, code = issued
    forged = ("0" if code[0] != "0" else "1") + code[1:]
    before = _stored(session)
    answer = client.get(f"/bekraeft/{forged}")
    assert answer.status_code == 404
    assert _verdict(answer) == "unknown-code"
    assert "Vi kender ikke denne kode" in answer.get_data(as_text=True)
    assert _stored(session) == before


def test_an_empty_code_shows_the_page_again(client: Any) -> None:
    answer = client.get("/bekraeft", query_string={"kode": "  "})
    assert answer.status_code == 200
    assert "data-verdict" not in answer.get_data(as_text=True)


def test_something_that_cannot_be_a_code_is_unknown(client: Any) -> None:
    assert client.get("/bekraeft/not-a-code").status_code == 404
    answer = client.get("/bekraeft", query_string={"kode": "hello"})
    assert answer.status_code == 404
    assert _verdict(answer) == "unknown-code"


def test_an_uploaded_genuine_pdf_is_genuine(
    client: Any, session: Any, issued: tuple[bytes, str], no_csrf: None, case: Any
) -> None:
    body, code = issued
    before = _stored(session)
    answer = _upload(client, body)
    assert answer.status_code == 200
    assert _verdict(answer) == "genuine"
    assert code in answer.get_data(as_text=True)
    assert _stored(session) == before


def test_one_changed_byte_is_found(
    client: Any, session: Any, issued: tuple[bytes, str], no_csrf: None
) -> None:
    body, _code = issued
    at = body.index(b"stream\n") + 100  # inside the first stream (the colour profile)
    changed = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]
    assert len(changed) == len(body)
    before = _stored(session)
    answer = _upload(client, changed)
    assert answer.status_code == 409
    assert _verdict(answer) == "changed"
    assert "Filen er ændret" in answer.get_data(as_text=True)
    assert _stored(session) == before


def test_an_edited_pdf_is_changed(
    client: Any, session: Any, issued: tuple[bytes, str], no_csrf: None
) -> None:
    body, _code = issued
    with pikepdf.open(io.BytesIO(body)) as pdf:
        pdf.docinfo["/Title"] = "Et andet bilag"
        out = io.BytesIO()
        pdf.save(out)
    answer = _upload(client, out.getvalue())
    assert answer.status_code == 409
    assert _verdict(answer) == "changed"


def test_a_pdf_we_did_not_issue_is_unknown(client: Any, session: Any, no_csrf: None) -> None:
    out = io.BytesIO()
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(out)
    answer = _upload(client, out.getvalue())
    assert answer.status_code == 404
    assert _verdict(answer) == "unknown"


def test_a_file_that_is_not_a_pdf_is_refused(client: Any, session: Any, no_csrf: None) -> None:
    before = _stored(session)
    answer = _upload(client, b"GIF89a not a pdf", "bilag.pdf")
    assert answer.status_code == 415
    assert _verdict(answer) == "not-a-pdf"
    assert "Filen er ikke en PDF" in answer.get_data(as_text=True)
    assert _stored(session) == before


def test_an_oversized_upload_is_refused_before_it_is_read(
    app: Any, client: Any, session: Any, monkeypatch: pytest.MonkeyPatch, no_csrf: None
) -> None:
    import dataclasses

    settings = dataclasses.replace(app.config["SETTINGS"], verify_max_upload_bytes=64 * 1024)
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    before = _stored(session)
    answer = _upload(client, b"%PDF-1.7\n" + b"0" * (70 * 1024))
    assert answer.status_code == 413
    assert "for stor" in answer.get_data(as_text=True)
    assert _stored(session) == before


def test_an_upload_without_a_file_is_a_form_error(client: Any, no_csrf: None) -> None:
    answer = client.post("/bekraeft", data={}, content_type="multipart/form-data")
    assert answer.status_code == 400
    assert "Vælg bilagets PDF-fil." in answer.get_data(as_text=True)


def test_an_upload_without_the_forms_token_is_refused(
    client: Any, session: Any, issued: tuple[bytes, str]
) -> None:
    body, _code = issued
    before = _stored(session)
    answer = _upload(client, body)
    assert answer.status_code == 400
    assert _stored(session) == before


def test_verification_is_rate_limited_per_client(app_overrides: Any, connection: Any) -> None:
    from portal import create_app
    from portal.db_session import get_db

    limited = create_app(
        {**app_overrides, "env": "development", "verify_ratelimit": "2 per minute"}
    )
    get_db(limited).session_factory.configure(
        bind=connection, join_transaction_mode="create_savepoint"
    )
    client = limited.test_client()
    statuses = [client.get("/bekraeft/7KQ2-M9XD-4HTR").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    assert client.get("/algoritmer").status_code == 200  # other pages keep their own limit
