"""What Report Remove contributes to the published hash list: the self-generated bank.

A request's hashes are listed while its SHA-256 is a live entry of the `self-generated` bank
(an operator removing the entry delists it). The image is gone by then; the hashes came from
the request row. Provenance is the publishing hotline; nothing about the child leaves.
"""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from openhotline.matching.models import BankEntry, HashBank, HashType
from openhotline.media.hashing import WEAK_QUALITY
from openhotline.reportremove.models import RemovalRequest
from openhotline.reportremove.service import SELF_GENERATED_BANK

# sha256 -> (url, md5, sha1, pdq, classification, provenance), as blocklist lists expect.
Rows = dict[str, tuple[str | None, ...]]


def hash_list_rows(session: Session, provenance: str = "") -> Rows:
    """Listed self-generated hashes, keyed by SHA-256."""
    bank_id = select(HashBank.id).where(HashBank.name == SELF_GENERATED_BANK).scalar_subquery()
    rows = session.execute(
        select(
            RemovalRequest.sha256,
            RemovalRequest.md5,
            RemovalRequest.sha1,
            RemovalRequest.pdq,
            RemovalRequest.pdq_quality,
            BankEntry.classification,
        )
        .join(
            BankEntry,
            and_(
                BankEntry.bank_id == bank_id,
                BankEntry.hash_type == HashType.SHA256.value,
                BankEntry.hash_value == RemovalRequest.sha256,
                BankEntry.removed_at.is_(None),
            ),
        )
        .where(RemovalRequest.shared_at.is_not(None))
        .distinct()
    )
    who = provenance[:100] or None
    return {
        sha: (None, md5, sha1, pdq if quality >= WEAK_QUALITY else None, cls or None, who)
        for sha, md5, sha1, pdq, quality, cls in rows
    }
