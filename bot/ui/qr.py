"""QR codes for keys: a PNG for Telegram and a text drawing for a terminal.

The PNG must survive Telegram's recompression of photos (JPEG at about quality 80, long side capped
at 1280 px) for the largest realistic key: about 2 KB of JSON, most of it a 1.5 KB ``tower_access``
token (docs/design.md §4). The parameters:

* Error correction **M** (15 % of the code words recoverable), falling back to **L** only for data
  that M cannot hold even at version 40 (2331 bytes). JPEG is not what breaks these codes: at 7 px
  per module both levels read back after JPEG at quality 20, and after a downscale to 300 px. What
  breaks them is a phone camera reading a screen (glare, moiré, a finger), and there M's doubled
  recovery counts: with a glare spot over 8 % of the largest key's code, 19 of 20 placements still
  read at M, none at L. The price is density: version 38 instead of 33 for a 2 KB key (177 instead
  of 157 modules with the border, 7 px modules instead of 8). Q and H cannot hold that key at all.
* Border 4 modules, the quiet zone the QR standard asks for.
* Module size: the largest whole number of pixels that keeps the image within 1280 px, so Telegram
  never rescales it (a rescale by a non-integer factor smears module edges before the JPEG step).
  Version 40 still gets 6 px, so every key gets at least 4 px per module.
* Data in a single byte-mode segment (keys are ASCII JSON; qrcode's mixed-mode optimiser saves
  nothing on it but costs a regular-expression pass), at the smallest version that holds it.
* A fixed mask pattern, MASK_PATTERN. Every mask is a valid QR code; qrcode's default tries all
  eight and scores each with the standard's penalty rules, which was three quarters of the render
  time of the largest key. The penalty score is a proxy for scanner robustness; we measured the
  robustness itself instead (``python -m bench.qr_render --masks``, see MASK_PATTERN).
* The codewords (data and Reed-Solomon error correction) computed by bot.ui.qr_encode.py, the
  same as qrcode's in a quarter of the time (qrcode builds a polynomial object per division step).
* A 1-bit greyscale PNG written straight from the module matrix (bot/ui/qr_png.py) instead of
  qrcode's PIL image with a rectangle drawn per module: 14 KB for the largest key.

Rendering is CPU-bound (about 8 ms for the largest key, 2 ms for a small one, pure Python that holds
the GIL), so async code calls ``render_qr_async``: it renders in one thread, started on first use, so
the event loop keeps running meanwhile (see below). Call ``shutdown_renderer()`` when the application
stops. ``python -m bench.qr_render`` gives the figures.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import qrcode
from qrcode import util
from qrcode.constants import ERROR_CORRECT_L, ERROR_CORRECT_M

from bot.ui.qr_encode import QRCodeLaidOut, codewords
from bot.ui.qr_png import png_from_matrix

log = logging.getLogger(__name__)

MAX_SIDE = 1280  # Telegram downscales photos whose long side is larger
BORDER = 4  # modules of quiet zone on every side
LEVELS = (ERROR_CORRECT_M, ERROR_CORRECT_L)  # tried in order; the first that holds the data wins
# Measured with python -m bench.qr_render --masks (4 keys from no token to the largest): every
# mask reads back after JPEG q80, q60 and at 800 px; with a glare spot over 20 % of the code, every
# mask read back from 31 of 32 places (the same one failed for all). Only bigger spots tell them
# apart, and barely (read-backs of 92, 10 spots per key): 85-88 at 26 %, 72-74 at 32 %, a spread
# within noise. Mask 5 led both (88, 74); qrcode's penalty score picks mask 2 for all four (86, 72).
MASK_PATTERN = 5

# Terminal drawing: one character covers two module rows (upper, lower); True = drawn as ink.
_HALF_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",  # ▀ upper half
    (False, True): "\u2584",  # ▄ lower half
    (True, True): "\u2588",  # █ full block
}


def _smallest_version(n_bytes: int, level: int) -> int | None:
    """The smallest QR version holding ``n_bytes`` in one byte-mode segment at ``level``, if any.

    What qrcode's ``make(fit=True)`` finds too, but by arithmetic: qrcode finds it by writing the
    whole data into a bit buffer (a third of the time of the rest of the encoding).
    """
    for version in range(1, 41):
        # 4 bits of mode indicator, the character count (8 or 16 bits), 8 bits per byte.
        needed = 4 + util.length_in_bits(util.MODE_8BIT_BYTE, version) + 8 * n_bytes
        if needed <= util.BIT_LIMIT_TABLE[level][version]:
            return version
    return None


def _make(data: str, border: int) -> qrcode.QRCode:
    """The smallest code for ``data`` at the first error-correction level in LEVELS that holds it."""
    raw = data.encode("utf-8")
    segment = util.QRData(raw, mode=util.MODE_8BIT_BYTE, check_data=False)
    for level in LEVELS:
        version = _smallest_version(len(raw), level)
        if version is None:
            continue
        code = QRCodeLaidOut(
            version=version, error_correction=level, border=border, box_size=1, mask_pattern=MASK_PATTERN
        )
        code.add_data(segment)
        code.data_cache = codewords(raw, version, level)  # qrcode's codewords, computed faster
        code.make(fit=False)
        return code
    raise ValueError(f"{len(raw)} bytes do not fit in a QR code")


def box_size_for(modules: int, *, border: int = BORDER, max_side: int = MAX_SIDE) -> int:
    """Largest whole pixels per module that keep a ``modules``-wide code plus border within max_side."""
    return max(1, max_side // (modules + 2 * border))


def render_qr(data: str, *, box_size: int | None = None) -> bytes:
    """PNG bytes of a QR code holding ``data``.

    By default the module size is chosen so the image is at most 1280 px on a side (see the module
    docstring); an explicit ``box_size`` overrides that, and then the caller answers for the size.
    Raises ValueError when the data does not fit in any QR code or box_size is below 1.

    CPU-bound and holding the GIL for most of its time: from async code use ``render_qr_async``.
    """
    if box_size is not None and box_size < 1:
        raise ValueError(f"box_size must be at least 1, not {box_size}")
    code = _make(data, BORDER)
    box = box_size if box_size is not None else box_size_for(code.modules_count)
    return png_from_matrix(code.get_matrix(), box)  # get_matrix includes the border


# --- off the event loop --------------------------------------------------------------------------

# One thread, not a worker process (issue 18): a second interpreter cost about 40 MB of the process
# group's memory for a few renders a minute. The render holds the GIL in stretches, so the event loop
# runs between them (it waits at most the interpreter's switch interval, 5 ms, for its turn, never the
# whole render: `python -m bench.qr_render` measures the stall). One thread: renders queue rather than
# take turns with each other and the loop.
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qr-render")
        return _pool


def _render_measured(data: str, box_size: int | None) -> tuple[bytes, float]:
    """``render_qr`` and the CPU seconds it took, measured where it ran (the render thread)."""
    start = time.thread_time()
    png = render_qr(data, box_size=box_size)
    return png, time.thread_time() - start


async def render_qr_measured_async(data: str, *, box_size: int | None = None) -> tuple[bytes, float]:
    """``render_qr_async`` plus the CPU seconds the render took (for the benchmark)."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), _render_measured, data, box_size)


async def render_qr_async(data: str, *, box_size: int | None = None) -> bytes:
    """``render_qr`` in the render thread, so the event loop keeps running meanwhile.

    Same arguments, bytes and errors as ``render_qr``.
    """
    png, _cpu = await render_qr_measured_async(data, box_size=box_size)
    return png


def shutdown_renderer() -> None:
    """Stop the render thread, if it was started (after the render in hand); a later render starts a new one."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


# --- terminal ------------------------------------------------------------------------------------


# Quadrant characters: one character covers 2×2 modules (upper left, upper right, lower left, lower right).
_QUADRANTS: dict[tuple[bool, bool, bool, bool], str] = {
    (bool(bits[0]), bool(bits[1]), bool(bits[2]), bool(bits[3])): char
    for bits, char in zip(
        [(ul, ur, ll, lr) for ul in (0, 1) for ur in (0, 1) for ll in (0, 1) for lr in (0, 1)],
        " \u2597\u2596\u2584\u259d\u2590\u259e\u259f\u2598\u259a\u258c\u2599\u2580\u259c\u259b\u2588",
        strict=True,
    )
}
TERMINAL_COLUMNS = 80  # what `render_qr_text_fitting` keeps within
SMALL_BORDER = 2  # modules of quiet zone in a quadrant drawing: scanners cope, and it saves a column


def render_qr_text_fitting(data: str, columns: int = TERMINAL_COLUMNS) -> str | None:
    """The QR code for ``data`` drawn within ``columns`` characters, or None when no drawing fits.

    Half blocks (one module per column, as ``render_qr_text``) when they fit; else quadrant characters
    (2×2 modules per character, so modules are twice as tall as wide: scanners take that stretch like
    any tilt) at error correction L, the densest level, with a 2-module quiet zone. A 2 KB key (a
    1.5 KB ``tower_access`` token inside) is then 77 columns wide.
    """
    code = _make(data, BORDER)
    if code.modules_count + 2 * BORDER <= columns:
        return render_qr_text(data)
    version = _smallest_version(len(data.encode("utf-8")), ERROR_CORRECT_L)
    if version is None:
        return None
    code = qrcode.QRCode(version=version, error_correction=ERROR_CORRECT_L, border=SMALL_BORDER, box_size=1,
                         mask_pattern=MASK_PATTERN)  # fmt: skip
    code.add_data(util.QRData(data.encode("utf-8"), mode=util.MODE_8BIT_BYTE, check_data=False))
    code.make(fit=False)
    light = [[not dark for dark in row] for row in code.get_matrix()]  # drawn light on a dark terminal
    width = len(light[0])
    if (width + 1) // 2 > columns:
        return None
    rows = light + [[True] * width] * (len(light) % 2)  # pad with quiet zone to whole characters
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        top, bottom = [*top, True], [*bottom, True]  # an odd width: one more column of quiet zone
        cells = ((top[x], top[x + 1], bottom[x], bottom[x + 1]) for x in range(0, width, 2))
        lines.append("".join(_QUADRANTS[cell] for cell in cells))
    return "\n".join(lines)


def render_qr_text(data: str, *, light_terminal: bool = False) -> str:
    """The QR code for ``data`` drawn with Unicode half blocks, two module rows per line.

    Terminals draw characters light on dark, so by default the *light* modules and the 4-module
    quiet zone are the block characters and the dark modules are spaces: the code shows dark on
    light, with its quiet zone drawn rather than left to the terminal's background (as
    ``qrencode -t UTF8`` does). On a dark-on-light terminal pass ``light_terminal=True`` to draw
    the dark modules instead (the quiet zone is then the terminal's own background). Every line
    has the same width, ``modules + 8`` characters; the last line's lower half is quiet zone.
    """
    code = _make(data, BORDER)
    matrix = code.get_matrix()  # True = dark; includes the border
    if len(matrix) % 2:  # always the case (17 + 4·version + 2·border is odd): pad with quiet zone
        matrix = [*matrix, [False] * len(matrix[0])]
    ink = (lambda dark: dark) if light_terminal else (lambda dark: not dark)
    lines = []
    for upper, lower in zip(matrix[0::2], matrix[1::2], strict=True):
        lines.append("".join(_HALF_BLOCKS[ink(u), ink(lo)] for u, lo in zip(upper, lower, strict=True)))
    return "\n".join(lines)
