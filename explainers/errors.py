"""Typed errors raised by the explainers package.

Every error carries machine-readable data (codes, paths, type names); the portal maps them to
HTTP answers and translated texts.
"""

from __future__ import annotations

from collections.abc import Sequence

from explainers.problem import Problem


class ExplainerError(Exception):
    """Base class of every error raised on purpose by ``explainers``."""

    code: str = "explainer-error"


class InvalidArtifactError(ExplainerError):
    """The artifact is not a readable ``.skops`` file (not a zip, truncated, raw pickle...)."""

    code = "invalid-artifact"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class UnsafeArtifactError(ExplainerError):
    """The artifact contains types outside the fixed allowlist; nothing was executed."""

    code = "unsafe-artifact"

    def __init__(self, refused_types: Sequence[str]) -> None:
        self.refused_types: tuple[str, ...] = tuple(sorted(set(refused_types)))
        super().__init__("refused types: " + ", ".join(self.refused_types))


class ManifestError(ExplainerError):
    """The manifest (or the bundle built from it) has one or more problems."""

    code = "invalid-manifest"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(f"{p.path}: {p.code}" for p in self.problems))


class RowError(ExplainerError):
    """A feature row does not match the manifest (missing key, wrong type, ...)."""

    code = "invalid-row"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(f"{p.path}: {p.code}" for p in self.problems))


class UnsupportedModelError(ExplainerError):
    """The model (or one of its preprocessing steps) cannot be explained by this package."""

    code = "unsupported-model"


class AdditivityError(ExplainerError):
    """An exact explainer broke ``|base + sum(values) - output| <= tolerance``."""

    code = "additivity-error"

    def __init__(self, error: float, tolerance: float) -> None:
        super().__init__(f"additivity error {error:.3g} exceeds tolerance {tolerance:.3g}")
        self.error = error
        self.tolerance = tolerance
