"""The one-page HTML report of ``dfembed explain``: self-contained, its images as data URIs."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
.verdict{font-size:1.4em;padding:.5em 1em;border-radius:6px;display:inline-block}
.fake{background:#fdd;color:#900}.real{background:#dfd;color:#060}
.faces{display:flex;flex-wrap:wrap;gap:1em}.face{text-align:center;font-size:.9em}
.face img{width:160px;height:160px;image-rendering:pixelated;display:block}
.pair{display:flex;gap:4px}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left}
"""


@dataclass(frozen=True)
class ReportFace:
    """One explained face as the report shows it.

    Attributes:
        frame: Frame index (0 for an image).
        time_s: Seconds into the video (``None`` for an image).
        p_fake: The face's P(fake).
        crop_png: The face crop, PNG bytes.
        overlay_png: The Grad-CAM overlay, PNG bytes.
    """

    frame: int
    time_s: float | None
    p_fake: float
    crop_png: bytes
    overlay_png: bytes


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (an image that needs no file beside the page)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_html(title: str, p_fake: float, threshold: float, rule: str, facts: dict[str, str],
                faces: Sequence[ReportFace]) -> str:
    """The report page.

    Args:
        title: What was explained (the file's name).
        p_fake: The file's P(fake).
        threshold: Above it the file reads as fake.
        rule: How the file's score was made from its faces.
        facts: Further rows of the summary table (model, detector, frames…).
        faces: The explained faces, most suspicious first.

    Returns:
        The HTML text (no external resource).
    """
    label = "fake" if p_fake > threshold else "real"
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    cards = "".join(_face_card(face) for face in faces) or "<p>No face was found: nothing to explain.</p>"
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dfembed explain: "
            f"{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"verdict {label}\">P(fake) {p_fake:.3f}: {label}</p>"
            f"<p>{html.escape(rule)}</p><table>{rows}</table>"
            "<h2>Most suspicious faces</h2><p>Each face: its crop, and the Grad-CAM map of P(fake) over it "
            "(red: the regions that push the score towards fake).</p>"
            f"<div class=\"faces\">{cards}</div></body></html>\n")


def _face_card(face: ReportFace) -> str:
    when = f"frame {face.frame}" + (f" ({face.time_s:.2f} s)" if face.time_s is not None else "")
    return (f"<div class=\"face\"><div class=\"pair\"><img alt=\"face crop\" src=\"{data_uri(face.crop_png)}\">"
            f"<img alt=\"Grad-CAM overlay\" src=\"{data_uri(face.overlay_png)}\"></div>"
            f"{html.escape(when)}: P(fake) {face.p_fake:.3f}</div>")
