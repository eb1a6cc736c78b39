"""A byte-mode QR code as qrcode makes it, in a fraction of the time: the codewords and their placement.

The codewords: qrcode computes the Reed-Solomon error correction with a ``Polynomial`` object per
division step (a recursive ``__mod__`` that builds a new list and object per data byte) and writes the
data one bit at a time: about 70 % of the render time of the largest key (issue 18). Here the data bits
are one integer, and the remainder is a shift register in one integer, XORed with the generator's
multiple (a table per length). The arithmetic is the QR standard's; the tables, the generator
polynomials and the block layout are qrcode's own (``qrcode.base``, ``qrcode.LUT``), and
tests/bot/test_qr.py checks the codewords are qrcode's, byte for byte, across versions and levels.

The placement: qrcode walks the zigzag of a version's free modules and calls the mask function for
each of them, every time (a third of what was left). `QRCodeLaidOut` walks it once per version and
mask, and then only sets the bits; tests/bot/test_qr.py checks the matrix is qrcode's.
"""

from __future__ import annotations

from array import array
from functools import cache

import qrcode
from qrcode import LUT, base, util

PAD_BYTES = (0xEC, 0x11)  # the standard's alternating pad codewords
_EXP = [base.EXP_TABLE[i % 255] for i in range(2 * 255)]  # antilog of a sum of two logs: no "% 255" in the loop
_LOG = base.LOG_TABLE


@cache
def _multiples(ec_count: int) -> tuple[int, ...]:
    """For each byte f, f times the generator polynomial (after its leading 1), its coefficients
    packed into one integer, the first the most significant byte: one XOR per step of the division."""
    logs = [_LOG[c] for c in LUT.rsPoly_LUT[ec_count][1:]]
    rows = [0] + [int.from_bytes(bytes(_EXP[_LOG[f] + g] for g in logs), "big") for f in range(1, 256)]
    return tuple(rows)


def error_correction(data: list[int], ec_count: int) -> list[int]:
    """The remainder of data(x)·x^ec_count divided by the generator polynomial: the block's EC codewords.

    The remainder is a shift register held as one integer of ec_count bytes."""
    multiples = _multiples(ec_count)
    top, mask = 8 * (ec_count - 1), (1 << 8 * ec_count) - 1
    remainder = 0
    for byte in data:
        remainder = ((remainder << 8) & mask) ^ multiples[byte ^ (remainder >> top)]
    return list(remainder.to_bytes(ec_count, "big"))


def data_codewords(raw: bytes, version: int, capacity: int) -> bytes:
    """One byte-mode segment (mode, count, data), the terminator, bit padding and pad bytes, as bytes."""
    count_bits: int = util.length_in_bits(util.MODE_8BIT_BYTE, version)
    mode: int = util.MODE_8BIT_BYTE
    bits: int = (mode << count_bits | len(raw)) << 8 * len(raw) | int.from_bytes(raw, "big")
    length = 4 + count_bits + 8 * len(raw)
    limit = 8 * capacity
    if length > limit:
        raise ValueError(f"{len(raw)} bytes do not fit in version {version}")
    terminator = min(4, limit - length)
    length += terminator
    padding = -length % 8
    whole = (bits << (terminator + padding)).to_bytes((length + padding) // 8, "big")
    return whole + bytes(PAD_BYTES[i % 2] for i in range(capacity - len(whole)))


def codewords(raw: bytes, version: int, level: int) -> list[int]:
    """What ``qrcode.util.create_data(version, level, [QRData(raw, MODE_8BIT_BYTE)])`` returns."""
    blocks = base.rs_blocks(version, level)
    data = data_codewords(raw, version, sum(block.data_count for block in blocks))
    data_blocks: list[list[int]] = []
    ec_blocks: list[list[int]] = []
    offset = 0
    for block in blocks:
        chunk = list(data[offset : offset + block.data_count])
        offset += block.data_count
        data_blocks.append(chunk)
        ec_blocks.append(error_correction(chunk, block.total_count - block.data_count))
    # Interleaved: the first codeword of every block, then the second, ... (blocks differ by one at most).
    out = [b[i] for i in range(max(map(len, data_blocks))) for b in data_blocks if i < len(b)]
    out += [b[i] for i in range(max(map(len, ec_blocks))) for b in ec_blocks if i < len(b)]
    return out


# (modules per side, mask pattern) -> the data modules in placement order: rows, columns, and whether
# the mask flips each (compact arrays and one integer's bits: the largest version has 25 000 of them).
# The modules the function patterns take (finders, timing, alignment, format and version information)
# depend on the version alone, so the walk is the same for every code of that version and mask.
_PLACEMENT: dict[tuple[int, int], tuple[array[int], array[int], int]] = {}


def _walk(modules: list[list[bool | None]], mask_pattern: int) -> tuple[array[int], array[int], int]:
    """qrcode's zigzag over the free modules (two columns at a time, up then down, from the right)."""
    size = len(modules)
    mask = util.mask_func(mask_pattern)
    rows, cols, masked = array("H"), array("H"), []
    row, step = size - 1, -1
    for right in range(size - 1, 0, -2):
        col = right - 1 if right <= 6 else right  # the vertical timing pattern's column is skipped
        while True:
            for c in (col, col - 1):
                if modules[row][c] is None:
                    rows.append(row)
                    cols.append(c)
                    masked.append("1" if mask(row, c) else "0")
            row += step
            if row < 0 or row >= size:
                row -= step
                step = -step
                break
    return rows, cols, int("".join(masked), 2)  # the flips as bits, the first module's the highest


class QRCodeLaidOut(qrcode.QRCode):  # type: ignore[misc]  # qrcode ships no type information
    """qrcode's QRCode with the data placed by a walk made once per version and mask."""

    def map_data(self, data: list[int], mask_pattern: int) -> None:
        modules = self.modules
        key = (len(modules), mask_pattern)
        placement = _PLACEMENT.get(key)
        if placement is None:
            placement = _PLACEMENT[key] = _walk(modules, mask_pattern)
        rows, cols, masked = placement
        # The data's bits, then light remainder bits, XORed with the mask's: one string of 0 and 1.
        count = len(rows)
        bits = int.from_bytes(bytes(data), "big") << (count - 8 * len(data))
        dark = format(bits ^ masked, f"0{count}b")
        for row, col, bit in zip(rows, cols, dark, strict=True):
            modules[row][col] = bit == "1"
