"""Benchmark: server time of the explanation page with 10,000 and 1,000,000 stored decisions.

Not a test. For each database (SQLite file; PostgreSQL at ``--postgres`` if reachable) and
each size, it builds the schema with the migrations, stores the demo citizens' decisions
with real explanations (tests/factories_cases.py), bulk-inserts filler decisions of other
citizens (each with an explanation row) up to the size, then renders one demo citizen's
explanation page through the app (test client, logged in, audit event written per view)
and reports p50/p95. The anchor is the 10,000-decision run of the same database in the
same process; the ratio must stay near 1: the page reads by unique keys only.

    .venv/bin/python bench/pages.py [--sizes 10000 1000000] [--requests 300]
        [--postgres postgresql+psycopg://postgres@127.0.0.1/bench_pages] [--out bench/PAGES.md]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sqlalchemy import MetaData, Table, create_engine, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.auth.principal import Principal, principal_session_data  # noqa: E402
from portal.auth.sessions import session_interface  # noqa: E402
from portal.crypto import KeyRing, install_key_ring  # noqa: E402
from portal.db_session import get_db  # noqa: E402
from portal.migrate import upgrade  # noqa: E402

KEY = base64.urlsafe_b64encode(b"b" * 32).decode()
LOOKUP = "bench-lookup-key-0123456789abcdefghijklmnop"
CHUNK = 20_000


def overrides(url: str) -> dict[str, Any]:
    return {
        "env": "test",
        "demo": True,
        "database_url": url,
        "encryption_key": KEY,
        "lookup_key": LOOKUP,
        "secret_key": "bench-secret-key-0123456789abcdefghijkl",
        "worker": "off",
    }


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def filler_rows(world: Any, n: int, start: int) -> list[dict[str, Any]]:
    """``n`` decisions of other citizens; encrypted values are encrypted once and reused
    (the page never decrypts other citizens' rows, and AES of 1M rows would only time
    the setup)."""
    ring = KeyRing.from_config(KEY)
    cipher = {
        "cpr": ring.encrypt_json("0101010000"),
        "features": ring.encrypt_json({"ledighed_uger": 12}),
        "sources": ring.encrypt_json({}),
        "outcome": ring.encrypt_json({"da": "Afgjort."}),
    }
    version_id = next(iter(world.versions.values())).id
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "public_id": secrets.token_urlsafe(16),
                "system_id": world.system.id,
                "model_version_id": version_id,
                "delivery_key": f"bench-{i}",
                "case_reference": f"2025-{i:07d}",
                "case_title": {"da": "Tilbud om jobrettet indsats"},
                "subject_key": secrets.token_hex(32),
                "subject_cpr": cipher["cpr"],
                "features": cipher["features"],
                "data_sources": cipher["sources"],
                "reported_output": 0.4,
                "recomputed_output": 0.4,
                "output_mismatch": False,
                "outcome": cipher["outcome"],
                "decided_by": "Jobcenter København, Team Syd",
                "human_decided": True,
                "followed_model": True,
                "decided_at": base + dt.timedelta(minutes=i),
                "received_at": base + dt.timedelta(minutes=i),
                "status": "ready",
            }
        )
    return rows


def bulk_insert(url: str, world: Any, total: int, explanation_payload: bytes) -> float:
    """Filler decisions plus one explanation row each, in chunks (executemany)."""
    started = time.perf_counter()
    engine = create_engine(url)
    meta = MetaData()
    decision = Table("decision", meta, autoload_with=engine)
    explanation = Table("explanation", meta, autoload_with=engine)
    sqlite = url.startswith("sqlite")
    done = 0
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.commit()
        while done < total:
            n = min(CHUNK, total - done)
            rows = filler_rows(world, n, done)
            if sqlite:
                for row in rows:
                    for key in ("decided_at", "received_at"):
                        row[key] = row[key].replace(tzinfo=None)
            with conn.begin():
                conn.execute(decision.insert(), rows)
                ids = conn.execute(
                    decision.select()
                    .with_only_columns(decision.c.id)
                    .where(decision.c.delivery_key.in_([r["delivery_key"] for r in rows]))
                ).scalars()
                conn.execute(
                    explanation.insert(),
                    [
                        {
                            "decision_id": i,
                            "payload": explanation_payload,
                            "flags": [],
                            "explainer_kind": "tree",
                            "scale": "log-odds",
                            "shap_version": "0",
                            "artifact_sha256": "0" * 64,
                            "seed": 0,
                            "additivity_error": 0.0,
                            "computation_seconds": 0.0,
                            "created_at": rows[0]["received_at"],
                        }
                        for i in ids
                    ],
                )
            done += n
    engine.dispose()
    return time.perf_counter() - started


def measure(url: str, size: int, requests: int) -> dict[str, Any]:
    from factories_cases import demo_citizens, seed_demo_citizens

    from portal.crypto import lookup_key
    from portal.decisions.models import Decision

    reset(url)
    app = create_app(overrides(url))
    database = get_db(app)
    with database.engine.begin() as conn:
        upgrade(conn)
    install_key_ring(KeyRing.from_config(KEY))
    with database.transaction() as session:
        world = seed_demo_citizens(session, lookup_secret=LOOKUP)
        demo_count = session.query(Decision).count()
        anne = demo_citizens()[0]
        subject_key = lookup_key(LOOKUP, anne.cpr)
        target = (
            session.query(Decision)
            .filter(Decision.subject_key == subject_key)
            .order_by(Decision.decided_at.desc())
            .first()
        )
        public_id = target.public_id
        payload_cipher = KeyRing.from_config(KEY).encrypt_json(target.explanation.payload)
    insert_seconds = bulk_insert(url, world, size - demo_count, payload_cipher)
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        total = conn.execute(text("SELECT count(*) FROM decision")).scalar_one()

    client = app.test_client()
    interface = session_interface(app)
    principal = Principal("citizen", subject_key, None, None, "citizen", None, "")
    client.set_cookie(
        interface.cookie_name, interface.create({"principal": principal_session_data(principal)})
    )
    for _ in range(20):  # warm caches, templates, translations
        assert client.get(f"/mine-sager/{public_id}").status_code == 200
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(f"/mine-sager/{public_id}")
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    times.sort()
    database.engine.dispose()
    return {
        "decisions": total,
        "insert_seconds": insert_seconds,
        "p50": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1/bench_pages")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "PAGES.md"))
    args = parser.parse_args()

    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", lambda size: f"sqlite:///{tmp}/bench-{size}.db"))
        if not args.skip_postgres:
            targets.append(("PostgreSQL", lambda size: args.postgres))
        results: list[tuple[str, dict[str, Any]]] = []
        for name, url_for in targets:
            for size in args.sizes:
                result = measure(url_for(size), size, args.requests)
                results.append((name, result))
                print(
                    f"{name:10} {result['decisions']:>9,} decisions  p50 {result['p50']:6.2f} ms"
                    f"  p95 {result['p95']:6.2f} ms  (insert {result['insert_seconds']:.0f} s)",
                    flush=True,
                )
    lines = [
        "# Explanation page: server time against the number of stored decisions",
        "",
        f"`bench/pages.py`, {args.requests} requests per run after 20 warm-up requests, "
        "test client in-process (no network), one citizen logged in, one audit event "
        f"written per view. Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| database | decisions | p50 (ms) | p95 (ms) | p50 ratio to smallest | bulk insert (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    anchors: dict[str, float] = {}
    for name, r in results:
        anchors.setdefault(name, r["p50"])
        lines.append(
            f"| {name} | {r['decisions']:,} | {r['p50']:.2f} | {r['p95']:.2f} | "
            f"{r['p50'] / anchors[name]:.2f} | {r['insert_seconds']:.0f} |"
        )
    lines += [
        "",
        "The page reads by unique or indexed keys only (decision by `public_id`, its "
        "explanation by `decision_id`, the model version by primary key, requests by "
        "`decision_id`, the last audit hash by primary key), never recomputes an "
        "explanation and never imports shap (tests/cases/test_request_path.py), so the "
        "ratio stays near 1.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps([{"db": n, **r} for n, r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
