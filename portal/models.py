"""Every mapped class, imported once so ``Base.metadata`` is complete (Alembic, tests)."""

from portal.auth.models import CitizenAccount, ServerSession, StaffPrincipal
from portal.cases.models import CitizenRequest, PdfExport
from portal.db import Base
from portal.decisions.models import Decision, Delivery, Explanation, Job
from portal.letters.models import LetterAttachment, OversightRecord
from portal.oversight.models import AuditCheckpoint, AuditEvent, AuditSeal
from portal.registry.models import (
    ModelArtifact,
    ModelGrant,
    ModelVersion,
    System,
    WebhookSecret,
)
from portal.retention.models import RetentionReceipt

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditSeal",
    "Base",
    "CitizenAccount",
    "CitizenRequest",
    "Decision",
    "Delivery",
    "Explanation",
    "Job",
    "LetterAttachment",
    "ModelArtifact",
    "ModelGrant",
    "ModelVersion",
    "OversightRecord",
    "PdfExport",
    "RetentionReceipt",
    "ServerSession",
    "StaffPrincipal",
    "System",
    "WebhookSecret",
]
