"""URL canonicalisation: many spellings of one resource become one canonical URL.

Follows RFC 3986 normalisation plus the WHATWG URL rules that browsers apply to http(s)
(backslashes as slashes, numeric IPv4 host forms), so that duplicates of one case merge
while URLs of different resources never do.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_BYTES = 4096

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
_PATH_SAFE = _UNRESERVED | _SUB_DELIMS | frozenset(":@/")
_QUERY_PART_SAFE = (_UNRESERVED | _SUB_DELIMS | frozenset(":@/?")) - frozenset("&=")
_USERINFO_SAFE = (_UNRESERVED | _SUB_DELIMS | frozenset(":")) - frozenset("@")
_HEX = "0123456789ABCDEFabcdef"
_HOST_ASCII = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_STRIP_CHARS = "".join(chr(c) for c in range(0x21)) + "\x7f"

# Query parameters that only track who clicked where; they never select a resource.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "twclid",
        "ttclid",
        "si",
        "ref_src",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")


class InvalidURLError(ValueError):
    """The text is not a usable http(s) URL; the message says why, for the reporter."""


@dataclass(frozen=True)
class CanonicalURL:
    """A canonical http(s) URL and its parts."""

    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    query: str


def _normalise_component(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case other escapes, escape the rest."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "%" and _is_escape(text, i):
            byte = int(text[i + 1 : i + 3], 16)
            decoded = chr(byte)
            if byte < 0x80 and decoded in _UNRESERVED:
                out.append(decoded)
            else:
                out.append("%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _is_escape(text: str, i: int) -> bool:
    return i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: resolve '.' and '..' segments."""
    segments = path.split("/")
    out: list[str] = []
    for idx, seg in enumerate(segments):
        last = idx == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    if not result.startswith("/"):
        result = "/" + result
    return result


def _parse_ipv4_number(part: str) -> int | None:
    if part == "":
        return None
    base = 10
    digits = part
    if len(part) >= 2 and part[:2] in ("0x", "0X"):
        base, digits = 16, part[2:]
        if digits == "":
            return 0
    elif len(part) >= 2 and part[0] == "0":
        base, digits = 8, part[1:]
    allowed = {10: "0123456789", 8: "01234567", 16: "0123456789abcdefABCDEF"}[base]
    if not digits or any(c not in allowed for c in digits):
        return None
    return int(digits, base)


def parse_ipv4_host(host: str) -> str | None:
    """Parse WHATWG IPv4 forms (decimal, octal, hex, 1-4 parts) to dotted quad, else None.

    Raises InvalidURLError when the host looks numeric but is out of range, as browsers do.
    """
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts or len(parts) > 4:
        if parts and _parse_ipv4_number(parts[-1]) is not None:
            raise InvalidURLError("invalid IPv4 address")
        return None
    if _parse_ipv4_number(parts[-1]) is None:
        return None
    numbers: list[int] = []
    for part in parts:
        value = _parse_ipv4_number(part)
        if value is None:
            raise InvalidURLError("invalid IPv4 address")
        numbers.append(value)
    if any(v > 255 for v in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidURLError("invalid IPv4 address")
    address = numbers[-1]
    for i, value in enumerate(numbers[:-1]):
        address += value * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(address))


def canonical_host(raw_host: str) -> str:
    """Return the canonical form of a host: lower-case, IDNA A-labels, normalised IPs."""
    host = raw_host
    if "%" in host:
        host = _percent_decode(host)
    if host.startswith("[") and host.endswith("]"):
        try:
            addr = ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise InvalidURLError("invalid IPv6 address") from exc
        return f"[{addr.compressed}]"
    host = host.rstrip(".") if host != "." else host
    if not host:
        raise InvalidURLError("URL has no host name")
    host = host.replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    if host.isascii():
        host = host.lower()
    else:
        try:
            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise InvalidURLError("invalid international host name") from exc
    ipv4 = parse_ipv4_host(host)
    if ipv4 is not None:
        return ipv4
    if len(host) > 253 or not _HOST_ASCII.match(host):
        raise InvalidURLError("invalid host name")
    if any(len(label) > 63 for label in host.split(".")):
        raise InvalidURLError("invalid host name (label over 63 characters)")
    return host


def _percent_decode(text: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%" and _is_escape(text, i):
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(text[i].encode("utf-8", "surrogatepass"))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidURLError("invalid host name") from exc


def is_tracking_param(key: str) -> bool:
    """True when a query parameter only tracks clicks and never selects content."""
    k = _percent_decode_lenient(key).lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def _percent_decode_lenient(text: str) -> str:
    try:
        return _percent_decode(text)
    except InvalidURLError:
        return text


def _canonical_query(query: str) -> str:
    parts: list[str] = []
    for piece in query.split("&"):
        if piece == "":
            continue
        key, sep, value = piece.partition("=")
        if is_tracking_param(key):
            continue
        norm_key = _normalise_component(key, _QUERY_PART_SAFE)
        norm_value = _normalise_component(value, _QUERY_PART_SAFE | frozenset("="))
        parts.append(norm_key + sep + norm_value)
    return "&".join(parts)


def _split(text: str) -> SplitResult:
    try:
        parts = urlsplit(text)
        _ = parts.port  # urlsplit validates the port lazily
    except ValueError as exc:
        raise InvalidURLError(f"unparseable URL: {exc}") from exc
    return parts


# The common shape of a reported URL: lower-case scheme, a host name (no IP address, no
# user, no trailing dot), an optional port, a path and query of characters that need no
# escaping, no fragment. For it `_fast` gives what the full rules give, without urlsplit,
# per-character escaping or the host checks (tests prove the two equal on random URLs).
_FAST = re.compile(
    r"(https?)://"
    r"((?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)"  # last label starts with a letter: no IPv4
    r"(?::([0-9]{1,5}))?"
    r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?"
    r"(?:\?([A-Za-z0-9\-._~!$&'()*+,;=:@/?]*))?",
    re.ASCII,
)


def _fast(raw: str) -> CanonicalURL | None:
    """Canonicalise the common shape quickly, or return None for the full rules."""
    m = _FAST.fullmatch(raw)
    if m is None or len(raw) > MAX_URL_BYTES:
        return None
    scheme, host, port_text, path, query = m.groups()
    if len(host) > 253 or (len(host) > 63 and any(len(lb) > 63 for lb in host.split("."))):
        return None
    host = host.lower()
    port: int | None = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            return None
        if port == DEFAULT_PORTS[scheme]:
            port = None
    if not path:
        path = "/"
    elif "/." in path:
        path = remove_dot_segments(path)
    if query:
        kept = []
        for piece in query.split("&"):
            if piece and not _is_tracking_plain(piece.partition("=")[0]):
                kept.append(piece)
        query = "&".join(kept)
    else:
        query = ""
    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"
    return CanonicalURL(url=url, scheme=scheme, host=host, port=port, path=path, query=query)


def _is_tracking_plain(key: str) -> bool:
    # No '%' in the fast path's query, so the key needs no decoding.
    k = key.lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def canonicalize(raw: str) -> CanonicalURL:
    """Canonicalise an http(s) URL; raise InvalidURLError (and nothing else) when unusable."""
    if not isinstance(raw, str):
        raise InvalidURLError("URL must be text")
    fast = _fast(raw)
    if fast is not None:
        return fast
    return canonicalize_full(raw)


def canonicalize_full(raw: str) -> CanonicalURL:
    """Canonicalise by the full rules, without the fast path (`canonicalize` is the entry)."""
    if not isinstance(raw, str):
        raise InvalidURLError("URL must be text")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES:
        raise InvalidURLError(f"URL longer than {MAX_URL_BYTES} bytes")
    # Browsers drop tabs and newlines anywhere, and controls and spaces at either end.
    text = raw.replace("\t", "").replace("\n", "").replace("\r", "").strip(_STRIP_CHARS)
    if not text:
        raise InvalidURLError("empty URL")
    scheme_match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", text)
    # A URL without its scheme ("example.com/page", "//host/", "host:8080/x") is refused
    # rather than guessed: a guess reports, lists and notifies a resource nobody named.
    if scheme_match is None or re.match(r"^\d+([/?#]|$)", text[scheme_match.end() :]):
        raise InvalidURLError(
            "URL must start with http:// or https:// (for example https://example.com/page)"
        )
    if scheme_match.group(1).lower() not in DEFAULT_PORTS:
        scheme_name = scheme_match.group(1).lower()
        raise InvalidURLError(f"only http and https URLs can be reported, not {scheme_name}:")
    scheme = text[: text.index(":")].lower()
    # Backslashes count as slashes before the query (WHATWG URL standard); more than two
    # slashes mean an empty host ("http:///path"), which is refused, not repaired.
    head, qmark, tail = text[text.index(":") + 1 :].partition("?")
    head = head.replace("\\", "/")
    if head.startswith("///") or not head.startswith("//"):
        raise InvalidURLError("URL has no host name (write it as http://host/path)")
    rest = head + qmark + tail
    parts = _split(scheme + ":" + rest)
    netloc = parts.netloc
    userinfo = ""
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
    host_text, port = _split_host_port(netloc)
    host = canonical_host(host_text)
    if port is not None and port == DEFAULT_PORTS[scheme]:
        port = None
    path = parts.path or "/"
    path = remove_dot_segments(_normalise_component(path, _PATH_SAFE))
    query = _canonical_query(parts.query)
    netloc_out = host if port is None else f"{host}:{port}"
    if userinfo:
        netloc_out = _normalise_component(userinfo, _USERINFO_SAFE) + "@" + netloc_out
    url = f"{scheme}://{netloc_out}{path}"
    if query:
        url += "?" + query
    if len(url.encode("ascii")) > MAX_URL_BYTES * 3:
        raise InvalidURLError("URL too long")
    return CanonicalURL(url=url, scheme=scheme, host=host, port=port, path=path, query=query)


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise InvalidURLError("invalid IPv6 address")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and not rest.startswith(":"):
            raise InvalidURLError("invalid characters after IPv6 address")
    else:
        host, sep, port_text_raw = netloc.rpartition(":")
        if not sep:
            host, port_text = netloc, None
        else:
            port_text = port_text_raw
    if port_text is None or port_text == "":
        return host, None
    if not port_text.isascii() or not port_text.isdigit():
        raise InvalidURLError("invalid port")
    port = int(port_text)
    if port > 65535:
        raise InvalidURLError("port out of range")
    return host, port


def canonicalize_url(raw: str) -> str:
    """Return only the canonical URL string (see canonicalize)."""
    return canonicalize(raw).url
