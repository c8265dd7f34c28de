"""Extract media and same-page links from HTML (never runs scripts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".mp4", ".webm", ".avi")


@dataclass
class PageLinks:
    """Absolute URLs found on a page: embedded media, links to media, links to pages."""

    media: list[str] = field(default_factory=list)
    linked_media: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)


def _srcset_urls(value: str) -> list[str]:
    out = []
    for candidate in value.split(","):
        parts = candidate.strip().split()
        if parts:
            out.append(parts[0])
    return out


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.media: list[str] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v for k, v in attrs if v is not None}
        if tag == "base" and "href" in a and self.base is None:
            self.base = a["href"]
        elif tag in ("img", "source", "video", "embed"):
            for key in ("src", "data-src"):
                if a.get(key):
                    self.media.append(a[key])
            for key in ("srcset", "data-srcset"):
                if a.get(key):
                    self.media.extend(_srcset_urls(a[key]))
            if tag == "video" and a.get("poster"):
                self.media.append(a["poster"])
        elif tag == "a" and a.get("href"):
            self.anchors.append(a["href"])


def _absolute(base: str, ref: str) -> str | None:
    ref = ref.strip()
    if not ref or ref.startswith(("data:", "javascript:", "mailto:", "#")):
        return None
    url = urljoin(base, ref).split("#", 1)[0]
    return url if urlsplit(url).scheme in ("http", "https") else None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def extract(html: str, page_url: str) -> PageLinks:
    """Return the absolute media URLs and links of a page, in document order, deduplicated."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out = PageLinks()
    for ref in parser.media:
        url = _absolute(base, ref)
        if url:
            out.media.append(url)
    for ref in parser.anchors:
        url = _absolute(base, ref)
        if url is None:
            continue
        if urlsplit(url).path.lower().endswith(MEDIA_EXTENSIONS):
            out.linked_media.append(url)
        else:
            out.pages.append(url)
    out.media, out.linked_media, out.pages = (
        _unique(out.media),
        _unique(out.linked_media),
        _unique(out.pages),
    )
    return out


def _site(url: str) -> tuple[str, int | None]:
    """Host and port of a URL; the scheme's default port counts as no port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1  # an unparsable port is a site of its own, never the case's
    if port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        port = None
    return (parts.hostname or "").lower(), port


_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_site(a: str, b: str) -> bool:
    """True when two URLs are on the same host and port (http and https defaults alike).

    Another port on the same host is another server (issue 12): it is not the case's site.
    """
    return _site(a) == _site(b)
