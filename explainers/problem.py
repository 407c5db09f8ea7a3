"""One problem found in an input: shared by the manifest checks and the errors that carry them.

Its own module so that ``explainers.errors`` and ``explainers.manifest`` need not import
each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One problem found in a manifest, artifact, background or row.

    ``path`` points into the input (``features[3].categories``), ``code`` is a stable kebab-case
    identifier, ``detail`` carries JSON-safe data, ``message`` is a short English text for
    developers of machine clients (never shown to citizens).
    """

    path: str
    code: str
    message: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as the API returns it."""
        return {
            "path": self.path,
            "code": self.code,
            "message": self.message,
            "detail": dict(self.detail),
        }
