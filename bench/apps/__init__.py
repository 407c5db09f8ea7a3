"""The ingest bench's anchor and bound apps (``bench/ingest.py`` runs each under gunicorn).

``bare``: the anchor, no portal code at all; ``floor``: signed and durable, nothing else;
``minimum``: the ack work the design requires, with the portal's own code and nothing more.
"""
