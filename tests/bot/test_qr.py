"""bot.ui.qr: every key's QR code must read back after Telegram recompresses the photo.

Speed is the benchmark's business (python -m bench.qr_render): no timings here.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import Iterator

import pytest
import qrcode
import zxingcpp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_M, ERROR_CORRECT_Q

from bench.qr_render import decode, keycloak_like_jwt, largest_key, small_key, telegram_photo
from bot.keys import LockerKey
from bot.ui import qr
from bot.ui.qr import BORDER, MASK_PATTERN, MAX_SIDE, render_qr, render_qr_async, render_qr_text, shutdown_renderer
from bot.ui.qr_encode import QRCodeLaidOut, codewords
from bot.ui.qr_png import png_from_matrix

SMALL = small_key().to_json()
LARGEST = largest_key().to_json()
KEYS = pytest.mark.parametrize("data", [SMALL, LARGEST], ids=["small", "largest"])


def test_sample_keys_are_what_they_claim() -> None:
    key = largest_key()
    assert key.sdk_token is not None
    header, payload, signature = key.sdk_token.split(".")
    assert len(key.sdk_token) == 1536
    assert json.loads(_b64url_decode(header))["alg"] == "RS256"
    assert json.loads(_b64url_decode(payload))["scope"].startswith("tower_access")
    assert len(_b64url_decode(signature)) == 256
    assert 128 <= len(key.payload) <= 200
    assert 1800 <= len(LARGEST) <= 2100  # a 1.5 KB token pushes the key past 1.8 KB
    assert len(SMALL) < 400
    assert "sdk_token" not in SMALL


def _b64url_decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@KEYS
def test_png_is_within_telegram_size_with_modules_of_4px_or_more(data: str) -> None:
    png = render_qr(data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode in ("1", "L")
        assert image.width == image.height
        assert image.width <= MAX_SIDE
        [barcode] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        side = image.width
    assert barcode.text == data
    modules = 17 + 4 * int(barcode.extra["Version"])
    box = side // (modules + 2 * BORDER)
    assert side == box * (modules + 2 * BORDER)  # whole pixels per module, 4-module border
    assert box >= 4
    assert (box + 1) * (modules + 2 * BORDER) > MAX_SIDE  # the largest module size that fits


@KEYS
@pytest.mark.parametrize("quality", [80, 60], ids=["q80", "q60-margin"])
def test_reads_back_after_telegram_recompression(data: str, quality: int) -> None:
    jpeg = telegram_photo(render_qr(data), quality=quality)
    assert decode(jpeg) == [data]


@KEYS
def test_reads_back_from_telegrams_800px_preview(data: str) -> None:
    # Margin: chats show the 800 px size of a photo until it is opened.
    assert decode(telegram_photo(render_qr(data), quality=80, max_side=800)) == [data]


@KEYS
def test_uses_the_fixed_mask_and_otherwise_the_same_code_as_qrcode(data: str) -> None:
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=BORDER, mask_pattern=MASK_PATTERN)
    reference.add_data(data, optimize=0)
    reference.make(fit=True)
    code = qr._make(data, BORDER)
    assert (code.version, code.error_correction, code.mask_pattern) == (
        reference.version,
        ERROR_CORRECT_M,
        MASK_PATTERN,
    )
    assert code.get_matrix() == reference.get_matrix()


@KEYS
def test_png_pixels_are_the_module_matrix_scaled_up(data: str) -> None:
    matrix = qr._make(data, BORDER).get_matrix()
    box = qr.box_size_for(len(matrix) - 2 * BORDER)
    # The reference: Pillow's own nearest-neighbour scale-up of the matrix, black on white.
    small = Image.frombytes(
        "L", (len(matrix), len(matrix)), bytes(0 if dark else 255 for row in matrix for dark in row)
    )
    expected = small.resize((len(matrix) * box,) * 2, Image.Resampling.NEAREST)
    with Image.open(io.BytesIO(render_qr(data))) as image:
        assert image.mode == "1"
        assert image.convert("L").tobytes() == expected.tobytes()


@pytest.mark.parametrize("box", [1, 3, 8])
def test_png_from_matrix_packs_rows_of_any_width(box: int) -> None:
    matrix = [[True, False, True], [False, False, True]]  # 3 modules wide: rows end mid-byte
    with Image.open(io.BytesIO(png_from_matrix(matrix, box))) as image:
        assert image.size == (3 * box, 2 * box)
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                assert image.getpixel((x * box + box - 1, y * box)) == (0 if dark else 255)
    with pytest.raises(ValueError, match="box"):
        png_from_matrix(matrix, 0)
    with pytest.raises(ValueError, match="rectangle"):
        png_from_matrix([[True], [True, False]], 1)


# --- off the event loop --------------------------------------------------------------------------


@pytest.fixture
def renderer() -> Iterator[None]:
    """The async API's render thread, stopped after the test."""
    yield
    shutdown_renderer()


@pytest.mark.usefixtures("renderer")
async def test_async_render_returns_the_sync_bytes_and_errors() -> None:
    assert await render_qr_async(LARGEST) == render_qr(LARGEST)
    assert await render_qr_async(SMALL, box_size=3) == render_qr(SMALL, box_size=3)
    with pytest.raises(ValueError, match="do not fit"):
        await render_qr_async("x" * 3000)


@pytest.mark.usefixtures("renderer")
async def test_the_event_loop_runs_while_a_key_is_drawn() -> None:
    """Other updates are answered meanwhile: the loop gets its turns during the render, not after it."""
    turns = 0
    rendering = asyncio.create_task(render_qr_async(LARGEST))
    while not rendering.done():
        turns += 1
        await asyncio.sleep(0)
    assert await rendering == render_qr(LARGEST)
    assert turns > 1


@pytest.mark.usefixtures("renderer")
async def test_async_render_survives_a_shutdown() -> None:
    assert await render_qr_async(SMALL) == render_qr(SMALL)
    shutdown_renderer()  # a later render starts a new thread
    assert await render_qr_async(SMALL) == render_qr(SMALL)


def test_round_trip_through_locker_key() -> None:
    [text] = decode(telegram_photo(render_qr(LARGEST)))
    assert LockerKey.from_json(text) == largest_key()


def test_explicit_box_size() -> None:
    png = render_qr(SMALL, box_size=3)
    with Image.open(io.BytesIO(png)) as image:
        assert image.width % 3 == 0
        assert image.width < 400
    with pytest.raises(ValueError, match="box_size"):
        render_qr(SMALL, box_size=0)


def test_falls_back_to_level_l_beyond_m_capacity_and_refuses_what_no_code_holds() -> None:
    rng = random.Random(3)
    too_big_for_m = keycloak_like_jwt(rng, 2500)  # M holds 2331 bytes at version 40, L 2953
    with Image.open(io.BytesIO(render_qr(too_big_for_m))) as image:
        [barcode] = zxingcpp.read_barcodes(image)
        assert barcode.text == too_big_for_m
        assert barcode.ec_level == "L"
        assert image.width <= MAX_SIDE
    with pytest.raises(ValueError, match="do not fit"):
        render_qr("x" * 3000)


def test_error_correction_is_m_for_keys() -> None:
    for data in (SMALL, LARGEST):
        with Image.open(io.BytesIO(render_qr(data))) as image:
            [barcode] = zxingcpp.read_barcodes(image)
            assert barcode.ec_level == "M"


# --- terminal drawing ----------------------------------------------------------------------------

BLOCKS = set(" \u2580\u2584\u2588")


def _text_to_image(text: str, *, light_terminal: bool, scale: int = 4) -> Image.Image:
    """Paint the drawing as a terminal would: ink for the block halves, background elsewhere."""
    lines = text.split("\n")
    ink, background = (0, 255) if light_terminal else (255, 0)
    image = Image.new("L", (len(lines[0]) * scale, (len(lines) * 2 + 8) * scale), background)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            for half, painted in enumerate((char in "\u2580\u2588", char in "\u2584\u2588")):
                if painted:
                    x, y = col * scale, (row * 2 + half + 4) * scale
                    draw.rectangle((x, y, x + scale - 1, y + scale - 1), fill=ink)
    return image


@KEYS
@pytest.mark.parametrize("light_terminal", [False, True], ids=["dark-terminal", "light-terminal"])
def test_text_drawing(data: str, light_terminal: bool) -> None:
    text = render_qr_text(data, light_terminal=light_terminal)
    lines = text.split("\n")
    assert len({len(line) for line in lines}) == 1
    assert set(text) - {"\n"} <= BLOCKS
    width = len(lines[0])
    assert len(lines) == (width + 1) // 2  # two module rows per line, square code
    # The quiet zone: 4 light columns and rows all round (drawn as full blocks on a dark terminal).
    quiet = " " if light_terminal else "\u2588"
    assert lines[0] == lines[1] == quiet * width
    assert all(line[:BORDER] == line[-BORDER:] == quiet * BORDER for line in lines)
    # And it is the right code: painted like a terminal would, zxing reads it without inverting.
    image = _text_to_image(text, light_terminal=light_terminal)
    barcodes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode, try_invert=False)
    assert [b.text for b in barcodes] == [data]


# Each character of a quadrant drawing: which of its 2×2 modules are light (upper left, upper right,
# lower left, lower right); half blocks and spaces are quadrants too.
QUADRANT_CELLS = {
    " ": (0, 0, 0, 0), "▗": (0, 0, 0, 1), "▖": (0, 0, 1, 0), "▄": (0, 0, 1, 1), "▝": (0, 1, 0, 0), "▐": (0, 1, 0, 1),
    "▞": (0, 1, 1, 0), "▟": (0, 1, 1, 1), "▘": (1, 0, 0, 0), "▚": (1, 0, 0, 1), "▌": (1, 0, 1, 0), "▙": (1, 0, 1, 1),
    "▀": (1, 1, 0, 0), "▜": (1, 1, 0, 1), "▛": (1, 1, 1, 0), "█": (1, 1, 1, 1),
}  # fmt: skip


def paint_quadrants(text: str, scale: int = 4) -> Image.Image:
    """A quadrant drawing as a dark terminal shows it: each character a cell twice as tall as wide, so
    each module is a 1:2 rectangle (scale px wide, 2·scale tall)."""
    lines = text.split("\n")
    margin = 4 * scale
    image = Image.new("L", (len(lines[0]) * 2 * scale + 2 * margin, len(lines) * 4 * scale + 2 * margin), 0)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            for index, light in enumerate(QUADRANT_CELLS[char]):
                if light:
                    x = margin + (col * 2 + index % 2) * scale
                    y = margin + (row * 2 + index // 2) * 2 * scale
                    draw.rectangle((x, y, x + scale - 1, y + 2 * scale - 1), fill=255)
    return image


LINK = "https://lockeropen.com/dropoff?token=" + "A" * 43 + "." + "b" * 43 + "&env=sandbox"


@pytest.mark.parametrize("data", [LINK, SMALL, LARGEST], ids=["link", "small", "largest"])
def test_the_terminal_drawing_fits_80_columns_and_scans(data: str) -> None:
    text = qr.render_qr_text_fitting(data)
    assert text is not None
    lines = text.split("\n")
    assert max(len(line) for line in lines) <= 80 and len({len(line) for line in lines}) == 1
    if text == render_qr_text(data):  # half blocks, one module per column, whenever they fit
        assert data != LARGEST
        image = _text_to_image(text, light_terminal=False)
    else:
        assert set(text) - {"\n"} <= set(QUADRANT_CELLS)
        image = paint_quadrants(text)
    barcodes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode, try_invert=False)
    assert [b.text for b in barcodes] == [data]


def test_no_drawing_when_nothing_fits() -> None:
    assert qr.render_qr_text_fitting(LARGEST, columns=60) is None
    assert qr.render_qr_text_fitting("x" * 2900) is None  # beyond any QR code's capacity


# --- the codewords (bot.ui.qr_encode.py) ------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=2400), level=st.sampled_from((*qr.LEVELS, ERROR_CORRECT_Q, ERROR_CORRECT_H)))
def test_codewords_are_qrcodes_own(raw: bytes, level: int) -> None:
    """Data and error correction, byte for byte what qrcode computes, at every version that holds the data."""
    smallest = qr._smallest_version(len(raw), level)
    if smallest is None:
        return
    for version in sorted({smallest, min(40, smallest + 1), 40}):
        segment = qrcode.util.QRData(raw, mode=qrcode.util.MODE_8BIT_BYTE, check_data=False)
        assert codewords(raw, version, level) == qrcode.util.create_data(version, level, [segment])


def test_data_that_does_not_fit_the_version_is_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        codewords(b"x" * 30, 1, ERROR_CORRECT_M)


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(min_size=1, max_size=2300), mask=st.integers(0, 7))
def test_the_matrix_is_qrcodes_own(raw: bytes, mask: int) -> None:
    """Data placed by the cached walk: module for module what qrcode's own placement draws."""
    version = qr._smallest_version(len(raw), ERROR_CORRECT_M)
    assume(version is not None)
    segment = qrcode.util.QRData(raw, mode=qrcode.util.MODE_8BIT_BYTE, check_data=False)
    made = []
    for kind in (qrcode.QRCode, QRCodeLaidOut):
        code = kind(version=version, error_correction=ERROR_CORRECT_M, border=0, mask_pattern=mask)
        code.add_data(segment)
        code.make(fit=False)
        made.append(code.get_matrix())
    assert made[0] == made[1]
