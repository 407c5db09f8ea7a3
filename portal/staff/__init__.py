"""The caseworker's pages (built in parallel; only the unit scope lookup is here for now)."""
