"""Benchmark: the /tilsyn fairness and drift dashboards with 10,000 and 1,000,000 stored
decisions, side by side.

Not a test. For each size it builds a fresh SQLite database with the migrations, stores
the demo citizens' decisions (tests/factories_cases.py: both demo models, with their
backgrounds), bulk-inserts decisions of the unemployment model up to the size with fast
Core inserts (``executemany`` in chunks; 512 distinct feature sets encrypted once and
reused, a third of them with a drifted value, the model output depending on a sensitive
feature, a share of overrides), runs the worker's aggregation job over all of them
(``aggregate_all``, timed: that is the worker's cost, paid once per decision); once every
size is built, it asks for the fairness, drift and overview pages of each through the app
(test client, logged-in auditor) and reports p50/p95 per page (``--reuse`` measures
databases an earlier run built, without building them again). The anchor is the
10,000-decision run in the same process; the pages read stored reports, so the ratio should
stay near 1.

    .venv/bin/python bench/dashboards.py [--sizes 10000 1000000] [--requests 200]
        [--out bench/DASHBOARDS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
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

# The pages benchmark's keys and settings: both measure pages of the same app.
from bench.pages import KEY, LOOKUP, overrides  # noqa: E402
from portal import create_app  # noqa: E402
from portal.auth.principal import Principal, principal_session_data  # noqa: E402
from portal.auth.sessions import session_interface  # noqa: E402
from portal.crypto import KeyRing, install_key_ring  # noqa: E402
from portal.db_session import get_db  # noqa: E402
from portal.migrate import upgrade  # noqa: E402

CHUNK = 20_000
VARIANTS = 512
MODEL = "ledighedsrisiko"


def variants(manifest: dict[str, Any]) -> list[tuple[bytes, float]]:
    """Encrypted feature sets (a third drifted: many more weeks unemployed) and outputs
    (higher for one district: a biased model, as the dashboard should show)."""
    rng = random.Random(7)
    ring = KeyRing.from_config(KEY)
    out = []
    for i in range(VARIANTS):
        values: dict[str, Any] = {}
        for spec in manifest["features"]:
            kind = spec["type"]
            if kind == "category":
                values[spec["key"]] = rng.choice(spec["categories"])
            elif kind == "boolean":
                values[spec["key"]] = rng.random() < 0.5
            else:
                low, high = spec.get("min", 0), spec.get("max", 100)
                value = rng.uniform(low, min(high, low + (high - low) / 4))
                values[spec["key"]] = round(value) if kind == "integer" else round(value, 1)
        if i % 3 == 0:
            values["ledighed_uger"] = 400.0
        output = 0.75 if values.get("bydel") == "noerrebro" else 0.35
        out.append((ring.encrypt_json(values), output + rng.uniform(-0.2, 0.2)))
    return out


def bulk_insert(url: str, world: Any, total: int) -> float:
    started = time.perf_counter()
    engine = create_engine(url)
    decision = Table("decision", MetaData(), autoload_with=engine)
    version = world.versions[MODEL]
    sets = variants(version.manifest)
    ring = KeyRing.from_config(KEY)
    cipher = {
        "cpr": ring.encrypt_json("0101010000"),
        "sources": ring.encrypt_json({}),
        "outcome": ring.encrypt_json({"da": "Afgjort."}),
    }
    # naive: SQLite stores UTC without an offset
    base = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).replace(tzinfo=None)
    done = 0
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.commit()
        while done < total:
            n = min(CHUNK, total - done)
            rows = []
            for i in range(done, done + n):
                features, output = sets[i % VARIANTS]
                at = base + dt.timedelta(seconds=i * 20)
                rows.append(
                    {
                        "public_id": secrets.token_urlsafe(16),
                        "system_id": world.system.id,
                        "model_version_id": version.id,
                        "delivery_key": f"bench-{i}",
                        "case_reference": f"2026-{i:07d}",
                        "case_title": {"da": "Tilbud om jobrettet indsats"},
                        "subject_key": secrets.token_hex(32),
                        "subject_cpr": cipher["cpr"],
                        "features": features,
                        "data_sources": cipher["sources"],
                        "reported_output": output,
                        "output_mismatch": False,
                        "outcome": cipher["outcome"],
                        "decided_by": f"Jobcenter København, Team {('Nord', 'Syd', 'Vest')[i % 3]}",
                        "human_decided": True,
                        "followed_model": i % 11 != 0,
                        "decided_at": at,
                        "received_at": at,
                        "status": "ready",
                    }
                )
            with conn.begin():
                conn.execute(decision.insert(), rows)
            done += n
    engine.dispose()
    return time.perf_counter() - started


def build(size: int) -> tuple[str, dict[str, Any]]:
    """A fresh database of ``size`` decisions, aggregated by the worker's job; its URL and
    the timings."""
    from factories_cases import seed_demo_citizens

    from portal.supervision.aggregates import aggregate_all
    from portal.supervision.model_context import _CONTEXTS

    folder = tempfile.mkdtemp(prefix="bench-dashboards-")
    url = f"sqlite:///{folder}/portal.db"
    app = create_app(overrides(url))
    database = get_db(app)
    with database.engine.begin() as conn:
        upgrade(conn)
    install_key_ring(KeyRing.from_config(KEY))
    with database.transaction() as session:
        world = seed_demo_citizens(session, lookup_secret=LOOKUP)
        demo = session.execute(text("SELECT count(*) FROM decision")).scalar_one()
    insert_seconds = bulk_insert(url, world, size - demo)
    _CONTEXTS.clear()
    started = time.perf_counter()
    counted = aggregate_all(database, min_group_size=30, settle_seconds=0)
    aggregate_seconds = time.perf_counter() - started
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    database.engine.dispose()
    return url, {
        "counted": counted,
        "insert_seconds": insert_seconds,
        "aggregate_seconds": aggregate_seconds,
    }


def measure_pages(url: str, requests: int) -> dict[str, Any]:
    """p50 and p95 of the fairness, drift and overview pages, as a logged-in auditor."""
    app = create_app(overrides(url))
    database = get_db(app)
    with database.engine.begin() as conn:
        total = conn.execute(text("SELECT count(*) FROM decision")).scalar_one()
        name, version = conn.execute(
            text("SELECT name, version FROM model_version WHERE name = :n"), {"n": MODEL}
        ).one()
    principal = Principal("staff", None, None, 1, "auditor", "", "Bench")
    token = session_interface(app).create({"principal": principal_session_data(principal)})
    client = app.test_client()
    client.set_cookie(session_interface(app).cookie_name, token)
    pages = {
        "fairness": f"/tilsyn/{name}/{version}/retfaerdighed",
        "drift": f"/tilsyn/{name}/{version}/drift",
        "overview": "/tilsyn",
    }
    result: dict[str, Any] = {"decisions": total}
    for label, path in pages.items():
        for _ in range(20):  # warm caches, templates, translations
            assert client.get(path).status_code == 200
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 200
        times.sort()
        result[label] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    database.engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--reuse",
        nargs="+",
        metavar="SQLITE_URL",
        help="measure the pages of databases an earlier run built (its printed URLs), "
        'instead of building them again (one per size, in order; "" builds that one)',
    )
    args = parser.parse_args()
    built = []
    for i, size in enumerate(args.sizes):
        if args.reuse and i < len(args.reuse) and args.reuse[i]:
            built.append(
                (args.reuse[i], {"counted": 0, "insert_seconds": 0.0, "aggregate_seconds": 0.0})
            )
        else:
            built.append(build(size))
            print(f"built {size:,}: {built[-1][0]} {built[-1][1]}", flush=True)
    # the pages of every size measured one after the other, after all building is done
    results = [{**timings, **measure_pages(url, args.requests)} for url, timings in built]
    anchor = results[0]
    lines = [
        "| decisions | insert s | aggregation s (decisions/s) | fairness p50 / p95 ms | "
        "drift p50 / p95 ms | overview p50 / p95 ms | fairness p95 / anchor | drift p95 / anchor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = r["counted"] / r["aggregate_seconds"] if r["aggregate_seconds"] else 0
        built_here = f"{r['aggregate_seconds']:.1f} ({rate:,.0f})" if rate else "reused"
        lines.append(
            f"| {r['decisions']:,} | {r['insert_seconds']:.1f} | {built_here} | "
            f"{r['fairness'][0]:.1f} / {r['fairness'][1]:.1f} | "
            f"{r['drift'][0]:.1f} / {r['drift'][1]:.1f} | "
            f"{r['overview'][0]:.1f} / {r['overview'][1]:.1f} | "
            f"{r['fairness'][1] / anchor['fairness'][1]:.2f} | "
            f"{r['drift'][1] / anchor['drift'][1]:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(args.out.read_text() + "\n" + table + "\n")


if __name__ == "__main__":
    main()
