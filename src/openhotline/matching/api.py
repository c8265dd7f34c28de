"""JSON routes of matching: match hashes or an image against the enabled banks (partners)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openhotline.errors import InvalidError, RejectedError
from openhotline.matching.engine import MatchEngine
from openhotline.matching.matcher import FeatureSource, QueryHash, match
from openhotline.matching.models import HashType
from openhotline.matching.rules import describe
from openhotline.matching.schemas import BankMatchesOut, MatchIn, MatchOut, MatchResultOut
from openhotline.matching.service import Match, owned_banks
from openhotline.media import service as media_service
from openhotline.media.api import ERRORS, media_error, read_upload
from openhotline.media.decode import MediaError
from openhotline.media.schemas import HashesOut
from openhotline.partners.deps import MatchPartnerDep
from openhotline.web.deps import services_of
from openhotline.web.errors import validation_details

if TYPE_CHECKING:
    from openhotline.matching.features import Features

router = APIRouter(prefix="/api/v1", tags=["matching"])

MATCH_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": MatchIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


def get_engine(request: Request) -> MatchEngine:
    """The app's match engine (created on first use; indexes persist under data_dir)."""
    return services_of(request).matcher


def _result(
    per_bank: dict[str, list[Match]], hashes: HashesOut | None, owned: set[str]
) -> MatchResultOut:
    """Matches per bank; an entry's source (a partner's identity) only in the caller's banks."""
    banks = [
        BankMatchesOut(
            bank=name,
            matches=[
                MatchOut(
                    entry_id=m.entry_id,
                    hash_type=m.hash_type,
                    hash=m.hash_value,
                    distance=m.distance,
                    classification=m.classification,
                    source=m.source if name in owned else None,
                    matched_by=m.query,
                    matched_how=describe(m.query, m.inliers),
                    inliers=m.inliers,
                )
                for m in ms
            ],
        )
        for name, ms in per_bank.items()
    ]
    return MatchResultOut(matched=bool(banks), banks=banks, hashes=hashes)


def _run(
    factory: sessionmaker[Session],
    engine: MatchEngine,
    queries: list[QueryHash],
    org: int | None,
    image: bytes | None = None,
) -> tuple[dict[str, list[Match]], set[str]]:
    features = None if image is None else _features_of(image)
    with factory() as session:
        return match(session, engine, queries, features=features), owned_banks(session, org)


def _features_of(image: bytes) -> FeatureSource:
    """The uploaded image's local features, computed only if a bank needs them."""

    def compute() -> list[tuple[str, Features]]:
        from openhotline.matching.features import query_features

        try:
            return query_features(image)
        except MediaError:
            return []  # it was decoded for PDQ already; nothing more to find

    return compute


@router.post(
    "/match",
    response_model=MatchResultOut,
    responses=ERRORS,
    openapi_extra=MATCH_DOC,
    summary="Match hashes (JSON) or an image (upload) against the enabled banks",
)
async def match_route(request: Request, partner: MatchPartnerDep) -> MatchResultOut:
    """Matches per bank with distances; an image is hashed with its robust candidates."""
    engine = get_engine(request)
    factory = services_of(request).sessionmaker
    ctype = request.headers.get("content-type", "").lower()
    hashes_out: HashesOut | None = None
    image: bytes | None = None
    if "json" in ctype:
        raw = await request.body()
        try:
            body = MatchIn.model_validate(json.loads(raw.decode("utf-8")))
            pairs = body.validated()
        except ValidationError as exc:
            raise InvalidError("invalid match request", validation_details(exc)) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RejectedError("body is not valid UTF-8 JSON") from exc
        except ValueError as exc:
            raise InvalidError("invalid match request", str(exc).split("; ")) from exc
        queries = [QueryHash(t, HashType(t), v) for t, v in pairs]
    else:
        data = await read_upload(request)
        try:
            q = await run_in_threadpool(media_service.query_image, data)
        except MediaError as exc:
            raise media_error(exc) from exc
        h = q.hashes
        hashes_out = HashesOut.of(h)
        image = data
        queries = [
            QueryHash("md5", HashType.MD5, h.md5),
            QueryHash("sha1", HashType.SHA1, h.sha1),
            QueryHash("sha256", HashType.SHA256, h.sha256),
        ] + [QueryHash(c.label, HashType.PDQ, c.pdq, c.quality) for c in q.candidates]
    per_bank, owned = await run_in_threadpool(_run, factory, engine, queries, partner.org_id, image)
    return _result(per_bank, hashes_out, owned)
