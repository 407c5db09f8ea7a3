"""Demo data for Forklaringsportalen, generated in code.

Pure data: this package imports neither Flask nor SQLAlchemy (of ``portal`` only the
framework-free ``portal.decisions.cpr``, the one CPR century rule), so the seed command (and
tests) can build on it freely. The demo manifests are JSON files in ``manifests/``.

* :func:`build_demo_models` trains the two demo models and returns their manifests,
  ``.skops`` artifacts and background CSVs.
* :func:`demo_citizens` lists the fictional citizens of the demo login.
* :func:`demo_decisions` builds decision webhook bodies for them and for other
  fictional citizens.
* :func:`feature_frame` turns JSON feature rows into the DataFrame the demo
  pipelines take.
"""

from importlib import import_module
from typing import Any

# Imported on first use: the seed command is registered by every app, and the web
# process should not pay for pandas and scikit-learn unless it seeds or shows demo logins.
_EXPORTS = {
    "BYGGESAG": "portal.demo.manifests",
    "LEDIGHED": "portal.demo.manifests",
    "MODEL_VERSION": "portal.demo.manifests",
    "feature_frame": "portal.demo.manifests",
    "DemoCase": "portal.demo.catalog",
    "DemoCitizen": "portal.demo.catalog",
    "cpr_birth_date": "portal.demo.catalog",
    "demo_citizens": "portal.demo.catalog",
    "demo_decisions": "portal.demo.catalog",
    "DemoModel": "portal.demo.training",
    "build_demo_models": "portal.demo.training",
    "positive_probability": "portal.demo.training",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'portal.demo' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
