"""JSON route of vPDQ matching: a partner matches a video (its vPDQ frames, or the file)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openhotline.errors import InvalidError, RejectedError, UnavailableError
from openhotline.matching.engine import MatchEngine
from openhotline.matching.service import owned_banks
from openhotline.matching.video import VideoMatch, match_video
from openhotline.media.api import ERRORS, media_error, read_upload
from openhotline.media.decode import MediaError
from openhotline.media.video import (
    HOW_TO_ENABLE,
    VideoFrame,
    VideoUnavailableError,
    hash_video_bytes,
    parse_vpdq,
)
from openhotline.partners.deps import MatchPartnerDep
from openhotline.web.deps import services_of
from openhotline.web.errors import validation_details

router = APIRouter(prefix="/api/v1", tags=["matching"])
MAX_SIGNAL_CHARS = 4_000_000  # ~50,000 frame lines


class VideoMatchIn(BaseModel):
    """A video's vPDQ: hash-file lines or threatexchange's JSON list serialisation."""

    model_config = ConfigDict(extra="forbid")

    vpdq: str = Field(
        min_length=1,
        max_length=MAX_SIGNAL_CHARS,
        description="'frame_number,quality,pdq_hex,timestamp' lines, or a JSON list of "
        "'pdq_hex,quality,timestamp' strings (python-threatexchange's vpdq signal)",
    )


class VideoMatchOut(BaseModel):
    """One bank video the query matched."""

    bank: str
    hash: str = Field(description="the bank entry's vpdq id (SHA-256 of its frame list)")
    classification: str
    source: str | None = Field(None, description="only for banks the partner owns")
    query_share: float = Field(description="share of the query's frames that matched")
    target_share: float = Field(description="share of the bank video's frames matched")
    matched_how: str


class VideoMatchResultOut(BaseModel):
    """The bank videos matched, best first, and how many frames the query had."""

    matched: bool
    frames: int
    matches: list[VideoMatchOut]


def _run(
    factory: sessionmaker[Session], engine: MatchEngine, frames: list[VideoFrame], org: int | None
) -> tuple[list[VideoMatch], set[str]]:
    with factory() as session:
        return match_video(session, engine, frames), owned_banks(session, org)


@router.post(
    "/match/video",
    response_model=VideoMatchResultOut,
    responses={**ERRORS, 503: ERRORS[422]},
    summary="Match a video (vPDQ frames as JSON, or the file) against the enabled banks",
)
async def match_video_route(request: Request, partner: MatchPartnerDep) -> VideoMatchResultOut:
    """Matches by share of frames (each bank's vpdq thresholds); a file is hashed with vPDQ."""
    services = services_of(request)
    if "json" in request.headers.get("content-type", "").lower():
        raw = await request.body()
        try:
            body = VideoMatchIn.model_validate(json.loads(raw.decode("utf-8")))
            frames = parse_vpdq(body.vpdq)
        except ValidationError as exc:
            raise InvalidError("invalid video match request", validation_details(exc)) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RejectedError("body is not valid UTF-8 JSON") from exc
        except ValueError as exc:
            raise InvalidError("invalid vpdq frames", [str(exc)]) from exc
    else:
        data = await read_upload(request)
        try:
            frames = (await run_in_threadpool(hash_video_bytes, data)).frames
        except VideoUnavailableError as exc:
            raise UnavailableError(
                f"video matching is off on this server; send the vPDQ frames as JSON, or "
                f"ask the operator to {HOW_TO_ENABLE}"
            ) from exc
        except MediaError as exc:
            raise media_error(exc) from exc
    found, owned = await run_in_threadpool(
        _run, services.sessionmaker, services.matcher, frames, partner.org_id
    )
    return VideoMatchResultOut(
        matched=bool(found),
        frames=len(frames),
        matches=[
            VideoMatchOut(
                bank=m.bank, hash=m.digest, classification=m.classification,
                source=m.source if m.bank in owned else None,
                query_share=round(m.query_share, 4), target_share=round(m.target_share, 4),
                matched_how=m.how,
            )
            for m in found
        ],
    )  # fmt: skip
