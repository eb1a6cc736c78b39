"""Small helpers for printing what the bot said."""

from __future__ import annotations

import io
import logging
from typing import Any

from bot.console.setup import INDENT, Point
from bot.ui.qr import render_qr_text

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


def read_qr(photo: bytes) -> tuple[str | None, str | None, str | None]:
    """(text, drawing, problem): the QR code's text and its drawing, or why there is none."""
    import zxingcpp
    from PIL import Image

    results = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(photo)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    if not results:
        return None, None, "no QR code in the photo"
    text = results[0].text
    return text, render_qr_text(text), None
