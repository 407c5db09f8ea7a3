"""The register's figures cache starts empty in every test (ids repeat after rollbacks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.registry.services import FIGURES


@pytest.fixture(autouse=True)
def _empty_figures_cache() -> Iterator[None]:
    FIGURES.clear()
    yield
    FIGURES.clear()
