"""Supervision dashboards at /tilsyn: fairness, drift, override and review rates, and the
audit chain's status, read from aggregates the worker keeps up to date (never recomputed
on a page view). See docs/oversight.md."""
