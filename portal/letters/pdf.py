"""The letter attachment as PDF/A-3a: tagged, fonts embedded, language set, and the
explanation embedded as a machine-readable JSON file (an associated file, like the XML of a
Factur-X invoice), plus the QR code of its verification address.

WeasyPrint writes PDF/A-3 conformance level A itself (``pdf_variant="pdf/a-3a"``: the XMP
identification ``pdfaid:part=3``/``conformance=A``, the structure tree, the sRGB output
intent, ``/AF`` and ``/AFRelationship`` on the embedded file); nothing is post-processed
except one detail in the finisher below.
"""

from __future__ import annotations

from typing import Any

from portal.cases.pdf import render_pdf

VARIANT = "pdf/a-3a"
#: The JSON is another form of what the pages say, as the XML of a Factur-X invoice.
RELATIONSHIP = "Alternative"


def qr_png(url: str) -> str:
    """The QR code of ``url`` (segno) as a PNG ``data:`` URL. An image, not inline SVG:
    WeasyPrint draws the SVG's hundreds of path segments in ~25 ms, the PNG in ~1 ms."""
    import segno

    return str(segno.make(url, error="m").png_data_uri(scale=4, border=2))


def _single_af_entry(_document: Any, pdf: Any) -> None:
    """WeasyPrint lists an embedded file in the catalog's ``/AF`` twice (once from the
    name tree, once from the file specification); keep one reference of each."""
    af = pdf.catalog.get("AF")
    if not af:
        return
    seen: list[Any] = []
    for reference in af:
        if reference not in seen:
            seen.append(reference)
    af[:] = seen


def render_attachment(html: str, machine_readable: bytes, *, name: str, description: str) -> bytes:
    """The attachment PDF of ``html`` carrying ``machine_readable`` (JSON) as ``name``."""
    from weasyprint import Attachment

    embedded = Attachment(
        string=machine_readable,
        name=name,
        description=description,
        relationship=RELATIONSHIP,
    )
    return render_pdf(html, variant=VARIANT, attachments=[embedded], finisher=_single_af_entry)
