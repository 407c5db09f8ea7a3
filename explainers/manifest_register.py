"""Manifest fields for the public algorithm register and for retention (all optional, so
manifests registered before them still load): their checks and their parsed form.

* ``description``: a plain-language text of what the model does (per language).
* ``legal_basis`` and ``human_oversight``: texts (per language).
* ``risk_class``: ``{"ai_act": "high-risk" | "not-high-risk", "annex_iii": "5(a)",
  "explanation": {"da": ...}}``; ``annex_iii`` (the point of the AI Act's Annex III) is
  required for a high-risk model and refused for one that is not.
* ``contact``: ``{"email": "...", "phone": "...", "name": {"da": ...}}``, email required.
* ``retention_days``: how long the portal keeps a decision of this model version and
  everything tied to it (whole days, 1 to 36500), counted from the decision's time.

Pure standard library, like ``explainers.manifest_checks``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from explainers.problems import Problem

AI_ACT_CLASSES: frozenset[str] = frozenset({"high-risk", "not-high-risk"})
MAX_RETENTION_DAYS = 36_500
_ANNEX_III_POINT = re.compile(r"^[1-8](\([a-e]\))?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

AiActClass = Literal["high-risk", "not-high-risk"]


@dataclass(frozen=True)
class RiskClass:
    """The model's class under the AI Act (Regulation (EU) 2024/1689)."""

    ai_act: AiActClass
    annex_iii: str | None
    explanation: Mapping[str, str]


@dataclass(frozen=True)
class Contact:
    """Where the public can ask about the model."""

    email: str
    phone: str | None
    name: Mapping[str, str] | None


def text_problems(value: Any, where: str, out: list[Problem]) -> None:
    """A per-language text object (``{"da": ..., "en": ...}``) with a Danish text."""
    if not isinstance(value, Mapping):
        out.append(Problem(where, "missing-text", "object with a 'da' text required"))
        return
    da = value.get("da")
    if not isinstance(da, str) or not da.strip():
        out.append(Problem(f"{where}.da", "missing-danish-text", "Danish text required"))
    for lang, text in value.items():
        if not isinstance(text, str):
            out.append(Problem(f"{where}.{lang}", "not-a-string", "text must be a string"))


def _risk_class_problems(value: Any, out: list[Problem]) -> None:
    if not isinstance(value, Mapping):
        out.append(Problem("risk_class", "not-an-object", "risk_class must be an object"))
        return
    ai_act = value.get("ai_act")
    if ai_act not in AI_ACT_CLASSES:
        out.append(
            Problem(
                "risk_class.ai_act",
                "invalid-risk-class",
                "ai_act must be 'high-risk' or 'not-high-risk'",
                {"allowed": sorted(AI_ACT_CLASSES), "got": repr(ai_act)},
            )
        )
    point = value.get("annex_iii")
    if ai_act == "high-risk" and point is None:
        out.append(
            Problem(
                "risk_class.annex_iii",
                "missing-annex-iii-point",
                "a high-risk model names its point of Annex III, e.g. '5(a)'",
            )
        )
    if point is not None:
        if ai_act == "not-high-risk":
            out.append(
                Problem(
                    "risk_class.annex_iii",
                    "annex-iii-not-allowed",
                    "only a high-risk model names a point of Annex III",
                )
            )
        elif not isinstance(point, str) or not _ANNEX_III_POINT.match(point):
            out.append(
                Problem(
                    "risk_class.annex_iii",
                    "invalid-annex-iii-point",
                    "a point of Annex III such as '4' or '5(a)'",
                    {"got": repr(point)},
                )
            )
    text_problems(value.get("explanation"), "risk_class.explanation", out)


def _contact_problems(value: Any, out: list[Problem]) -> None:
    if not isinstance(value, Mapping):
        out.append(Problem("contact", "not-an-object", "contact must be an object"))
        return
    email = value.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email):
        out.append(Problem("contact.email", "invalid-email", "an e-mail address required"))
    phone = value.get("phone")
    if phone is not None and (not isinstance(phone, str) or not phone.strip()):
        out.append(Problem("contact.phone", "not-a-string", "phone must be a non-empty string"))
    if value.get("name") is not None:
        text_problems(value["name"], "contact.name", out)


def register_problems(manifest: Mapping[str, Any]) -> list[Problem]:
    """The problems of the register and retention fields a manifest has (none if absent)."""
    out: list[Problem] = []
    for name in ("description", "legal_basis", "human_oversight"):
        if manifest.get(name) is not None:
            text_problems(manifest[name], name, out)
    if manifest.get("risk_class") is not None:
        _risk_class_problems(manifest["risk_class"], out)
    if manifest.get("contact") is not None:
        _contact_problems(manifest["contact"], out)
    days = manifest.get("retention_days")
    if days is not None and (
        not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_RETENTION_DAYS
    ):
        out.append(
            Problem(
                "retention_days",
                "invalid-retention-days",
                f"retention_days must be a whole number of days from 1 to {MAX_RETENTION_DAYS}",
                {"got": repr(days)},
            )
        )
    return out


def _text(value: Any) -> Mapping[str, str] | None:
    return None if value is None else dict(value)


def parse_risk_class(value: Any) -> RiskClass | None:
    """The parsed ``risk_class`` of a manifest that passed ``register_problems``."""
    if value is None:
        return None
    return RiskClass(
        ai_act=value["ai_act"],
        annex_iii=value.get("annex_iii"),
        explanation=dict(value.get("explanation") or {}),
    )


def parse_contact(value: Any) -> Contact | None:
    """The parsed ``contact`` of a manifest that passed ``register_problems``."""
    if value is None:
        return None
    return Contact(email=value["email"], phone=value.get("phone"), name=_text(value.get("name")))
