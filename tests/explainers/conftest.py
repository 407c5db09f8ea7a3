"""Fixtures for the explainers tests (data and models live in ``explainers_testdata``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from explainers_testdata import Case, build_cases, make_manifest

from explainers import ModelBundle


@pytest.fixture(scope="module", autouse=True)
def _single_threaded_openmp() -> Iterator[None]:
    """One OpenMP thread while these tests run: the models are tiny, and on a loaded 2-core
    machine OpenMP's spin-waiting made HistGradientBoosting calls up to 10x slower. Module
    scope, so the limit is lifted before other directories' tests run."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="session")
def cases() -> dict[str, Case]:
    """All fitted model cases, built once per session."""
    return build_cases()


@pytest.fixture(scope="session")
def bundles(cases: dict[str, Case]) -> dict[str, ModelBundle]:
    return {name: case.bundle() for name, case in cases.items()}


@pytest.fixture
def manifest() -> dict[str, Any]:
    return make_manifest()


@pytest.fixture
def mutate() -> Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], dict[str, Any]]:
    def apply(base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        out = copy.deepcopy(base)
        change(out)
        return out

    return apply
