"""Decisions pushed by decision-support systems, their explanations and the job outbox.

Shared by the API (which writes them), the citizen and caseworker pages (which read them)
and oversight (which aggregates them).
"""
