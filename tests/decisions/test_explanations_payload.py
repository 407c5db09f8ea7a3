"""``portal.decisions.explanations`` only wraps the explainers' stored layout."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from explainers.result import Explanation as Result
from portal.decisions.explanations import StoredExplanation, build_payload

V1_WRAPPER = {
    "version": 1,
    "explanation": json.loads(
        (Path(__file__).parents[1] / "data" / "explanation_payload_v1.json").read_text("utf-8")
    ),
    "counterfactual": {
        "status": "found",
        "changes": [{"feature": "a", "old": 3, "new": 1}],
        "original_output": 0.71095,
        "new_output": 0.4961234567,
        "threshold": 0.5,
        "cost": 0.1,
        "evaluations": 40,
        "seed": 0,
    },
    "counterfactual_status": "done",
    "flags": [],
    "feature_considerations": {"a": "c", "b": "c"},
}


def test_an_old_stored_payload_reads_with_the_same_attributes() -> None:
    stored = StoredExplanation.from_payload(V1_WRAPPER)
    assert stored.scale == "probability"
    assert stored.base_value == 0.401312
    assert stored.output == 0.710950
    assert [c.key for c in stored.contributions] == ["a", "b"]
    assert stored.contribution("a").value == 0.357
    assert stored.contribution("a").direction == 1
    assert stored.contribution("a").consideration == "c"
    assert stored.contribution("a").estimate_error is None
    assert stored.considerations[0].key == "c"
    assert stored.ranking == ("a", "b")
    assert stored.method == "log-odds-rescaled"
    assert stored.estimate_error is None
    assert stored.max_estimate_error is None
    assert stored.counterfactual is not None
    assert stored.counterfactual.found
    assert stored.counterfactual.new_output == 0.4961234567
    assert stored.counterfactual_status == "done"
    assert stored.reproducibility.record_scale == "log-odds"
    assert stored.reproducibility.method == "log-odds-rescaled"
    api = stored.to_api()
    json.dumps(api, allow_nan=False)
    assert api["reproducibility"]["method"] == "log-odds-rescaled"


def test_build_payload_stores_the_explainers_current_layout() -> None:
    old = Result.from_payload(V1_WRAPPER["explanation"])
    payload = build_payload(old.to_dict(), None, {"a": "c", "b": "c"}, "pending")
    assert payload["version"] == 2
    assert payload["explanation"]["version"] == 2
    assert payload["explanation"] == old.to_payload()
    assert build_payload(old, None, {"a": "c", "b": "c"}, "pending") == payload
    stored = StoredExplanation.from_payload(copy.deepcopy(payload))
    assert stored.result == old
    assert stored.counterfactual_status == "pending"


def test_permutation_estimate_errors_reach_the_read_model() -> None:
    record = copy.deepcopy(V1_WRAPPER["explanation"])
    record["version"] = 2
    record["presentation"].update(
        method="permutation-estimate",
        ranking=["a", "b"],
        direction={"a": 1, "b": -1},
        estimate_error={"a": 0.002, "b": 0.004},
        additivity_error=1e-15,
        evaluations=5000,
        background_rows=200,
    )
    stored = StoredExplanation.from_payload({**V1_WRAPPER, "version": 2, "explanation": record})
    assert stored.method == "permutation-estimate"
    assert stored.max_estimate_error == pytest.approx(0.004)
    assert stored.contribution("b").estimate_error == pytest.approx(0.004)
    assert stored.reproducibility.evaluations == 5000
    assert stored.background_rows == 200
    assert StoredExplanation.from_payload(V1_WRAPPER).background_rows == 0


def test_a_counterfactual_not_for_this_outcome_is_said_so() -> None:
    cf = {**V1_WRAPPER["counterfactual"], "status": "not-for-this-outcome", "changes": []}
    cf["new_output"] = None
    stored = StoredExplanation.from_payload({**V1_WRAPPER, "counterfactual": cf})
    assert stored.counterfactual is not None
    assert not stored.counterfactual.for_this_outcome
    assert not stored.counterfactual.found
    assert StoredExplanation.from_payload(V1_WRAPPER).counterfactual.for_this_outcome
