"""FastAPI dependencies of the media domain: the encrypted media store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openhotline.media.store import MediaStore
from openhotline.web.deps import services_of


async def get_media_store(request: Request) -> MediaStore:
    """Return the configured (encrypted) media store."""
    return services_of(request).media_store


MediaStoreDep = Annotated[MediaStore, Depends(get_media_store)]
