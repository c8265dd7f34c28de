"""Shared helpers of the Report Remove tests: generated images and bad files only."""

from __future__ import annotations

import struct
import zlib

from openhotline.reportremove import service

LIMITS = service.UploadLimits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def bomb_png(side: int = 60_000) -> bytes:
    """A tiny PNG claiming side x side pixels (a decompression bomb: refused before decoding)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def text_as_jpg() -> bytes:
    """The bytes of a text file someone renamed to .jpg."""
    return b"This is a plain text file, renamed to picture.jpg.\n" * 20
