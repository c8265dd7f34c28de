"""Content-type sniffing from the bytes themselves (server headers are not trusted)."""

from __future__ import annotations

HTML = "text/html"
OCTET = "application/octet-stream"


def sniff(data: bytes) -> str:
    """Return the media type the leading bytes show, text/html, or application/octet-stream."""
    head = data[:512]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image/bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heis", b"hevc"):
            return "image/heic"
        if brand.startswith(b"avi"):
            return "image/avif"
        return "video/mp4"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "video/webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<img", b"<div", b"<p")):
        return HTML
    return OCTET


def is_media(media_type: str) -> bool:
    """True for the image and video types the crawler keeps."""
    return media_type.startswith(("image/", "video/"))
