"""Letter attachments (bilag): preparing one for a caseworker, storing it, and verifying one
for anybody.

Plain typed functions taking the session (and, for staff, the acting principal); they never
read Flask's globals and never commit. Generating an attachment has two halves, because its
sha256 exists only once the PDF does and no transaction is held while the PDF renders:
:func:`prepare_attachment` reads (and refuses a case the caseworker may not see: NotFound,
exactly like a missing one), the view renders, :func:`store_attachment` writes the row and
its audit event together. Verification reads only and stores nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.principal import Principal, audit_actor
from portal.cases.services import CaseDetail
from portal.cases.subject_access import decision_entry
from portal.db import utcnow
from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Decision, Explanation
from portal.errors import Conflict, NotFound
from portal.i18n import LANGUAGES
from portal.letters import codes
from portal.letters.models import LetterAttachment
from portal.oversight.audit import record_event
from portal.registry.models import ModelVersion
from portal.staff.scope import find_case_for_staff

#: The purpose of access logged when a caseworker makes the attachment for the letter.
PURPOSE = "casework"  # "To handle your case" in the citizen's access log
#: The machine-readable explanation embedded in the PDF (its name inside the PDF).
EMBEDDED_NAME = "forklaring.json"
EMBEDDED_FORMAT = "forklaringsportalen/bilag"
EMBEDDED_VERSION = 1
VERIFY_PATH = "/bekraeft/"


class ExplanationNotReady(Conflict):
    code = "explanation-not-ready"
    message = _l("The explanation of this decision is not ready yet. Try again in a moment.")


@dataclass(frozen=True)
class AttachmentDraft:
    """Everything the attachment shows, read before rendering; ``code`` is fresh."""

    detail: CaseDetail
    code: str
    language: str
    unit: str
    verify_url: str
    issued_at: dt.datetime

    def machine_readable(self) -> dict[str, Any]:
        """The explanation as embedded in the PDF: the numbers an appeals board can check
        without the portal (no CPR, no lookup key)."""
        model = self.detail.model
        decision = decision_entry(self.detail)
        decision.pop("requests", None)  # the citizen's own requests are not in a letter
        return {
            "format": EMBEDDED_FORMAT,
            "format_version": EMBEDDED_VERSION,
            "verification": {"code": self.code, "url": self.verify_url},
            "issued_at": self.issued_at.isoformat(),
            "issued_by_unit": self.unit,
            "language": self.language,
            "model": {
                "name": model.name,
                "version": model.version,
                "title": model.manifest.get("title"),
                "responsible_unit": model.responsible_unit,
            },
            "explanation": decision.pop("explanation"),
            "decision": decision,
        }

    def machine_readable_bytes(self) -> bytes:
        return json.dumps(self.machine_readable(), ensure_ascii=False, indent=2).encode()


def language_or_default(value: str | None) -> str | None:
    """The recipient's language from the request (Danish when none is given), or None when
    it is not one the portal writes in."""
    if value is None or value == "":
        return "da"
    return value if value in LANGUAGES else None


def prepare_attachment(
    session: Session, principal: Principal, public_id: str, *, language: str, base_url: str
) -> AttachmentDraft:
    """Read what the attachment of decision ``public_id`` says, for a caseworker of its unit.

    NotFound for a decision that is missing or not the caseworker's unit's (the same answer);
    :class:`ExplanationNotReady` (409) while its explanation is not computed yet."""
    decision = find_case_for_staff(session, principal, public_id)
    if decision is None or principal.staff_id is None or principal.unit is None:
        raise NotFound()
    model = session.get(ModelVersion, decision.model_version_id)
    row = session.scalar(select(Explanation).where(Explanation.decision_id == decision.id))
    if model is None or row is None:
        raise ExplanationNotReady()
    explanation = StoredExplanation.from_row(row)
    code = codes.new_code()
    return AttachmentDraft(
        detail=CaseDetail(decision, model, explanation, []),
        code=code,
        language=language,
        unit=principal.unit,
        verify_url=base_url.rstrip("/") + VERIFY_PATH + code,
        issued_at=utcnow(),
    )


def store_attachment(
    session: Session, principal: Principal, draft: AttachmentDraft, pdf: bytes
) -> LetterAttachment:
    """Store the rendered attachment's code and sha256 and log that it was made."""
    if principal.staff_id is None:  # pragma: no cover - prepare_attachment refused it
        raise NotFound()
    decision = draft.detail.decision
    attachment = LetterAttachment(
        decision_id=decision.id,
        verification_code=draft.code,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        language=draft.language,
        created_by_staff_id=principal.staff_id,
        created_at=draft.issued_at,
    )
    session.add(attachment)
    session.flush()
    record_event(
        session,
        audit_actor(principal),
        "letter.created",
        purpose=PURPOSE,
        decision_public_id=decision.public_id,
        subject_key=decision.subject_key,
        details={"unit": draft.unit, "attachment": attachment.id, "language": draft.language},
    )
    return attachment


# --------------------------------------------------------------------------- verification

GENUINE = "genuine"
CHANGED = "changed"
UNKNOWN = "unknown"  # an uploaded file we did not issue (or changed past reading its code)
UNKNOWN_CODE = "unknown-code"
NOT_A_PDF = "not-a-pdf"
STATUS = {GENUINE: 200, CHANGED: 409, UNKNOWN: 404, UNKNOWN_CODE: 404, NOT_A_PDF: 415}


@dataclass(frozen=True)
class Verification:
    """The answer to "is this a genuine attachment?": nothing personal, only when it was
    issued, by which unit and for which kind of case (the model's public title)."""

    verdict: str
    code: str | None = None
    issued_at: dt.datetime | None = None
    unit: str | None = None
    kind_of_case: dict[str, Any] | None = None

    @property
    def status(self) -> int:
        return STATUS[self.verdict]


def _issued(session: Session, verdict: str, attachment: LetterAttachment) -> Verification:
    model = session.scalar(
        select(ModelVersion)
        .join(Decision, Decision.model_version_id == ModelVersion.id)
        .where(Decision.id == attachment.decision_id)
    )
    return Verification(
        verdict=verdict,
        code=attachment.verification_code,
        issued_at=attachment.created_at,
        unit=model.responsible_unit if model is not None else None,
        kind_of_case=model.manifest.get("title") if model is not None else None,
    )


def verify_code(session: Session, text: str) -> Verification:
    """Look up a typed or scanned code (case, spaces and hyphens do not matter)."""
    code = codes.normalize(text)
    attachment = (
        session.scalar(select(LetterAttachment).where(LetterAttachment.verification_code == code))
        if code is not None
        else None
    )
    if attachment is None:
        return Verification(UNKNOWN_CODE, code=code)
    return _issued(session, GENUINE, attachment)


def verify_upload(session: Session, data: bytes) -> Verification:
    """Check an uploaded file: genuine and unchanged (its sha256 is one we issued), changed
    (it names one of our codes but is not that file), unknown, or not a PDF at all."""
    digest = hashlib.sha256(data).hexdigest()
    attachment = session.scalar(
        select(LetterAttachment).where(LetterAttachment.pdf_sha256 == digest).limit(1)
    )
    if attachment is not None:
        return _issued(session, GENUINE, attachment)
    if not data.startswith(b"%PDF-"):
        return Verification(NOT_A_PDF)
    code = embedded_code(data)
    if code is None:
        return Verification(UNKNOWN)
    attachment = session.scalar(
        select(LetterAttachment).where(LetterAttachment.verification_code == code)
    )
    if attachment is None:
        return Verification(UNKNOWN)
    return _issued(session, CHANGED, attachment)


def embedded_code(data: bytes) -> str | None:
    """The verification code named by the JSON embedded in a PDF, if it can be read."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            spec = pdf.attachments.get(EMBEDDED_NAME)
            if spec is None:
                return None
            body = json.loads(spec.get_file().read_bytes())
    except (pikepdf.PdfError, ValueError, KeyError, TypeError):
        return None
    code = body.get("verification", {}).get("code") if isinstance(body, dict) else None
    return codes.normalize(code) if isinstance(code, str) else None
