"""Routed partner-hotline referrals (takedown) are queued for the peer, with the trace."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import FederationPeer, Settings
from openhotline.federation import service
from openhotline.federation.models import OutboxMessage, Referral
from openhotline.takedown.models import Referral as TakedownReferral
from openhotline.takedown.models import ReferralKind
from openhotline.trace.models import HostingTrace
from tests.blocklist.helpers import confirmed_case, confirmed_item


def test_takedown_referrals_are_dispatched_once_with_trace(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    from openhotline.media.models import CaseItem

    peers = {"NL": FederationPeer(base_url="http://127.0.0.1:9", api_key="k", public_key="x")}
    configured = settings.model_copy(update={"federation_peers": peers})
    with session_factory.begin() as s:
        case = confirmed_case(s, "http://hosted-nl.example.test/a")
        item = confirmed_item(s, 5)
        s.add(CaseItem(case_id=case.id, item_id=item.id))
        s.add(
            HostingTrace(
                case_id=case.id,
                host="hosted-nl.example.test",
                ip="192.0.2.7",
                country="NL",
                asn=64501,
            )
        )
        elsewhere = confirmed_case(s, "http://hosted-zz.example.test/b")
        for c, cc in ((case, "NL"), (elsewhere, "ZZ")):
            s.add(
                TakedownReferral(
                    case_id=c.id,
                    kind=ReferralKind.PARTNER_HOTLINE,
                    destination=f"hotline-{cc}",
                    country=cc,
                )
            )
    with session_factory.begin() as s:
        assert service.dispatch_takedown_referrals(s, configured) == 1
    with session_factory.begin() as s:
        assert service.dispatch_takedown_referrals(s, configured) == 0
        rows = {r.country: r for r in s.execute(select(TakedownReferral)).scalars()}
        assert rows["NL"].status == "sent" and rows["ZZ"].status == "pending"
        assert "no federation peer" in (rows["ZZ"].detail or "")
        ref = s.execute(select(Referral)).scalar_one()
        body = json.loads(s.execute(select(OutboxMessage.body)).scalar_one())
    assert ref.peer == "NL" and body["referral_id"] == ref.referral_id
    assert body["trace"]["country"] == "NL" and body["trace"]["asn"] == 64501
    assert body["items"][0]["sha256"] == item.sha256 and body["media_included"] is False
