"""Benchmark: letter attachments (bilag) per second per core, and verification by upload.

Not a test. One process, one thread (so "per core"), a SQLite file seeded with the demo
citizens' decisions (tests/factories_cases.py), a caseworker of the first case's unit logged
in through the real session store:

1. **Attachments.** ``GET /sagsbehandler/sager/<id>/bilag.pdf`` through the app (the whole
   request: scope check, reads, HTML, PDF/A-3a with the embedded JSON and QR code, the row
   and its audit event committed). The anchor, measured in the same run and interleaved
   with it: WeasyPrint rendering a plain HTML page of the same length (the attachment's own
   text, from pdftotext, in ``<p>`` elements; default fonts, no tags, no variant). Printed:
   attachments per second per core (wall and CPU) and the ratio of median times
   attachment / plain page (target at most 1.3).
2. **Verification by upload.** ``POST /bekraeft`` with a 200 kB PDF (a generated
   attachment padded with a comment after ``%%EOF``), p50/p95 server time for a genuine file
   (its sha256 is stored: found by the index, the PDF is not read) and for the same file
   with one byte changed (the PDF is opened to read its code: the slow path). Target: p95
   under 50 ms.

    .venv/bin/python bench/attachments.py [--rounds 20] [--uploads 200] [--out bench/ATTACHMENTS.md]
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from factories_cases import seed_database_file  # noqa: E402
from sqlalchemy import select, update  # noqa: E402

from bench.pages import overrides  # noqa: E402
from portal import create_app  # noqa: E402
from portal.auth.models import StaffPrincipal  # noqa: E402
from portal.auth.principal import principal_session_data  # noqa: E402
from portal.auth.services import staff_principal  # noqa: E402
from portal.auth.sessions import session_interface  # noqa: E402
from portal.db_session import get_db  # noqa: E402
from portal.decisions.models import Decision  # noqa: E402
from portal.letters.models import LetterAttachment  # noqa: E402

UPLOAD_BYTES = 200 * 1024


def _caseworker_client(app: Any, unit: str) -> Any:
    database = get_db(app)
    with database.transaction() as session:
        staff = StaffPrincipal(
            issuer="urn:bench", subject=secrets.token_hex(8), role="caseworker", unit=unit
        )
        session.add(staff)
        session.flush()
        principal = staff_principal(staff)
    interface = session_interface(app)
    token = interface.create({"principal": principal_session_data(principal)})
    client = app.test_client()
    client.set_cookie(interface.cookie_name, token)
    return client


def _plain_html(pdf: bytes, length: int | None = None) -> str:
    """A plain HTML page with the same text as the attachment (same length of text), or,
    with ``length``, that text repeated up to ``length`` characters of HTML (the length of
    the attachment's own HTML)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf)
        handle.flush()
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", handle.name, "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    head = '<!DOCTYPE html><html lang="da"><head><meta charset="utf-8"><title>x</title></head>'
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    while length is not None and len(head) + len(body) < length:
        body += "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if length is not None:
        body = body[: length - len(head) - 30].rsplit("<p>", 1)[0]
    return f"{head}<body>{body}</body></html>"


def _attachment_html_length(app: Any, client: Any, path: str) -> int:
    """The length of the HTML the attachment is rendered from (caught on its way)."""
    import portal.letters.views as views

    seen: list[int] = []
    original = views.render_attachment

    def spy(page: str, *args: Any, **kwargs: Any) -> bytes:
        seen.append(len(page))
        return original(page, *args, **kwargs)

    views.render_attachment = spy
    try:
        client.get(path)
    finally:
        views.render_attachment = original
    return seen[0]


def _render_plain(page: str) -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string=page).write_pdf())


def _timed(call: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _padded(pdf: bytes) -> bytes:
    """The PDF grown to UPLOAD_BYTES with a comment after %%EOF (still the same PDF)."""
    filler = UPLOAD_BYTES - len(pdf) - 2
    return pdf + b"%" + b"x" * max(filler, 0) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        seeded = seed_database_file(overrides(url))
        app = create_app(overrides(url))
        app.config["WTF_CSRF_ENABLED"] = False  # (the token costs nothing measurable)
        database = get_db(app)
        public_id = next(ids[0] for ids in seeded.cases.values() if ids)
        with database.transaction() as session:
            decision = session.scalar(select(Decision).where(Decision.public_id == public_id))
            assert decision is not None
            unit = decision.model_version.responsible_unit
        client = _caseworker_client(app, unit)
        path = f"/sagsbehandler/sager/{public_id}/bilag.pdf"

        first = client.get(path)  # warm-up (fonts, templates, WeasyPrint)
        assert first.status_code == 200, first.status_code
        html_length = _attachment_html_length(app, client, path)
        plain = _plain_html(first.data)
        plain_long = _plain_html(first.data, html_length)
        _render_plain(plain)

        attachment_wall, attachment_cpu, plain_wall, plain_cpu = [], [], [], []
        long_wall, long_cpu = [], []
        for _ in range(args.rounds):
            wall, cpu, answer = _timed(lambda: client.get(path))
            assert answer.status_code == 200
            attachment_wall.append(wall)
            attachment_cpu.append(cpu)
            wall, cpu, _ = _timed(lambda: _render_plain(plain))
            plain_wall.append(wall)
            plain_cpu.append(cpu)
            wall, cpu, _ = _timed(lambda: _render_plain(plain_long))
            long_wall.append(wall)
            long_cpu.append(cpu)
        last_pdf = answer.data

        # Verification: a genuine 200 kB attachment (its hash stored) and a changed copy.
        genuine = _padded(last_pdf)
        code = None
        with database.transaction() as session:
            code = session.scalar(
                select(LetterAttachment.verification_code).where(
                    LetterAttachment.pdf_sha256 == hashlib.sha256(last_pdf).hexdigest()
                )
            )
            session.execute(
                update(LetterAttachment)
                .where(LetterAttachment.verification_code == code)
                .values(pdf_sha256=hashlib.sha256(genuine).hexdigest())
            )
        at = genuine.index(b"stream\n") + 100
        changed = genuine[:at] + bytes([genuine[at] ^ 1]) + genuine[at + 1 :]
        public = app.test_client()
        timings: dict[str, list[float]] = {"genuine": [], "changed": []}
        cpu_timings: dict[str, list[float]] = {"genuine": [], "changed": []}
        expected = {"genuine": 200, "changed": 409}
        for _ in range(args.uploads):
            for kind, data in (("genuine", genuine), ("changed", changed)):
                wall, cpu, answer = _timed(
                    lambda data=data: public.post(
                        "/bekraeft",
                        data={"document": (io.BytesIO(data), "bilag.pdf")},
                        content_type="multipart/form-data",
                    )
                )
                assert answer.status_code == expected[kind], (kind, answer.status_code)
                timings[kind].append(wall)
                cpu_timings[kind].append(cpu)

    a_cpu, p_cpu, l_cpu = (statistics.median(v) for v in (attachment_cpu, plain_cpu, long_cpu))
    a_med, p_med, l_med = (statistics.median(v) for v in (attachment_wall, plain_wall, long_wall))
    lines = [
        f"python {platform.python_version()}, {platform.machine()}, one thread; "
        f"attachment {len(last_pdf) / 1024:.0f} kB from {html_length} characters of HTML, "
        f"{args.rounds} rounds interleaved",
        "",
        "| measure | attachment (bilag.pdf request) | plain page, same text | plain page,"
        " same HTML length |",
        "|---|---|---|---|",
        f"| median wall time | {a_med * 1000:.0f} ms | {p_med * 1000:.0f} ms "
        f"| {l_med * 1000:.0f} ms |",
        f"| median CPU time | {a_cpu * 1000:.0f} ms | {p_cpu * 1000:.0f} ms "
        f"| {l_cpu * 1000:.0f} ms |",
        f"| per second per core (CPU) | {1 / a_cpu:.1f} | {1 / p_cpu:.1f} | {1 / l_cpu:.1f} |",
        "",
        f"ratio attachment / plain page of the same text (median CPU): **{a_cpu / p_cpu:.2f}x**;"
        f" / plain page of the same HTML length: **{a_cpu / l_cpu:.2f}x** (target <= 1.3x)",
        "",
        f"| upload of a 200 kB PDF ({args.uploads} each) | p50 | p95 | p95 CPU | answer |",
        "|---|---|---|---|---|",
    ]
    for kind in ("genuine", "changed"):
        values = timings[kind]
        lines.append(
            f"| {kind} | {_pct(values, 0.5) * 1000:.1f} ms | {_pct(values, 0.95) * 1000:.1f} ms "
            f"| {_pct(cpu_timings[kind], 0.95) * 1000:.1f} ms | {expected[kind]} |"
        )
    lines.append("")
    lines.append("target: p95 < 50 ms")
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
