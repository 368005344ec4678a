"""QR codes for TOTP enrolment, drawn on the server as inline SVG (segno): no script, no image URL, no CDN."""

from __future__ import annotations

import io

import segno


def svg(text: str) -> str:
    """``text`` as an ``<svg>`` element to place in a page (no XML declaration, sized by CSS)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(
        out, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4, border=2, title="TOTP enrolment QR code"
    )
    return out.getvalue().decode("utf-8")
