"""The taxonomy data file, and the separation of hotline and helpline roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhotline.accounts.permissions import ROLE_PERMISSIONS, Permission
from openhotline.helpline.taxonomy import DEFAULT_PATH, TaxonomyError, load_taxonomy, parse_taxonomy

HOTLINE_MATERIAL = {
    Permission.QUEUE_VIEW,
    Permission.CASE_VIEW,
    Permission.ITEM_ASSESS,
    Permission.ITEM_REVEAL,
}
HELPLINE = {p for p in Permission if p.value.startswith("helpline.")}


def test_default_taxonomy_loads_with_chi_style_lists() -> None:
    tx = load_taxonomy()
    assert {"phone", "sms", "chat", "email", "walk_in"} <= set(tx.channels)
    assert {"silent", "test", "abusive"} <= set(tx.contact_types)
    assert "adult_about_own_behaviour" in tx.contact_types_for("prevention")
    assert "adult_about_own_behaviour" not in tx.contact_types_for("child")
    assert {"violence", "online_sexual_exploitation", "mental_health", "discrimination"} <= set(
        tx.categories
    )
    assert {"police", "social_services", "health", "hotline", "other_helpline"} == set(tx.referrals)


def test_custom_taxonomy_file(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text().replace('code = "capital"', 'code = "island"')
    path = tmp_path / "tx.toml"
    path.write_text(text)
    assert "island" in load_taxonomy(path).regions


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t + "\n[[", "not valid TOML"),
        (lambda t: t.replace("[[genders]]", "[[gendersx]]"), "[[genders]]"),
        (lambda t: t.replace('code = "male"', 'code = "female"'), "duplicated"),
        (lambda t: t.replace('code = "male"', 'code = "unknown"'), "reserved"),
        (lambda t: t.replace('modes = ["child"]', 'modes = ["elsewhere"]', 1), "modes"),
        (lambda t: t.replace('label = "Male"\n', ""), "code and a label"),
    ],
)
def test_malformed_taxonomy_is_refused(mutate: object, message: str) -> None:
    text = DEFAULT_PATH.read_text()
    with pytest.raises(TaxonomyError, match=message.replace("[", r"\[")):
        parse_taxonomy(mutate(text))  # type: ignore[operator]


def test_counsellors_never_reach_hotline_material() -> None:
    for role in ("counsellor", "helpline_supervisor"):
        assert not ROLE_PERMISSIONS[role] & HOTLINE_MATERIAL, role


def test_hotline_roles_never_reach_helpline_contacts() -> None:
    for role in ("analyst", "supervisor", "admin"):
        assert not ROLE_PERMISSIONS[role] & HELPLINE, role
