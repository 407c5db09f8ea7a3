"""Caseworker pages: find a case in the unit, read it with a purpose, record oversight,
answer the citizen's requests; and the administrator's overview."""
