"""Demo data for Forklaringsportalen, generated in code.

Pure data: this package imports neither Flask, SQLAlchemy nor anything else in
``portal``, so the seed command (and tests) can build on it freely.

* :func:`build_demo_models` trains the two demo models and returns their manifests,
  ``.skops`` artifacts and background CSVs.
* :func:`demo_citizens` lists the fictional citizens of the demo login.
* :func:`demo_decisions` builds decision webhook bodies for them and for other
  fictional citizens.
* :func:`feature_frame` turns JSON feature rows into the DataFrame the demo
  pipelines take.
"""

from portal.demo.catalog import (
    DemoCase,
    DemoCitizen,
    cpr_birth_date,
    demo_citizens,
    demo_decisions,
)
from portal.demo.manifests import BYGGESAG, LEDIGHED, MODEL_VERSION, feature_frame
from portal.demo.training import DemoModel, build_demo_models, positive_probability

__all__ = [
    "BYGGESAG",
    "LEDIGHED",
    "MODEL_VERSION",
    "DemoCase",
    "DemoCitizen",
    "DemoModel",
    "build_demo_models",
    "cpr_birth_date",
    "demo_citizens",
    "demo_decisions",
    "feature_frame",
    "positive_probability",
]
