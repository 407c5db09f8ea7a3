"""Running the explainer for claimed jobs: the models loaded once per process, the work read
from the database, and each group of rows (one kind, one model version) explained in one
vectorised call, or searched for counterfactuals. No transaction is held while computing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import Database
from portal.decisions.explanations import build_payload
from portal.decisions.models import Decision, Job
from portal.registry.models import ModelArtifact, ModelVersion

_BUNDLES: Any = None  # explainers.LRUCache, made on first use


def load_bundle(session: Session, model_version_id: int) -> Any:
    """The ``explainers.ModelBundle`` of a version, loaded once per process (LRU)."""
    global _BUNDLES
    from explainers import LRUCache, ModelBundle

    if _BUNDLES is None:
        _BUNDLES = LRUCache(maxsize=8)
    sha = session.scalar(
        select(ModelVersion.artifact_sha256).where(ModelVersion.id == model_version_id)
    )

    def build() -> Any:
        row = session.execute(
            select(ModelVersion.manifest, ModelArtifact.artifact, ModelArtifact.background)
            .join(ModelVersion.files)
            .where(ModelVersion.id == model_version_id)
        ).one()
        return ModelBundle.from_bytes(row.artifact, row.manifest, row.background)

    return _BUNDLES.get_or_build((model_version_id, sha), build)


@dataclass
class Work:
    """A claimed job and what computing it needs of its decision."""

    job_id: int
    kind: str
    attempt: int  # the job's attempts after this worker's claim: whose claim it is
    system_id: int
    decision_id: int
    public_id: str
    subject_key: str
    model_version_id: int
    features: dict[str, Any]
    reported_output: float


@dataclass
class Done:
    """A computed result: the payload to store, and the explainers record it came from."""

    work: Work
    payload: dict[str, Any]
    record: Any  # explainers.Explanation


def safe_reason(exc: BaseException) -> str:
    """An error text fit for storage and logs: explainers' own errors carry codes and paths
    only; anything else is reduced to its type (its text might hold feature values)."""
    from explainers import ExplainerError

    if isinstance(exc, ExplainerError):
        return f"{exc.code}: {exc}"[:1000]
    return type(exc).__name__


def explain_group(bundle: Any, works: list[Work], *, counterfactuals: bool) -> list[Done]:
    """Explain the rows of one model version in one call; ``counterfactuals``: a search
    follows as its own job (the stored status is ``pending``, else ``off``)."""
    from explainers import explain_rows

    rows = [w.features for w in works]
    results = explain_rows(bundle, rows, reported_outputs=[w.reported_output for w in works])
    members = {f.key: f.consideration for f in bundle.manifest.features}
    status = "pending" if counterfactuals else "off"
    return [
        Done(work, build_payload(result.to_dict(), None, members, status), result)
        for work, result in zip(works, results, strict=True)
    ]


def counterfactual_group(bundle: Any, works: list[Work]) -> list[Done]:
    """Search "what could have changed the result" for each row (many model evaluations)."""
    from explainers import counterfactual

    return [
        Done(work, {"counterfactual": counterfactual(bundle, work.features).to_dict()}, None)
        for work in works
    ]


def load_work(db: Database, job_ids: Sequence[int]) -> list[Work]:
    """The claimed jobs with their decisions' features, in job id order."""
    with db.transaction() as session:
        rows = session.execute(
            select(
                Job.id,
                Job.kind,
                Job.attempts,
                Decision.system_id,
                Decision.id,
                Decision.public_id,
                Decision.subject_key,
                Decision.model_version_id,
                Decision.features,  # the only encrypted column needed
                Decision.reported_output,
            )
            .join(Decision, Decision.id == Job.decision_id)
            .where(Job.id.in_(job_ids))
            .order_by(Job.id)
        ).all()
        return [Work(*row) for row in rows]  # (the columns in Work's order)
