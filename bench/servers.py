"""The ingest bench's servers: gunicorn processes on 127.0.0.1 and the CPU time they use."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.load import Result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(
    module: str, port: int, env: dict[str, str], cwd: Path, log: Path, worker_threads: int = 1
) -> Any:
    """``gunicorn -w 2``: sync workers, or gthread workers with ``worker_threads`` threads
    (keep-alive off, so both kinds close the connection after each answer)."""
    threads = ["--threads", str(worker_threads), "--keep-alive", "0"] if worker_threads > 1 else []
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(gunicorn),
                "--no-control-socket",
                "-w",
                "2",
                *threads,
                "-b",
                f"127.0.0.1:{port}",
                module,
            ],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc


def wait_ready(port: int, path: str, proc: Any, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn on {port} not ready:\n{log.read_text()[-3000:]}")


def stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def server_cpu_seconds(proc: Any) -> float:
    """CPU time (user + system) used so far by gunicorn's workers, from /proc (Linux)."""
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def measured(proc: Any, run: Any) -> Result:
    """Run a load phase and record the server's CPU time per answered request."""
    before, client_before = server_cpu_seconds(proc), os.times()
    result: Result = run()
    client_after = os.times()
    answered = max(sum(result.statuses.values()), 1)
    result.server_cpu_ms = (server_cpu_seconds(proc) - before) * 1000 / answered
    client = (client_after.user + client_after.system) - (client_before.user + client_before.system)
    result.client_cpu_ms = client * 1000 / answered
    return result
