"""Routing rules: where a case goes, given the country its content is hosted in."""

from __future__ import annotations

from dataclasses import dataclass, field

from openhotline.config import Settings
from openhotline.takedown.models import ReferralKind


@dataclass(frozen=True)
class RoutingRules:
    """Own countries, partner hotlines by country, police destinations, police-first hold."""

    own_countries: frozenset[str]
    partner_hotlines: dict[str, str] = field(default_factory=dict)
    police_destination: str = "national-police"
    international_police_destination: str = "interpol-icse"
    police_first: bool = False

    @classmethod
    def from_settings(cls, s: Settings) -> RoutingRules:
        """Rules from OPENHOTLINE_* settings."""
        return cls(
            own_countries=frozenset(c.upper() for c in s.own_countries),
            partner_hotlines={k.upper(): v for k, v in s.partner_hotlines.items()},
            police_destination=s.police_destination,
            international_police_destination=s.international_police_destination,
            police_first=s.police_first,
        )


@dataclass(frozen=True)
class Route:
    """The decision for one case: notice the host or not (held or not), and referrals."""

    notice: bool
    hold_notice: bool
    referrals: tuple[tuple[ReferralKind, str], ...]
    reason: str


def decide(rules: RoutingRules, country: str | None) -> Route:
    """Own country: notice + police; partner country: referral only; else notice + Interpol."""
    cc = (country or "").upper()
    if cc and cc in rules.own_countries:
        return Route(
            notice=True,
            hold_notice=rules.police_first,
            referrals=((ReferralKind.POLICE, rules.police_destination),),
            reason=f"hosted in own country {cc}",
        )
    if cc and cc in rules.partner_hotlines:
        return Route(
            notice=False,
            hold_notice=False,
            referrals=((ReferralKind.PARTNER_HOTLINE, rules.partner_hotlines[cc]),),
            reason=f"hosted in partner country {cc}",
        )
    return Route(
        notice=True,
        hold_notice=False,
        referrals=((ReferralKind.INTERNATIONAL_POLICE, rules.international_police_destination),),
        reason=f"hosted in {cc or 'an unknown country'}",
    )
