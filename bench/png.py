"""A bar chart as PNG without plotting libraries: zlib + struct, a 3x5 digit font.

One horizontal bar per scenario, its length the log10 of requests/s relative to the
bare route (1x fills the width, every decade below is a step); the row number at the
left matches the markdown table's order, the ratio is written at the bar's end.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

type Rgb = tuple[int, int, int]

# 3x5 glyphs, rows top to bottom, bits left to right.
_FONT: dict[str, tuple[int, ...]] = {
    "0": (0b111, 0b101, 0b101, 0b101, 0b111),
    "1": (0b010, 0b110, 0b010, 0b010, 0b111),
    "2": (0b111, 0b001, 0b111, 0b100, 0b111),
    "3": (0b111, 0b001, 0b111, 0b001, 0b111),
    "4": (0b101, 0b101, 0b111, 0b001, 0b001),
    "5": (0b111, 0b100, 0b111, 0b001, 0b111),
    "6": (0b111, 0b100, 0b111, 0b101, 0b111),
    "7": (0b111, 0b001, 0b010, 0b010, 0b010),
    "8": (0b111, 0b101, 0b111, 0b101, 0b111),
    "9": (0b111, 0b101, 0b111, 0b001, 0b111),
    ".": (0b000, 0b000, 0b000, 0b000, 0b010),
    "x": (0b000, 0b101, 0b010, 0b101, 0b000),
    "%": (0b101, 0b001, 0b010, 0b100, 0b101),
    "-": (0b000, 0b000, 0b111, 0b000, 0b000),
    "e": (0b000, 0b111, 0b111, 0b100, 0b111),
    " ": (0, 0, 0, 0, 0),
}
WHITE: Rgb = (255, 255, 255)
INK: Rgb = (40, 40, 40)
GRID: Rgb = (220, 220, 220)
BAR: Rgb = (70, 130, 180)
BARE_BAR: Rgb = (160, 160, 160)
DECADES = 5  # 1x down to 0.001%


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Rgb) -> None:
        for row in range(max(0, y), min(self.height, y + h)):
            start = (row * self.width + max(0, x)) * 3
            end = (row * self.width + min(self.width, x + w)) * 3
            if end > start:
                self.pixels[start:end] = bytes(color) * ((end - start) // 3)

    def text(self, x: int, y: int, value: str, scale: int = 2, color: Rgb = INK) -> None:
        for char in value:
            glyph = _FONT.get(char, _FONT[" "])
            for row, bits in enumerate(glyph):
                for col in range(3):
                    if bits & (0b100 >> col):
                        self.rect(x + col * scale, y + row * scale, scale, scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * self.width * 3 : (row + 1) * self.width * 3])
            for row in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def ratio_label(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.1 else f"{value * 100:.2g}%"


def bar_chart(ratios: Sequence[float | None], width: int = 900) -> bytes:
    """PNG bytes: one bar per ratio (None draws no bar), on a log scale of decades."""
    row_height, top, left, right = 28, 20, 50, 110
    height = top * 2 + row_height * max(1, len(ratios))
    canvas = Canvas(width, height)
    plot = width - left - right
    for decade in range(DECADES + 1):
        x = left + plot - decade * plot // DECADES
        canvas.rect(x, top - 6, 1, height - 2 * top + 12, GRID)
    for index, value in enumerate(ratios):
        y = top + index * row_height
        canvas.text(8, y + 8, str(index + 1))
        if value is None or value <= 0:
            canvas.text(left + 4, y + 8, "-")
            continue
        decades_below = min(DECADES, max(0.0, -math.log10(value)))
        length = max(2, round(plot * (1 - decades_below / DECADES)))
        canvas.rect(left, y + 4, length, row_height - 8, BARE_BAR if index == 0 else BAR)
        canvas.text(left + length + 6, y + 8, ratio_label(value))
    return canvas.png()
