"""Pydantic output shapes of the media API."""

from __future__ import annotations

from pydantic import BaseModel

from openhotline.media.hashing import MediaHashes


class HashesOut(BaseModel):
    """The hashes of one uploaded image."""

    md5: str
    sha1: str
    sha256: str
    pdq: str
    pdq_quality: int
    weak: bool
    format: str
    width: int
    height: int
    frame_count: int
    frame_pdqs: list[str]

    @classmethod
    def of(cls, h: MediaHashes) -> HashesOut:
        """Build from the hashing result."""
        return cls(
            md5=h.md5, sha1=h.sha1, sha256=h.sha256, pdq=h.pdq, pdq_quality=h.pdq_quality,
            weak=h.weak, format=h.format, width=h.width, height=h.height,
            frame_count=h.frame_count, frame_pdqs=h.frame_pdqs,
        )  # fmt: skip


class ErrorOut(BaseModel):
    """Every 4xx answer has this shape."""

    error: str
    detail: list[str] = []
