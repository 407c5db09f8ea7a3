"""Test data for the explainers tests: small models trained here, saved with skops.

A uniquely named module (not ``conftest``) so that ``from ... import`` cannot pick up
another directory's conftest.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainers import ModelBundle
from explainers.encoding import date_to_days

CATS = {
    "uddannelse": ["grundskole", "gymnasial", "erhvervsfaglig", "videregaaende"],
    "omraade": ["nord", "syd", "vest"],
}
NUMERIC = ["ledighed_uger", "alder", "timer_pr_uge", "kursus", "seneste_job"]


def _text(da: str) -> dict[str, str]:
    return {"da": da, "en": da}


def make_manifest(kind: str = "probability") -> dict[str, Any]:
    """A manifest in the shape of DESIGN.md for the synthetic unemployment data."""

    def feature(key: str, ftype: str, cons: str, **extra: Any) -> dict[str, Any]:
        return {
            "key": key,
            "type": ftype,
            "label": _text(f"Etiket {key}"),
            "source": _text("Det Fælles Datagrundlag"),
            "consideration": cons,
            "actionable": False,
            "sensitive": False,
            **extra,
        }

    return {
        "name": "ledighedsrisiko",
        "version": "2026.1",
        "title": _text("Risiko for langvarig ledighed"),
        "purpose": _text("Prioritering af indsats"),
        "responsible_unit": "Beskæftigelses- og Integrationsforvaltningen",
        "output": {"kind": kind, "positive_class": 1, "label": _text("Sandsynlighed")},
        "considerations": [
            {"key": "beskaeftigelse", "label": _text("Tilknytning til arbejdsmarkedet")},
            {"key": "kompetencer", "label": _text("Uddannelse og kompetencer")},
            {"key": "personlige", "label": _text("Personlige forhold")},
        ],
        "features": [
            feature("ledighed_uger", "number", "beskaeftigelse", min=0, max=520),
            feature(
                "uddannelse",
                "category",
                "kompetencer",
                actionable=True,
                categories=CATS["uddannelse"],
            ),
            feature("alder", "integer", "personlige", sensitive=True, min=18, max=70),
            feature("timer_pr_uge", "number", "beskaeftigelse", actionable=True, min=0, max=40),
            feature("kursus", "boolean", "kompetencer", actionable=True),
            feature(
                "omraade", "category", "personlige", sensitive=True, categories=CATS["omraade"]
            ),
            feature("seneste_job", "date", "beskaeftigelse"),
        ],
    }


def make_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """JSON rows as a sender would post them."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        year = int(rng.integers(2015, 2026))
        rows.append(
            {
                "ledighed_uger": float(np.round(rng.gamma(2.0, 20.0), 1).clip(0, 520)),
                "uddannelse": str(rng.choice(CATS["uddannelse"])),
                "alder": int(rng.integers(18, 71)),
                "timer_pr_uge": float(np.round(rng.uniform(0, 40), 1)),
                "kursus": bool(rng.random() < 0.4),
                "omraade": str(rng.choice(CATS["omraade"])),
                "seneste_job": f"{year}-{int(rng.integers(1, 13)):02d}-15",
            }
        )
    return rows


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Model input per the encoding contract (what a trainer would have used)."""
    frame = pd.DataFrame(rows)
    frame["kursus"] = frame["kursus"].astype(float)
    frame["seneste_job"] = [date_to_days(v) for v in frame["seneste_job"]]
    for col in ("ledighed_uger", "alder", "timer_pr_uge"):
        frame[col] = frame[col].astype(float)
    return frame[
        ["ledighed_uger", "uddannelse", "alder", "timer_pr_uge", "kursus", "omraade", "seneste_job"]
    ]


def labels(frame: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = (
        0.02 * frame["ledighed_uger"]
        - 0.05 * frame["timer_pr_uge"]
        + 0.6 * (frame["uddannelse"] == "grundskole")
        - 0.4 * frame["kursus"]
        + 0.02 * (frame["alder"] - 40)
        + 0.3 * (frame["omraade"] == "nord")
        - 0.3
    )
    return (rng.random(len(frame)) < 1 / (1 + np.exp(-z))).astype(int)


def background_csv(rows: list[dict[str, Any]]) -> bytes:
    frame = pd.DataFrame(rows)
    if "kursus" in frame:
        frame["kursus"] = frame["kursus"].map({True: "true", False: "false"})
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


def preprocessor(scale: bool = False) -> ColumnTransformer:
    numeric = ["ledighed_uger", "alder", "timer_pr_uge", "kursus", "seneste_job"]
    return ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(
                    categories=[CATS["uddannelse"], CATS["omraade"]],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
                ["uddannelse", "omraade"],
            ),
            ("num", StandardScaler() if scale else "passthrough", numeric),
        ]
    )


@dataclass
class Case:
    name: str
    model: Any
    artifact: bytes
    manifest: dict[str, Any]
    background: bytes | None

    def bundle(self) -> ModelBundle:
        return ModelBundle.from_bytes(self.artifact, self.manifest, self.background)


TRAIN_ROWS = make_rows(300, seed=0)
BACKGROUND_ROWS = make_rows(60, seed=2)


def _fit(
    name: str,
    estimator: Any,
    kind: str = "probability",
    scale: bool = False,
    background: bool = True,
) -> Case:
    frame = to_frame(TRAIN_ROWS)
    y = labels(frame)
    if kind == "score":
        y = (0.5 * frame["ledighed_uger"] - frame["timer_pr_uge"]).to_numpy()
    model = Pipeline([("pre", preprocessor(scale)), ("model", estimator)]).fit(frame, y)
    return Case(
        name,
        model,
        sio.dumps(model),
        make_manifest(kind),
        background_csv(BACKGROUND_ROWS) if background else None,
    )


def _build_cases() -> dict[str, Case]:
    import lightgbm as lgb
    import xgboost as xgb

    return {
        "hgb": _fit("hgb", HistGradientBoostingClassifier(max_iter=40, random_state=0)),
        "rf": _fit("rf", RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)),
        "xgb": _fit("xgb", xgb.XGBClassifier(n_estimators=40, max_depth=3, n_jobs=1)),
        "lgbm": _fit(
            "lgbm", lgb.LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1, n_jobs=1)
        ),
        "logit": _fit("logit", LogisticRegression(max_iter=1000), scale=True),
        "ridge": _fit("ridge", Ridge(alpha=1.0), kind="score", scale=True),
        "knn": _fit("knn", KNeighborsClassifier(n_neighbors=15), scale=True),
    }


def build_cases() -> dict[str, Case]:
    """All fitted model cases."""
    return _build_cases()


def row_strategy() -> st.SearchStrategy[dict[str, Any]]:
    """Hypothesis strategy for valid JSON rows of the test manifest."""
    return st.fixed_dictionaries(
        {
            "ledighed_uger": st.floats(0, 520, allow_nan=False),
            "uddannelse": st.sampled_from(CATS["uddannelse"]),
            "alder": st.integers(18, 70),
            "timer_pr_uge": st.floats(0, 40, allow_nan=False),
            "kursus": st.booleans(),
            "omraade": st.sampled_from(CATS["omraade"]),
            "seneste_job": st.dates().map(lambda d: d.isoformat()),
        }
    )
