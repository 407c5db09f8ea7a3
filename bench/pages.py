"""Benchmark: server time of the explanation page with 10,000 and 1,000,000 stored decisions;
and (``--workers``) page views and PDF downloads per second under gunicorn with 1 and 2 workers.

Not a test. For each database (SQLite file; PostgreSQL at ``--postgres`` if reachable) and
each size, it builds the schema with the migrations, stores the demo citizens' decisions
with real explanations (tests/factories_cases.py), bulk-inserts filler decisions of other
citizens (each with an explanation row) up to the size, then renders one demo citizen's
explanation page through the app (test client, logged in, audit event written per view)
and reports p50/p95. The anchor is the 10,000-decision run of the same database in the
same process; the ratio must stay near 1: the page reads by unique keys only.

    .venv/bin/python bench/pages.py [--sizes 10000 1000000] [--requests 300]
        [--postgres postgresql+psycopg://postgres@127.0.0.1/bench_pages] [--out bench/PAGES.md]

With ``--workers`` it measures instead, on PostgreSQL (``--postgres``), the demo citizens'
decisions only: ``gunicorn -w 1`` and ``-w 2`` (sync workers, ``--no-control-socket``) side
by side on the same database, measured in turns of 5 s, two logged-in clients (two
sessions, one thread each) asking for the explanation page and then the explanation PDF,
``--seconds`` per server and kind; it prints requests per second, the CPU cores the
workers got, and the 2-worker/1-worker ratio of each (the anchor is the 1-worker rate of
the same run). Each view writes its audit event, as in production.

    .venv/bin/python bench/pages.py --workers --postgres postgresql+psycopg://postgres@127.0.0.1/test_b
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

import http.client  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402

from settings_support import environment  # noqa: E402
from sqlalchemy import MetaData, Table, create_engine, text  # noqa: E402

from bench.servers import free_port, server_cpu_seconds, stop, wait_ready  # noqa: E402
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


def seeded(url: str) -> dict[str, Any]:
    """A fresh migrated database with the demo citizens' decisions (real explanations): the
    app, the seeded world and count, the first demo citizen's subject key, their newest
    decision's public id and its explanation payload encrypted."""
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
        subject_key = lookup_key(LOOKUP, demo_citizens()[0].cpr)
        target = (
            session.query(Decision)
            .filter(Decision.subject_key == subject_key)
            .order_by(Decision.decided_at.desc())
            .first()
        )
        return {
            "app": app,
            "world": world,
            "demo_count": session.query(Decision).count(),
            "subject_key": subject_key,
            "public_id": target.public_id,
            "payload": KeyRing.from_config(KEY).encrypt_json(target.explanation.payload),
        }


def login_token(app: Any, subject_key: str) -> str:
    """A stored session of the citizen: the value of the session cookie."""
    principal = Principal("citizen", subject_key, None, None, "citizen", None, "")
    return session_interface(app).create({"principal": principal_session_data(principal)})


def measure(url: str, size: int, requests: int) -> dict[str, Any]:
    seed = seeded(url)
    app, world, demo_count = seed["app"], seed["world"], seed["demo_count"]
    subject_key, public_id, payload_cipher = seed["subject_key"], seed["public_id"], seed["payload"]
    database = get_db(app)
    insert_seconds = bulk_insert(url, world, size - demo_count, payload_cipher)
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        total = conn.execute(text("SELECT count(*) FROM decision")).scalar_one()

    client = app.test_client()
    client.set_cookie(session_interface(app).cookie_name, login_token(app, subject_key))
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


# --- page views and PDFs per second with 1 and 2 gunicorn workers -----------------------------


def rate(
    proc: Any, port: int, path: str, cookies: list[str], seconds: float
) -> tuple[float, float]:
    """Successful answers per second of ``path``, one client thread per cookie, and the CPU
    cores gunicorn's workers used meanwhile (the machine is shared: with two workers that
    is at most 2, less when other processes take the cores)."""
    done = [0] * len(cookies)
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        while time.monotonic() < stop_at:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("GET", path, headers={"Cookie": cookies[i]})
                answer = conn.getresponse()
                answer.read()
                if answer.status == 200:
                    done[i] += 1
                else:
                    errors.append(str(answer.status))
            finally:
                conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(cookies))]
    cpu, started = server_cpu_seconds(proc), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{path}: {len(errors)} failed answers ({sorted(set(errors))})")
    wall = time.monotonic() - started
    return sum(done) / wall, (server_cpu_seconds(proc) - cpu) / wall


SLICE_SECONDS = 5.0


class Sampler:
    """Polls pg_stat_activity of the database every 20 ms while a slice runs: how often a
    backend waited for a lock, and how often one sat idle in a transaction (a request
    holding its transaction while it does something else, such as rendering). Unlike the
    rates, these do not depend on how much CPU the shared machine leaves the workers."""

    QUERY = text(
        "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),"
        " count(*) FILTER (WHERE state LIKE 'idle in transaction%%')"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.samples = self.waiting = self.idle = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.wait(0.02):
                waiting, idle = conn.execute(self.QUERY).one()
                self.samples += 1
                self.waiting += bool(waiting)
                self.idle += bool(idle)

    def shares(self) -> tuple[float, float]:
        n = max(self.samples, 1)
        return self.waiting / n, self.idle / n


def start(workers: int, env: dict[str, str], log_dir: Path) -> tuple[Any, int]:
    """``gunicorn -w N --no-control-socket wsgi:app`` (sync workers), ready."""
    port = free_port()
    log = log_dir / f"gunicorn-{workers}.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "-w", str(workers), "--no-control-socket"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_ready(port, "/healthz", proc, log)
    return proc, port


def workers_run(url: str, seconds: float, log_dir: Path) -> dict[str, dict[int, Any]]:
    """Page views and PDFs per second with 1 and 2 gunicorn workers on the same database.

    Both servers run side by side (an idle one costs nothing) and are measured in turns of
    ``SLICE_SECONDS``, so that a change in the load of the (shared) machine falls on both."""
    seed = seeded(url)
    app, public_id = seed["app"], seed["public_id"]
    name = session_interface(app).cookie_name
    cookies = [f"{name}={login_token(app, seed['subject_key'])}" for _ in range(2)]
    get_db(app).engine.dispose()
    env = environment(**overrides(url))
    paths = {"page": f"/mine-sager/{public_id}", "pdf": f"/mine-sager/{public_id}/pdf"}
    servers: dict[int, tuple[Any, int]] = {}
    rates: dict[str, dict[int, Any]] = {kind: {} for kind in paths}
    try:
        for workers in (1, 2):
            servers[workers] = start(workers, env, log_dir)
        for kind, path in paths.items():
            totals = {workers: [0.0, 0.0] for workers in servers}  # answers, cpu-seconds
            samplers = {workers: Sampler(url) for workers in servers}
            for proc, port in servers.values():
                rate(proc, port, path, cookies, 3.0)  # warm every worker
            for _ in range(max(1, round(seconds / SLICE_SECONDS))):
                for workers, (proc, port) in servers.items():
                    with samplers[workers]:
                        per_second, cores = rate(proc, port, path, cookies, SLICE_SECONDS)
                    totals[workers][0] += per_second * SLICE_SECONDS
                    totals[workers][1] += cores * SLICE_SECONDS
            spent = max(1, round(seconds / SLICE_SECONDS)) * SLICE_SECONDS
            for workers, (answers, cpu) in totals.items():
                waiting, idle = samplers[workers].shares()
                samplers[workers].engine.dispose()
                rates[kind][workers] = (answers / spent, cpu / spent, waiting, idle)
                print(
                    f"-w {workers} {kind:4}: {answers / spent:6.1f} /s, {cpu / spent:.2f} cores,"
                    f" lock wait {waiting:.0%}, idle in transaction {idle:.0%}",
                    flush=True,
                )
    finally:
        for proc, _port in servers.values():
            stop(proc)
    return rates


def workers_main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rates = workers_run(args.postgres, args.seconds, Path(tmp))
    at = dt.datetime.now(dt.UTC)
    print(
        "\n| run (UTC) | kind | -w 1 (/s) | -w 2 (/s) | ratio | cores -w 1 / -w 2 |"
        " lock wait -w 2 | idle in transaction -w 2 |\n|---|---|---:|---:|---:|---:|---:|---:|"
    )
    for kind, label in (("page", "explanation page"), ("pdf", "explanation PDF")):
        (one, cores_one, _, _), (two, cores_two, waiting, idle) = rates[kind][1], rates[kind][2]
        print(
            f"| {at:%Y-%m-%d %H:%M} | {label} | {one:.1f} | {two:.1f} | {two / one:.2f} |"
            f" {cores_one:.2f} / {cores_two:.2f} | {waiting:.0%} | {idle:.0%} |"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1/bench_pages")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "PAGES.md"))
    parser.add_argument("--workers", action="store_true", help="1 vs 2 gunicorn workers")
    parser.add_argument("--seconds", type=float, default=20.0, help="per kind and worker count")
    args = parser.parse_args()
    if args.workers:
        return workers_main(args)

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
