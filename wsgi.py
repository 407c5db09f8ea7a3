"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``."""

import gc

from portal import create_app

app = create_app()

# Everything loaded so far (the app, its models and routes, every imported library) lives as
# long as the process: freeze it out of the cyclic collector, whose full collections would
# otherwise walk all of it again and again while requests allocate. A batch of 100 decisions
# cost 16 % less CPU with it (bench/INGEST.md, round 5). Gunicorn imports this module in each
# worker (no --preload), so each worker freezes its own heap; tests build apps with
# create_app() and are not affected.
gc.collect()
gc.freeze()
