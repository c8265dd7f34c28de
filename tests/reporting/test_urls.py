"""URL canonicalisation: examples and properties (hypothesis)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from openhotline.urls import InvalidURLError, canonicalize, canonicalize_url, parse_ipv4_host

EXAMPLES = [
    ("HTTP://Example.COM/", "http://example.com/"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com", "http://example.com/"),
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),
    ("http://example.com/a/%2E%2E/c", "http://example.com/c"),
    ("http://example.com/%7Euser/%41", "http://example.com/~user/A"),
    ("http://example.com/a%2fb", "http://example.com/a%2Fb"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    ("http://example.com/ä", "http://example.com/%C3%A4"),
    ("http://example.com/#frag", "http://example.com/"),
    ("http://example.com/?b=2&a=1", "http://example.com/?b=2&a=1"),
    ("http://example.com/?utm_source=x&id=5&fbclid=y", "http://example.com/?id=5"),
    ("http://example.com/?UTM_Medium=x", "http://example.com/"),
    ("http://EXAMPLE.com./x", "http://example.com/x"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ("http://2130706433/", "http://127.0.0.1/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://0177.0.0.1/", "http://127.0.0.1/"),
    ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"),
    ("  http://example.com/x\n", "http://example.com/x"),
    ("http:\\\\example.com\\a\\b", "http://example.com/a/b"),
    ("https://user:pw@example.com/", "https://user:pw@example.com/"),
]


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES)
def test_examples(raw: str, expected: str) -> None:
    assert canonicalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,x",
        "ftp://example.com/",
        "mailto:a@b.c",
        "",
        "   ",
        "http://",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://[::1/",
        "http://256.256.256.256/",
        "http://a..b/",
        "http://example.com/" + "a" * 5000,
        # Must-refuse forms found by the hardening probes: never guessed into http://...
        "//example.com/page",
        "example.com/page",
        "example.com:8080/page",
        "127.0.0.1",
        "http:///etc/passwd",
        "https:////example.com/",
        "http:/example.com/",
        "http:example.com",
    ],
)
def test_rejected(raw: str) -> None:
    with pytest.raises(InvalidURLError):
        canonicalize(raw)


def test_ipv4_forms() -> None:
    assert parse_ipv4_host("127.1") == "127.0.0.1"
    assert parse_ipv4_host("0x7f000001") == "127.0.0.1"
    assert parse_ipv4_host("example.com") is None
    with pytest.raises(InvalidURLError):
        parse_ipv4_host("1.2.3.4.5")


def _canon_or_none(raw: str) -> str | None:
    try:
        return canonicalize_url(raw)
    except InvalidURLError:
        return None


@settings(max_examples=3000, deadline=None)
@given(st.text(max_size=300))
@example("http://[")
@example("http://%zz/")
@example("http://\udcff.com/")
@example("http://a.com/%")
def test_never_raises_anything_but_invalid_url(raw: str) -> None:
    with contextlib.suppress(InvalidURLError):
        canonicalize(raw)


URL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="#?&=")
label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
hosts = st.lists(label, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "test"]))
segments = st.lists(st.text(URL_CHARS, min_size=1, max_size=8), max_size=4)
params = st.lists(
    st.tuples(
        st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True).filter(
            lambda k: not k.startswith(("utm", "pk_", "mtm", "hsa")) and k not in {"si", "spm"}
        ),
        st.text(URL_CHARS, max_size=6),
    ),
    max_size=3,
)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_idempotent_on_any_string(raw: str) -> None:
    first = _canon_or_none(raw)
    if first is not None:
        assert canonicalize_url(first) == first


@st.composite
def resource(draw: st.DrawFn) -> tuple[str, str, list[str], list[tuple[str, str]]]:
    return (
        draw(st.sampled_from(["http", "https"])),
        draw(hosts),
        draw(segments),
        draw(params),
    )


def _build(
    scheme: str,
    host: str,
    segs: list[str],
    query: list[tuple[str, str]],
    *,
    upper: bool = False,
    port: bool = False,
    frag: str = "",
    tracking: bool = False,
    dots: bool = False,
) -> str:
    from urllib.parse import quote

    path_parts = [quote(s, safe="") for s in segs]
    if dots and path_parts:
        path_parts = [*path_parts[:-1], "x", "..", ".", path_parts[-1]]
    path = "/" + "/".join(path_parts)
    qs = [f"{k}={quote(v, safe='')}" for k, v in query]
    if tracking:
        qs = ["utm_source=news", *qs, "fbclid=abc123"]
    url = f"{scheme.upper() if upper else scheme}://{host.upper() if upper else host}"
    if port:
        url += ":80" if scheme == "http" else ":443"
    url += path
    if qs:
        url += "?" + "&".join(qs)
    if frag:
        url += "#" + frag
    return url


@settings(max_examples=400, deadline=None)
@given(resource(), st.booleans(), st.booleans(), st.text(max_size=5), st.booleans(), st.booleans())
def test_equivalent_urls_merge(
    res: tuple[str, str, list[str], list[tuple[str, str]]],
    upper: bool,
    port: bool,
    frag: str,
    tracking: bool,
    dots: bool,
) -> None:
    plain = canonicalize_url(_build(*res))
    variant = canonicalize_url(
        _build(*res, upper=upper, port=port, frag=frag, tracking=tracking, dots=dots)
    )
    assert plain == variant


@settings(max_examples=400, deadline=None)
@given(resource(), resource())
def test_different_resources_stay_apart(
    a: tuple[str, str, list[str], list[tuple[str, str]]],
    b: tuple[str, str, list[str], list[tuple[str, str]]],
) -> None:
    def key(r: tuple[str, str, list[str], list[tuple[str, str]]]) -> tuple[object, ...]:
        scheme, host, segs, query = r
        return (scheme, host, tuple(segs), tuple(query))

    assume(key(a) != key(b))
    # Empty path segments are meaningful ('/a//b' is not '/a/b'); dot segments aren't data.
    assume(all(s not in (".", "..") for s in a[2] + b[2]))
    assert canonicalize_url(_build(*a)) != canonicalize_url(_build(*b))


# The fast path (common URL shapes) must give exactly what the full rules give, and must
# never accept what they refuse.
SAFE_CHARS = "abcXYZ019-._~!$&'()*+,;=:@/"
FAST_CHARS = SAFE_CHARS + "?%#\\ \t[]" + "éü\u3002"
# Mostly characters the fast path takes, sometimes any: both sides of its boundary.
fast_text = st.one_of(st.text(SAFE_CHARS, max_size=30), st.text(FAST_CHARS, max_size=30))
fast_labels = st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True)
fast_hosts = st.one_of(
    st.lists(fast_labels, min_size=1, max_size=4).map(".".join),
    st.from_regex(r"([a-z0-9-]{1,6}\.){0,3}[a-zA-Z][A-Za-z0-9-]{0,6}", fullmatch=True),
    st.sampled_from(["example.com", "EXAMPLE.com", "a" * 64 + ".com", "0x7f.1", "1.2.3.4",
                     "a.b.", "a..b", "-a-.b", "com", "x" * 250 + ".com", "1e3", "a.0x1f"]),
)  # fmt: skip


@st.composite
def fast_shaped(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https"] * 4 + ["HTTP", "ftp", "http:", "https:/"]))
    url = f"{scheme}://{draw(fast_hosts)}"
    if draw(st.booleans()):
        url += ":" + draw(st.sampled_from(["80", "443", "8080", "0", "00080", "65536", "", "x"]))
    if draw(st.booleans()):
        url += "/" + draw(fast_text)
    if draw(st.booleans()):
        segs = draw(st.lists(st.sampled_from([".", "..", "a", "", ".a", "b."]), max_size=5))
        url += "/" + "/".join(segs)
    if draw(st.booleans()):
        pairs = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["id", "utm_source", "UTM_X", "fbclid", "", "a=b", "Si"]),
                    fast_text,
                ),
                max_size=4,
            )
        )
        url += "?" + "&".join(f"{k}={v}" if v else k for k, v in pairs)
    return url


def _full_or_error(raw: str) -> object:
    from openhotline.urls import canonicalize_full

    try:
        return canonicalize_full(raw)
    except InvalidURLError:
        return "invalid"


@settings(max_examples=4000, deadline=None)
@given(st.one_of(fast_shaped(), st.text(FAST_CHARS, max_size=40).map(lambda t: "http://" + t)))
@example("http://example.com/a/./b/../c?utm_source=x&id=1&&fbclid=2")
@example("https://Example.COM:443")
@example("http://a.b/.well-known/x?")
def test_fast_path_equals_full_rules(raw: str) -> None:
    from openhotline.urls import _fast

    fast = _fast(raw)
    if fast is not None:
        assert fast == _full_or_error(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "http://bench.test/1/2",
        "https://www.example.com/path/to/page.html?id=5&utm_source=x",
        "http://Example.COM:8080/a/./b",
        "https://example.com",
    ],
)
def test_common_urls_take_the_fast_path(raw: str) -> None:
    from openhotline.urls import _fast, canonicalize_full

    assert _fast(raw) is not None
    assert _fast(raw) == canonicalize_full(raw)
