"""The stored explanation layout is defined once: ``Explanation.to_payload`` / ``from_payload``
(versioned, JSON-safe), and payloads stored before version 2 still read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from explainers_testdata import make_rows

from explainers import ModelBundle, explain_rows
from explainers.result import PAYLOAD_VERSION, Explanation

#: A payload as version 1 stored it (``Explanation.to_dict()`` before probability Shapley
#: values): no version, shown values rescaled from log-odds, ranking only in the record.
V1: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "explanation_payload_v1.json").read_text("utf-8")
)


def test_version_1_payload_still_reads() -> None:
    r = Explanation.from_payload(V1)
    p = r.presentation
    assert p.method == "log-odds-rescaled"
    assert p.ranking == ("a", "b")
    assert p.direction == {"a": 1, "b": -1}
    assert p.values == {"a": 0.357, "b": -0.047362}
    assert p.estimate_error is None
    assert p.additivity_error == pytest.approx(0.0, abs=1e-6)
    assert r.flags[0].code == "out-of-distribution"
    assert r.declared_output == pytest.approx(0.710950, abs=1e-6)
    # read once, written in the current layout
    again = r.to_payload()
    assert again["version"] == PAYLOAD_VERSION == 2
    assert again["presentation"]["method"] == "log-odds-rescaled"


def test_a_newer_version_is_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        Explanation.from_payload({**V1, "version": PAYLOAD_VERSION + 1})


@pytest.mark.parametrize("name", ["hgb", "logit", "knn", "ridge"])
def test_payload_round_trips_and_is_plain_json(bundles: dict[str, ModelBundle], name: str) -> None:
    for r in explain_rows(bundles[name], make_rows(3, seed=4)):
        payload = r.to_payload()
        assert payload["version"] == PAYLOAD_VERSION
        text = json.dumps(payload, allow_nan=False)
        assert Explanation.from_payload(json.loads(text)) == r
        shown = payload["presentation"]
        assert set(shown) >= {"method", "ranking", "direction", "estimate_error"}
