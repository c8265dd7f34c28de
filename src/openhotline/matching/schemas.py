"""Pydantic input and output shapes of the matching API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openhotline.matching.formats import normalise_hash, parse_type
from openhotline.media.schemas import HashesOut

MAX_QUERY_HASHES = 1000


class HashIn(BaseModel):
    """One hash to look up."""

    model_config = ConfigDict(extra="forbid")

    hash_type: str = Field(description="pdq, md5, sha1 or sha256")
    hash: str = Field(description="hex digest")

    @field_validator("hash_type")
    @classmethod
    def _type(cls, v: str) -> str:
        return parse_type(v).value

    @field_validator("hash")
    @classmethod
    def _hex(cls, v: str) -> str:
        return v.strip().lower()


class MatchIn(BaseModel):
    """Hashes to match against every enabled bank."""

    model_config = ConfigDict(extra="forbid")

    hashes: list[HashIn] = Field(min_length=1, max_length=MAX_QUERY_HASHES)

    def validated(self) -> list[tuple[str, str]]:
        """(type, normalised hex) pairs; raises ValueError naming the bad ones."""
        out, problems = [], []
        for i, h in enumerate(self.hashes):
            try:
                out.append((h.hash_type, normalise_hash(parse_type(h.hash_type), h.hash)))
            except ValueError as exc:
                problems.append(f"hashes.{i}.hash: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return out


class MatchOut(BaseModel):
    """One matching bank entry."""

    entry_id: int
    hash_type: str
    hash: str
    distance: int
    classification: str
    source: str | None = Field(
        None, description="the entry's provenance; only for banks the requesting partner owns"
    )
    matched_by: str = Field(description="the query hash that matched, e.g. pdq, pdq:flip_h, md5")
    matched_how: str = Field(
        "", description="the same in words, e.g. 'PDQ, embedded region 2', 'PDQ, border trimmed'"
    )
    inliers: int | None = Field(
        None, description="a local-features match (hash_type 'features'): keypoints that agreed"
    )


class BankMatchesOut(BaseModel):
    """Matches in one bank."""

    bank: str
    matches: list[MatchOut]


class MatchResultOut(BaseModel):
    """Matches per bank; for an uploaded image, also its hashes."""

    matched: bool
    banks: list[BankMatchesOut]
    hashes: HashesOut | None = None
