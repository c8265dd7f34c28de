"""An item's assessment as it travels to others: police exports and referrals.

Only what the recipient needs to act: the scheme, the decided class, whether it was
automatic (and from which bank), who confirmed it (user ids, never names) and the age band.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline.assessment.models import Assessment, AssessmentKind, ItemReview, ReviewState


def _fields(grade: Assessment) -> dict[str, Any]:
    try:
        data = json.loads(grade.fields or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def item_assessment(session: Session, item_id: int) -> dict[str, Any]:
    """The item's assessment for a recipient; state "unassessed" when nobody decided yet."""
    review = session.get(ItemReview, item_id)
    if review is None or review.state != ReviewState.DECIDED:
        return {"state": "unassessed" if review is None else review.state.value}
    grades = list(
        session.scalars(
            select(Assessment).where(Assessment.item_id == item_id).order_by(Assessment.id)
        )
    )
    # The grades that agree with the decision: they carry the scheme and the age band.
    agreeing = [g for g in grades if g.classification == review.classification]
    decisive = agreeing[-1] if agreeing else (grades[-1] if grades else None)
    confirmers = sorted(
        {
            g.user_id
            for g in agreeing
            if g.user_id is not None and g.kind != AssessmentKind.AUTOMATIC
        }
    )
    bands = Counter(str(b) for g in agreeing if (b := _fields(g).get("age_band")))
    out: dict[str, Any] = {
        "state": "decided",
        "scheme": decisive.scheme if decisive else "",
        "classification": review.classification or "",
        "illegal": bool(review.illegal),
        "automatic": review.automatic,
        "confirmers": confirmers,
        "age_band": bands.most_common(1)[0][0] if bands else None,
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
    }
    if review.automatic and decisive is not None:
        out["bank"] = _fields(decisive).get("bank")
    return out
