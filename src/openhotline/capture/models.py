"""Tables of capture: evidence files of a rendered capture (WARC, rendered HTML)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class ArtifactKind(StrEnum):
    """What an evidence file of a capture is."""

    WARC = "warc"  # every HTTP exchange of a rendered capture, gzipped WARC 1.1
    HTML = "html"  # the DOM as rendered after JavaScript ran


class CaptureArtifact(Base):
    """An evidence file of one capture, stored encrypted in the media store."""

    __tablename__ = "capture_artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[ArtifactKind] = mapped_column(EnumString(ArtifactKind, 20))
    url: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
