"""Webhook signatures, caller identity normalisation, yearly caller keys, channel settings."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from openhotline.config import Settings
from openhotline.helpline import signature
from openhotline.helpline.callerkey import (
    CallerKeys,
    IdentityError,
    normalise_identity,
    normalise_phone,
)

# The worked example of Twilio's security documentation (also used by its client libraries).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_the_documented_example_signature() -> None:
    assert signature.compute("12345", DOC_URL, DOC_PARAMS.items()) == DOC_SIGNATURE
    assert signature.verify("12345", DOC_URL, DOC_PARAMS.items(), DOC_SIGNATURE)
    # Any change of token, URL, name or value breaks it; so does an empty header or token.
    assert not signature.verify("12346", DOC_URL, DOC_PARAMS.items(), DOC_SIGNATURE)
    assert not signature.verify("12345", DOC_URL + "&x=1", DOC_PARAMS.items(), DOC_SIGNATURE)
    tampered = {**DOC_PARAMS, "Digits": "1235"}
    assert not signature.verify("12345", DOC_URL, tampered.items(), DOC_SIGNATURE)
    assert not signature.verify("12345", DOC_URL, DOC_PARAMS.items(), "")
    assert not signature.verify("", DOC_URL, DOC_PARAMS.items(), DOC_SIGNATURE)
    assert not signature.verify("12345", DOC_URL, DOC_PARAMS.items(), "not base64 ✓")


def _reference(token: str, url: str, params: dict[str, str]) -> str:
    """The documented steps, written out independently of the module."""
    data = url
    for name in sorted(params):
        data += name + params[name]
    mac = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(params=st.dictionaries(names, values, max_size=8), data=st.data())
def test_canonicalisation_sorts_by_name_whatever_the_order(
    params: dict[str, str], data: st.DataObject
) -> None:
    url = "https://helpline.example/helpline/webhooks/sms"
    shuffled = data.draw(st.permutations(list(params.items())))
    expected = _reference("tok", url, params)
    assert signature.compute("tok", url, shuffled) == expected
    assert signature.verify("tok", url, shuffled, expected)


@settings(max_examples=100, deadline=None)
@given(params=st.dictionaries(names, values, min_size=1, max_size=6), extra=values)
def test_changing_any_value_breaks_the_signature(params: dict[str, str], extra: str) -> None:
    url = "https://helpline.example/hook"
    good = signature.compute("tok", url, params.items())
    name = sorted(params)[0]
    changed = {**params, name: params[name] + extra + "x"}
    assert not signature.verify("tok", url, changed.items(), good)


@pytest.mark.parametrize(
    "raw",
    ["+447700900123", "07700900123", "447700900123", "0044 7700 900123", "+44 (7700) 900-123"],
)
def test_every_format_of_a_number_is_one_identity(raw: str) -> None:
    assert normalise_identity("sms", raw, "44") == "tel:+447700900123"
    assert normalise_identity("whatsapp", f"whatsapp:{raw}", "44") == "tel:+447700900123"


@pytest.mark.parametrize("raw", ["", "hello", "+12", "0", "+4477009001234567890", "++44770"])
def test_what_is_not_a_number_is_refused(raw: str) -> None:
    with pytest.raises(IdentityError):
        normalise_phone(raw, "44")
    with pytest.raises(IdentityError):
        normalise_identity("chat", "+447700900123", "44")


def test_caller_keys_rotate_each_calendar_year() -> None:
    keys = CallerKeys(bytes(range(32)))
    ident = "tel:+447700900123"
    k2026, k2027 = keys.key(ident, 2026), keys.key(ident, 2027)
    assert len(k2026) == 64 and k2026 != k2027
    assert keys.key(ident, 2026) == k2026  # stable within a year
    assert keys.key("tel:+447700900124", 2026) != k2026
    assert "447700900123" not in k2026
    # Across the year boundary the lookup still knows last year's key, never older ones.
    assert keys.candidates(ident, 2027) == [k2027, k2026]
    assert keys.key(ident, 2025) not in keys.candidates(ident, 2027)
    # Another helpline secret gives unrelated keys.
    assert CallerKeys(bytes(range(1, 33))).key(ident, 2026) != k2026
    with pytest.raises(ValueError):
        CallerKeys(b"short")


def test_channel_settings_are_validated() -> None:
    defaults = Settings()
    assert defaults.helpline_channels == ["chat"]
    with pytest.raises(ValidationError, match="need helpline_provider_auth_token"):
        Settings(helpline_channels=["chat", "sms"])
    with pytest.raises(ValidationError, match="is not one of"):
        Settings(helpline_channels=["pigeon"])
    with pytest.raises(ValidationError, match="http"):
        Settings(helpline_provider_base_url="ftp://x")
    with pytest.raises(ValidationError, match="1 to 3 digits"):
        Settings(helpline_default_country_code="+44")
    ok = Settings(
        helpline_channels=["sms", "whatsapp"],
        helpline_provider_auth_token="t",
        helpline_provider_base_url="http://127.0.0.1:9/api/",
    )
    assert ok.helpline_provider_base_url == "http://127.0.0.1:9/api"


CHAT_TEMPLATES = ("chat_layout.html", "chat_start.html", "chat.html", "chat_message.html")


@pytest.mark.parametrize("name", CHAT_TEMPLATES)
def test_every_word_of_the_chat_pages_is_marked_for_translation(name: str) -> None:
    import re
    from pathlib import Path

    import openhotline

    text = (Path(openhotline.__file__).parent / "templates" / "helpline" / name).read_text()
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)  # Jinja
    text = re.sub(r"<[^>]*>", " ", text)  # tags with their attributes
    assert re.findall(r"[A-Za-z]{2,}", text) == []
