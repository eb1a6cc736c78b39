"""QR codes for keys: a PNG for Telegram and a text drawing for a terminal.

The PNG must survive Telegram's recompression of photos (JPEG at about quality 80, long side capped
at 1280 px) for the largest realistic key: about 2 KB of JSON, most of it a 1.5 KB ``tower_access``
token (DESIGN.md §4). The parameters:

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
* A 1-bit image (mode ``"1"``) from qrcode's PIL factory, saved as PNG without optimisation;
  data in a single byte-mode segment (keys are ASCII JSON; qrcode's mixed-mode optimiser saves
  nothing on it but costs a regular-expression pass).
"""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_L, ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError
from qrcode.image.pil import PilImage

MAX_SIDE = 1280  # Telegram downscales photos whose long side is larger
BORDER = 4  # modules of quiet zone on every side
LEVELS = (ERROR_CORRECT_M, ERROR_CORRECT_L)  # tried in order; the first that holds the data wins

# Terminal drawing: one character covers two module rows (upper, lower); True = drawn as ink.
_HALF_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",  # ▀ upper half
    (False, True): "\u2584",  # ▄ lower half
    (True, True): "\u2588",  # █ full block
}


def _make(data: str, border: int) -> qrcode.QRCode:
    """The smallest code for ``data`` at the first error-correction level in LEVELS that holds it."""
    for level in LEVELS:
        code = qrcode.QRCode(error_correction=level, border=border, box_size=1)
        code.add_data(data, optimize=0)
        try:
            code.make(fit=True)
        except (DataOverflowError, ValueError):  # qrcode 8 raises ValueError past version 40
            continue
        return code
    raise ValueError(f"{len(data.encode())} bytes do not fit in a QR code")


def box_size_for(modules: int, *, border: int = BORDER, max_side: int = MAX_SIDE) -> int:
    """Largest whole pixels per module that keep a ``modules``-wide code plus border within max_side."""
    return max(1, max_side // (modules + 2 * border))


def render_qr(data: str, *, box_size: int | None = None) -> bytes:
    """PNG bytes of a QR code holding ``data``.

    By default the module size is chosen so the image is at most 1280 px on a side (see the module
    docstring); an explicit ``box_size`` overrides that, and then the caller answers for the size.
    Raises ValueError when the data does not fit in any QR code or box_size is below 1.

    CPU-bound: about 25 ms for a key without SDK token, 150 ms for the largest (three quarters of
    it qrcode choosing the mask pattern); from async code call it via ``asyncio.to_thread``.
    """
    if box_size is not None and box_size < 1:
        raise ValueError(f"box_size must be at least 1, not {box_size}")
    code = _make(data, BORDER)
    code.box_size = box_size if box_size is not None else box_size_for(code.modules_count)
    image = code.make_image(image_factory=PilImage)  # mode "1", black on white
    buffer = io.BytesIO()
    image.save(buffer, kind="PNG")
    return buffer.getvalue()


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
