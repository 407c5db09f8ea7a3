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

from markupsafe import Markup

from portal.cases.pdf import render_pdf

VARIANT = "pdf/a-3a"
#: The JSON is another form of what the pages say, as the XML of a Factur-X invoice.
RELATIONSHIP = "Alternative"


def qr_svg(url: str, title: str) -> Markup:
    """The QR code of ``url`` as inline SVG (segno), named by ``title`` for screen readers."""
    import segno

    code = segno.make(url, error="m")
    svg = code.svg_inline(scale=3, title=title, svgclass="qr-code", lineclass=None, omitsize=False)
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 - segno's own SVG


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
