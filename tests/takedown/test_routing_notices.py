"""Routing rules, notice templates (languages, overrides) and signed links."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhotline.takedown.models import ReferralKind
from openhotline.takedown.notices import NoticeTemplates, Outgoing, sign, verify
from openhotline.takedown.routing import RoutingRules, decide
from openhotline.takedown.service import escalation_level

RULES = RoutingRules(
    own_countries=frozenset({"GB"}),
    partner_hotlines={"DE": "hotline-de", "FR": "hotline-fr"},
)


def test_own_country_notice_and_police() -> None:
    route = decide(RULES, "gb")
    assert route.notice and not route.hold_notice
    assert route.referrals == ((ReferralKind.POLICE, "national-police"),)


def test_police_first_holds_notice() -> None:
    rules = RoutingRules(own_countries=frozenset({"GB"}), police_first=True)
    assert decide(rules, "GB").hold_notice


def test_partner_country_referral_only() -> None:
    route = decide(RULES, "DE")
    assert not route.notice
    assert route.referrals == ((ReferralKind.PARTNER_HOTLINE, "hotline-de"),)


@pytest.mark.parametrize("country", ["US", None, ""])
def test_elsewhere_notice_and_international_police(country: str | None) -> None:
    route = decide(RULES, country)
    assert route.notice
    assert route.referrals == ((ReferralKind.INTERNATIONAL_POLICE, "interpol-icse"),)


def test_escalation_steps() -> None:
    assert [escalation_level(a, 3) for a in range(1, 11)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert escalation_level(9, 0) == 0


def _entry(n: int) -> dict[str, object]:
    return {
        "case_id": n,
        "url": f"http://host-a.test/{n}",
        "reported": "2026-01-01 00:00 UTC",
        "ip": "127.0.0.1",
        "attempt": 1,
        "confirm_link": f"http://testserver/confirm/{n}",
    }


@pytest.mark.parametrize(
    ("lang", "word"), [("en", "Notice"), ("de", "Hinweis"), ("fr", "Signalement")]
)
def test_templates_in_each_language(lang: str, word: str) -> None:
    templates = NoticeTemplates()
    assert {"en", "de", "fr"} <= set(templates.languages())
    subject, body = templates.render(
        lang, {"hotline_name": "H", "entries": [_entry(1), _entry(2)], "escalation": 0, "cdn": None}
    )
    assert word in subject
    assert "http://host-a.test/1" in body and "http://host-a.test/2" in body
    assert "http://testserver/confirm/2" in body


def test_unknown_language_falls_back_to_english() -> None:
    subject, _ = NoticeTemplates().render(
        "xx", {"hotline_name": "H", "entries": [_entry(1)], "escalation": 0, "cdn": None}
    )
    assert subject.startswith("Notice")


def test_edited_templates_override_shipped(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "notice.txt.j2").write_text(
        "Subject: Custom {{ entries|length }}\nBody for {{ hotline_name }}\n"
    )
    subject, body = NoticeTemplates(tmp_path).render(
        "en", {"hotline_name": "H", "entries": [_entry(1)], "escalation": 0, "cdn": None}
    )
    assert (subject, body) == ("Custom 1", "Body for H\n")


def test_template_without_subject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "notice.txt.j2").write_text("no subject line\n")
    with pytest.raises(ValueError, match="Subject"):
        NoticeTemplates(tmp_path).render("en", {"entries": []})


def test_signed_links() -> None:
    key = b"k" * 32
    sig = sign(key, 7)
    assert verify(key, 7, sig)
    assert not verify(key, 8, sig)
    assert not verify(b"x" * 32, 7, sig)
    assert not verify(key, 7, sig[:-1] + ("0" if sig[-1] != "0" else "1"))


def test_outgoing_message_headers() -> None:
    msg = Outgoing("a@h.test", ["r@reg.test"], "de", "S", "B", "<id@x>").to_email("n@h.test")
    assert (msg["To"], msg["Cc"], msg["Content-Language"]) == ("a@h.test", "r@reg.test", "de")
