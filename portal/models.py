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
from portal.supervision.models import (
    ChainCheck,
    DecisionOutcome,
    FeatureBin,
    GroupCell,
    ModelWeek,
    RateCell,
    SupervisionReport,
    SupervisionWatermark,
)

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditSeal",
    "Base",
    "ChainCheck",
    "CitizenAccount",
    "CitizenRequest",
    "Decision",
    "DecisionOutcome",
    "Delivery",
    "Explanation",
    "FeatureBin",
    "GroupCell",
    "Job",
    "LetterAttachment",
    "ModelArtifact",
    "ModelGrant",
    "ModelVersion",
    "ModelWeek",
    "OversightRecord",
    "PdfExport",
    "RateCell",
    "RetentionReceipt",
    "ServerSession",
    "StaffPrincipal",
    "SupervisionReport",
    "SupervisionWatermark",
    "System",
    "WebhookSecret",
]
