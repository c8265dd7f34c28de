"""Twilio-style webhook signatures (X-Twilio-Signature).

The signed string is the full URL the provider called (scheme, host, port if any, path and
query) followed by every POST parameter, sorted by name, as name + value with no
separators (a repeated name contributes each of its values, in sorted order). The
signature is base64(HMAC-SHA1(auth token, that string)). Compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def canonical(url: str, params: Iterable[tuple[str, str]]) -> str:
    """The string that is signed: url + name1 + value1 + name2 + value2 ... (sorted)."""
    return url + "".join(name + value for name, value in sorted(params))


def compute(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The base64 HMAC-SHA1 signature of a request."""
    digest = hmac.new(
        auth_token.encode("utf-8"), canonical(url, params).encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str) -> bool:
    """True when the given signature matches (false for an empty token or signature)."""
    if not auth_token or not given:
        return False
    expected = compute(auth_token, url, list(params))
    return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("ascii", "replace"))
