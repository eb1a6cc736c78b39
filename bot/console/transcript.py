"""Small helpers for printing what the bot said."""

from __future__ import annotations

import io
import logging
from typing import Any

from bot.console.setup import INDENT, Point
from bot.ui.qr import TERMINAL_COLUMNS, render_qr_text, render_qr_text_fitting

log = logging.getLogger(__name__)


def changed_seq(record: Any) -> int:
    return int(record.changed_seq)


def indented(text: str) -> str:
    """Continuation lines under the first one (blank lines stay blank)."""
    first, *rest = text.split("\n")
    return "\n".join([first, *(INDENT + line if line else "" for line in rest)])


def point_text(point: Point) -> str:
    return f"{point[0]:.5f},{point[1]:.5f}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary_of(text: str, limit: int = 60) -> str:
    first = text.splitlines()[0] if text else ""
    return f"«{first[:limit]}…»" if len(first) > limit or "\n" in text else f"«{first}»"


def time_left(seconds: float) -> str:
    if seconds <= 0:
        return "expired"
    minutes, secs = divmod(int(seconds), 60)
    return f"in {minutes} min {secs} s" if minutes else f"in {secs} s"


def read_qr(photo: bytes) -> tuple[str | None, str | None]:
    """(text, problem): the QR code's text, or why there is none."""
    import zxingcpp
    from PIL import Image

    results = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(photo)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    if not results:
        return None, "no QR code in the photo"
    return results[0].text, None


def draw_qr(text: str, mode: str) -> str:
    """The QR code of ``text`` for the terminal: "full" one module per column (wide for an SDK key),
    "small" within 80 columns (bot.ui.qr.render_qr_text_fitting)."""
    if mode == "full":
        return render_qr_text(text)
    drawing = render_qr_text_fitting(text)
    if drawing is None:
        return f"{INDENT}(this QR code is too large to draw within {TERMINAL_COLUMNS} columns: --qr full draws it)"
    return drawing
