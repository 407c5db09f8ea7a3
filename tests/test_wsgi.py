"""The WSGI entry point: it builds the app and freezes the loaded heap out of the collector."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from settings_support import environment

ROOT = Path(__file__).resolve().parent.parent


def test_importing_wsgi_builds_the_app_and_freezes_what_it_loaded(
    tmp_path: Path, app_overrides: dict[str, Any]
) -> None:
    # In a child process: freezing the test process's own heap would keep every later
    # test's garbage-free objects alive for the rest of the run.
    env = environment(**{**app_overrides, "database_url": f"sqlite:///{tmp_path / 'p.db'}"})
    script = (
        "import gc, flask\n"
        "before = gc.get_freeze_count()\n"
        "import wsgi\n"
        "assert isinstance(wsgi.app, flask.Flask)\n"
        "print(before, gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = map(int, out.stdout.split())
    assert before == 0
    assert after > 10_000  # the app and its libraries, not a handful of objects
