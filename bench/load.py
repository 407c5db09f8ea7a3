"""The ingest bench's load generator: pre-signed requests, closed and open loops, results.

A pool of ``http.client`` connections in the bench's own process; every request is signed
before its phase starts (unique webhook-ids), so the client's own cost stays small.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
import time
from typing import Any

SYSTEM = "bench-sender"


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


class Requests:
    """Pre-signed requests, handed out once each (unique webhook-ids)."""

    def __init__(self, items: list[tuple[bytes, dict[str, str]]]) -> None:
        self.items = items
        self.next = 0
        self.lock = threading.Lock()

    def take(self) -> tuple[bytes, dict[str, str]] | None:
        with self.lock:
            if self.next >= len(self.items):
                return None
            item = self.items[self.next]
            self.next += 1
            return item


def presign(
    secret: str, bodies: list[dict[str, Any]], count: int, prefix: str, batch: int = 0
) -> Requests:
    now = int(time.time())
    items = []
    for n in range(count):
        if batch:
            payload: Any = {
                "items": [
                    {"id": f"{prefix}-{n}-{i}", **bodies[(n * batch + i) % len(bodies)]}
                    for i in range(batch)
                ]
            }
        else:
            payload = bodies[n % len(bodies)]
        body = json.dumps(payload).encode()
        webhook_id = f"{prefix}-{n}"
        items.append(
            (
                body,
                {
                    "Content-Type": "application/json",
                    "x-system": SYSTEM,
                    "webhook-id": webhook_id,
                    "webhook-timestamp": str(now),
                    "webhook-signature": sign(secret, webhook_id, now, body),
                },
            )
        )
    return Requests(items)


class Result:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.lock = threading.Lock()
        self.seconds = 0.0
        self.server_cpu_ms = float("nan")  # server CPU per answered request (``measured``)
        self.client_cpu_ms = float("nan")  # the load generator's own CPU per request

    def add(self, latency: float, status: int) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def rate(self, per_request: int = 1) -> float:
        ok = sum(n for s, n in self.statuses.items() if s < 300)
        return ok * per_request / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _send(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> int:
    conn.request("POST", path, body, headers)
    response = conn.getresponse()
    response.read()
    if response.will_close:  # gunicorn's sync workers close after each response
        conn.close()
    return response.status


def _send_timed(
    conn: http.client.HTTPConnection, path: str, item: Any, result: Result, since: float
) -> None:
    """Send one request and record its latency from ``since`` (or count an error)."""
    try:
        status = _send(conn, path, *item)
    except (OSError, http.client.HTTPException):
        conn.close()
        with result.lock:
            result.errors += 1
        return
    result.add(time.perf_counter() - since, status)


def _run_threads(threads: int, run: Any) -> None:
    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def closed_loop(port: int, path: str, reqs: Requests, threads: int, seconds: float) -> Result:
    """Each thread sends its next request as soon as the previous one is answered."""
    result = Result()
    stop_at = time.perf_counter() + seconds

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            item = reqs.take()
            if item is None:
                break
            _send_timed(conn, path, item, result, time.perf_counter())
        conn.close()

    started = time.perf_counter()
    _run_threads(threads, run)
    result.seconds = time.perf_counter() - started
    return result


def open_loop(
    port: int, path: str, reqs: Requests, threads: int, seconds: float, rate: float
) -> Result:
    """Request i is due at start + i/rate; its latency counts from then (no coordinated
    omission). Enough threads that a slow answer does not delay the schedule much."""
    result = Result()
    total = int(seconds * rate)
    counter = iter(range(total))
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            item = reqs.take()
            if item is None:
                break
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            _send_timed(conn, path, item, result, due)
        conn.close()

    _run_threads(threads, run)
    result.seconds = seconds
    return result
