"""Small helpers for printing what the bot said."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.console.setup import INDENT, Out, Point
from bot.console.tower import is_locker_open_link, link_kind
from bot.keys import LockerKey
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


@dataclass(frozen=True)
class KeyShown:
    """What the console prints for a key's QR code, and the key or link it holds (for /use and /open)."""

    lines: list[str]
    summary: str | None  # how "bot deleted: …" names the message later
    key: LockerKey | None = None
    link: str | None = None


async def show_key(text: str, qr_mode: str, out: Out) -> KeyShown:
    """Draw the key (off the event loop: a large QR takes a while) and print what it holds."""
    shown = await asyncio.to_thread(describe_key, text, qr_mode)
    for line in shown.lines:
        out(line)
    return shown


def describe_key(text: str, qr_mode: str) -> KeyShown:
    """The drawing (unless ``qr_mode`` is "off") and the key's details, never its secrets."""
    lines = [] if qr_mode == "off" else [draw_qr(text, qr_mode)]
    if is_locker_open_link(text):  # KEY_MODE=link: the QR holds the same link as the Open locker button
        kind = link_kind(text) or "Locker Open"
        lines += [
            f"{INDENT}key: a {kind} Locker Open link · {text}",
            f"{INDENT}/open (or /use, or its Open locker button) opens it as the Locker Open app clip would",
        ]
        return KeyShown(lines, f"the {kind} link", link=text)
    try:
        key = LockerKey.from_json(text)
    except ValueError as exc:
        return KeyShown([*lines, f"{INDENT}(the QR code holds no key: {exc})"], None)
    left = (key.expires - datetime.now(UTC)).total_seconds()
    expiry = f"expires {key.expires:%Y-%m-%d %H:%M:%S} UTC ({time_left(left)})"
    sdk = f"<{len(key.sdk_token)} chars>" if key.sdk_token else "none"
    lines += [
        f"{INDENT}key: {key.kind} · tower {key.tower_id} · locker {key.locker_name} (id {key.locker_id}) · {expiry}",
        f"{INDENT}payload: <hex, {len(key.payload)} chars> · payload_auth: <hex, {len(key.payload_auth)} chars>"
        f" · sdk_token: {sdk}",
        f"{INDENT}/use uses it at the tower",
    ]
    return KeyShown(lines, f"the {key.kind} key for locker {key.locker_name}", key=key)
