"""HTML to an accessible PDF with WeasyPrint: tagged (PDF/UA-1), fonts embedded, language set.

The HTML comes from the same partial templates as the pages, so the PDF says exactly what
the page says. WeasyPrint may read local files under the package (fonts, stylesheet) and
nothing else: no network, no other files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PDF_TEMPLATES = PACKAGE_DIR / "templates" / "pdf"
STATIC_DIR = PACKAGE_DIR / "static"
ALLOWED_ROOTS = (PDF_TEMPLATES, STATIC_DIR)
INLINE_PNG = "data:image/png;base64,"


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class LocalFilesOnly(URLFetcher):  # type: ignore[misc]
        """Only ``file:`` URLs under the package's PDF templates and static files, and PNG
        images inline in the HTML (``data:``, the letter attachment's QR code)."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith(INLINE_PNG):
                return super().fetch(url, headers)
            if not url.startswith("file://"):
                raise ValueError(f"PDF rendering may not fetch {url[:40]!r}")
            path = Path(url[len("file://") :].split("?")[0]).resolve()
            if not any(path.is_relative_to(root) for root in ALLOWED_ROOTS):
                raise ValueError("PDF rendering may only read the portal's own files")
            return super().fetch(url, headers)

    return LocalFilesOnly(allowed_protocols={"file", "data"}, fail_on_errors=True)


def render_pdf(
    html: str,
    *,
    variant: str = "pdf/ua-1",
    attachments: Sequence[Any] = (),
    finisher: Callable[[Any, Any], None] | None = None,
) -> bytes:
    """A tagged PDF document from ``html`` (which must set ``<html lang>``): PDF/UA-1 by
    default, or another WeasyPrint ``variant`` (the letter attachment is ``pdf/a-3a``) with
    embedded files (``weasyprint.Attachment``) and a ``finisher(document, pdf)`` that may
    adjust the PDF objects before they are written."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher = _fetcher()
    # @font-face rules only take effect through a FontConfiguration shared by both calls.
    fonts = FontConfiguration()
    stylesheet = CSS(
        filename=str(PDF_TEMPLATES / "pdf.css"), url_fetcher=fetcher, font_config=fonts
    )
    document = HTML(string=html, base_url=str(PDF_TEMPLATES) + "/", url_fetcher=fetcher)
    pdf = document.write_pdf(
        stylesheets=[stylesheet],
        font_config=fonts,
        pdf_variant=variant,
        pdf_tags=True,
        custom_metadata=False,
        attachments=list(attachments),
        finisher=finisher,
    )
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf without target returns bytes
        raise TypeError("WeasyPrint returned no bytes")
    return pdf
