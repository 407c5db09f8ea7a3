"""The letter attachment (bilag): PDF/A-3a with the explanation embedded as JSON, in the
recipient's language, only for a caseworker of the case's unit; its code and sha256 stored,
its generation audited."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from factories_cases import add_citizen_cases
from letters_support import OTHER_UNIT, TEST_LOOKUP_KEY
from sqlalchemy import func, select

from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Explanation
from portal.letters import codes
from portal.letters.models import LetterAttachment
from portal.oversight.models import AuditEvent

XMP_PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"


def _count(session: Any, table: Any) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "bilag.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def _fonts(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    """Every font the pages use, descendant fonts of composite (Type0) fonts included."""
    found: dict[tuple[int, int], pikepdf.Dictionary] = {}
    for page in pdf.pages:
        for font in (page.Resources.get("/Font") or {}).values():
            found[font.objgen] = font
            for descendant in font.get("/DescendantFonts", []):
                found[descendant.objgen] = descendant
    for obj in pdf.objects:  # fonts of XObjects (the chart's SVG) as well
        if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font":
            found[obj.objgen] = obj
    return list(found.values())


def test_the_attachment_is_pdf_a_3a_with_the_explanation_embedded(
    attachment_pdf, session, case, tmp_path
):
    answer = attachment_pdf()
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert answer.headers["Cache-Control"] == "private, no-store"
    body = answer.data
    (stored,) = session.scalars(
        select(LetterAttachment).where(LetterAttachment.decision_id == case.id)
    ).all()
    assert stored.pdf_sha256 == hashlib.sha256(body).hexdigest()
    assert codes.PATTERN.fullmatch(stored.verification_code)
    assert stored.language == "da"

    with pikepdf.open(io.BytesIO(body)) as pdf:
        # PDF/A-3 identification, conformance level A, in the XMP metadata
        meta = pdf.open_metadata()
        assert meta[f"{XMP_PDFAID}part"] == "3"
        assert meta[f"{XMP_PDFAID}conformance"] == "A"
        # tagged: a structure tree, marked content, the document language
        assert "/StructTreeRoot" in pdf.Root
        assert len(pdf.Root.StructTreeRoot.K) > 0
        assert bool(pdf.Root.MarkInfo.Marked) is True
        assert str(pdf.Root.Lang) == "da"
        assert "/OutputIntents" in pdf.Root
        # every font embedded
        fonts = _fonts(pdf)
        assert fonts
        for font in fonts:
            if font.get("/Subtype") == "/Type0":
                continue  # its descendant carries the descriptor
            descriptor = font.FontDescriptor
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font
        # the embedded JSON: an associated file of the document, equal to what is stored
        assert list(pdf.attachments) == ["forklaring.json"]
        spec = pdf.attachments["forklaring.json"]
        assert spec.obj.AFRelationship == "/Alternative"
        assert [a.objgen for a in pdf.Root.AF] == [spec.obj.objgen]
        embedded_file = spec.get_file()
        assert str(embedded_file.obj.Subtype) == "/application/json"
        embedded = json.loads(embedded_file.read_bytes())

    row = session.scalar(select(Explanation).where(Explanation.decision_id == case.id))
    expected = json.loads(json.dumps(StoredExplanation.from_row(row).to_api()))
    assert embedded["explanation"] == expected
    assert embedded["verification"]["code"] == stored.verification_code
    assert embedded["verification"]["url"].endswith(f"/bekraeft/{stored.verification_code}")
    assert embedded["decision"]["features"] == case.features
    assert embedded["decision"]["case_reference"] == case.case_reference
    raw = json.dumps(embedded)
    assert case.subject_cpr not in raw
    assert case.subject_key not in raw

    text = _text(body, tmp_path)
    assert "Bilag: Sådan indgik algoritmen i din sag" in text
    assert stored.verification_code in text
    assert "Det vejede mest" in text
    assert "Dine rettigheder" in text
    assert case.model_version.responsible_unit in text
    assert case.subject_cpr not in text


def test_every_page_renders(attachment_pdf, tmp_path):
    body = attachment_pdf().data
    path = tmp_path / "bilag.pdf"
    path.write_bytes(body)
    with pikepdf.open(io.BytesIO(body)) as pdf:
        pages = len(pdf.pages)
    assert pages >= 2
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    assert all(image.stat().st_size > 1000 for image in images)  # not blank


def test_the_attachment_is_in_the_recipients_language(attachment_pdf, session, case, tmp_path):
    answer = attachment_pdf("en")
    assert answer.status_code == 200
    with pikepdf.open(io.BytesIO(answer.data)) as pdf:
        assert str(pdf.Root.Lang) == "en"
    text = _text(answer.data, tmp_path)
    assert "Attachment: How the algorithm was used in your case" in text
    assert "What weighed the most" in text
    stored = session.scalar(select(LetterAttachment).where(LetterAttachment.decision_id == case.id))
    assert stored.language == "en"


def test_the_caseworkers_own_language_does_not_decide_it(client, attachment_pdf, tmp_path):
    client.set_cookie("lang", "en")
    with pikepdf.open(io.BytesIO(attachment_pdf().data)) as pdf:
        assert str(pdf.Root.Lang) == "da"


def test_each_generation_gets_its_own_code(attachment_pdf, session, case):
    first, second = attachment_pdf(), attachment_pdf()
    assert first.status_code == second.status_code == 200
    rows = session.scalars(
        select(LetterAttachment).where(LetterAttachment.decision_id == case.id)
    ).all()
    assert len({r.verification_code for r in rows}) == 2
    assert len({r.pdf_sha256 for r in rows}) == 2


def test_generating_is_audited_without_naming_the_caseworker(attachment_pdf, session, case):
    attachment_pdf()
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "letter.created")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert event.decision_public_id == case.public_id
    assert event.subject_key == case.subject_key
    assert event.actor_kind == "staff"
    assert event.actor_role == "caseworker"
    assert event.purpose == "casework"
    assert event.details["unit"] == case.model_version.responsible_unit
    assert "Test caseworker" not in json.dumps(event.details)


@pytest.mark.parametrize(
    ("role", "unit"),
    [("caseworker", OTHER_UNIT), ("auditor", None), ("admin", None), ("citizen", None)],
)
def test_anyone_but_a_caseworker_of_the_unit_gets_not_found(
    client, session, case, login_as, role, unit
):
    login_as(role, unit=unit)
    before = (_count(session, LetterAttachment), _count(session, AuditEvent))
    answer = client.get(f"/sagsbehandler/sager/{case.public_id}/bilag.pdf")
    assert answer.status_code == 404
    assert "Siden findes ikke" in answer.get_data(as_text=True)
    assert (_count(session, LetterAttachment), _count(session, AuditEvent)) == before


def test_a_visitor_without_a_session_is_sent_to_the_login(client, case):
    answer = client.get(f"/sagsbehandler/sager/{case.public_id}/bilag.pdf")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/login?next=")


def test_a_missing_case_is_not_found(client, session, caseworker):
    before = _count(session, LetterAttachment)
    assert client.get("/sagsbehandler/sager/no-such-case/bilag.pdf").status_code == 404
    assert _count(session, LetterAttachment) == before


def test_an_unknown_language_is_refused(attachment_pdf, session):
    before = _count(session, LetterAttachment)
    answer = attachment_pdf("de")
    assert answer.status_code == 400
    assert _count(session, LetterAttachment) == before


def test_no_attachment_before_the_explanation_is_ready(client, session, world, citizens, login_as):
    (pending, *_rest) = add_citizen_cases(
        session, world, citizens["anne"].cpr, lookup_secret=TEST_LOOKUP_KEY, statuses=["pending"]
    )
    session.commit()
    login_as("caseworker", unit=pending.model_version.responsible_unit)
    before = (_count(session, LetterAttachment), _count(session, AuditEvent))
    answer = client.get(f"/sagsbehandler/sager/{pending.public_id}/bilag.pdf")
    assert answer.status_code == 409
    assert (_count(session, LetterAttachment), _count(session, AuditEvent)) == before


def test_a_failing_render_stores_nothing(attachment_pdf, session, monkeypatch):
    import portal.letters.views as views

    def broken(*_args: Any, **_kwargs: Any) -> bytes:
        raise RuntimeError("render failed")

    monkeypatch.setattr(views, "render_attachment", broken)
    before = (_count(session, LetterAttachment), _count(session, AuditEvent))
    with pytest.raises(RuntimeError):
        attachment_pdf()
    assert (_count(session, LetterAttachment), _count(session, AuditEvent)) == before


def test_the_qr_code_is_an_image_with_a_text_alternative(attachment_pdf, session, case):
    body = attachment_pdf().data
    with pikepdf.open(io.BytesIO(body)) as pdf:
        alts = [
            str(obj.Alt)
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/S") == "/Figure" and "/Alt" in obj
        ]
        images = [
            xobject
            for xobject in (pdf.pages[-1].Resources.get("/XObject") or {}).values()
            if xobject.get("/Subtype") == "/Image"
        ]
    assert "QR-kode med adressen, hvor du kan tjekke bilaget" in alts
    assert images  # the QR code, on the page with the code


def test_the_citizen_sees_the_attachment_in_who_has_seen_my_data(
    attachment_pdf, client, case, login_as
):
    attachment_pdf()
    login_as("citizen", subject_key=case.subject_key)
    text = client.get("/mine-data/log").get_data(as_text=True)
    assert "Lavede bilaget til brevet" in text
    assert "For at behandle din sag" in text
    assert case.model_version.responsible_unit in text
    assert "Test caseworker" not in text
