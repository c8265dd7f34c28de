"""Byte-exact rendering of list snapshots and deltas as CSV and JSON (deterministic).

The same version always renders to the same bytes, so a signature made once stays valid
and a cached file can be served again. CSV files start with one `#` line naming the list,
its version and time (so an old file cannot pass for a new one); readers skip `#` lines.
Rows are consumed from iterators in batches and written to a sink (the cache file), so a
large list is never held in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Protocol

FORMATS = ("csv", "json", "hma")
DELTA_FORMATS = ("csv", "json")  # an HMA local file has no removals: snapshots only
URL_FIELDS = ("url", "url_sha256")
HASH_FIELDS = ("sha256", "md5", "sha1", "pdq", "classification", "provenance")

# One entry: (key, url, md5, sha1, pdq, classification, provenance, vpdq), the published
# columns. vpdq (a video's frames, a JSON list of "pdq_hex,quality,timestamp" strings, as
# python-threatexchange writes a VPDQ signal) is in the JSON and HMA forms only: a frame list
# is no CSV cell, and CSV readers keep the columns they had.
Row = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None, str | None]


def _js(value: str | None) -> str:
    """JSON string literal; hex digests (the common case) need no escaping."""
    if value is None:
        return "null"
    if value.isascii() and value.isalnum():
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _json_entry(kind: str, row: Row) -> str:
    key, url, md5, sha1, pdq, cls, who, vpdq = row
    if kind == "urls":
        return f'{{"url":{_js(url)},"url_sha256":{_js(key)}}}'
    # The frame list is already JSON (written by media.video.format_te_json); entries
    # without one render as before, byte for byte.
    frames = f',"vpdq":{vpdq}' if vpdq is not None else ""
    return (
        f'{{"sha256":{_js(key)},"md5":{_js(md5)},"sha1":{_js(sha1)},"pdq":{_js(pdq)},'
        f'"classification":{_js(cls)},"provenance":{_js(who)}{frames}}}'
    )


def _cells(kind: str, row: Row) -> tuple[str, ...]:
    key, url, md5, sha1, pdq, cls, who, _vpdq = row
    if kind == "urls":
        return (url or "", key)
    return (key, md5 or "", sha1 or "", pdq or "", cls or "", who or "")


def _fields(kind: str) -> tuple[str, ...]:
    return URL_FIELDS if kind == "urls" else HASH_FIELDS


class Sink(Protocol):
    """Where rendered bytes go: a file opened "wb", a hashing writer, a BytesIO."""

    def write(self, data: bytes, /) -> object:
        """Append data."""


BATCH = 10000


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    it = iter(rows)
    while batch := list(islice(it, BATCH)):
        yield batch


def _write_json_array(out: Sink, kind: str, rows: Iterable[Row]) -> None:
    out.write(b"[")
    sep = ""
    for batch in _batches(rows):
        out.write((sep + ",".join([_json_entry(kind, r) for r in batch])).encode("utf-8"))
        sep = ","
    out.write(b"]")


def _write_csv_rows(out: Sink, cells: Iterable[tuple[str, ...]]) -> None:
    for batch in _batches(cells):  # type: ignore[arg-type]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(batch)
        out.write(buf.getvalue().encode("utf-8"))


def write_snapshot(
    out: Sink,
    kind: str,
    version: int,
    created_at: datetime,
    count: int,
    rows: Iterable[Row],
    fmt: str,
) -> None:
    """Write every entry of one version to out, batch by batch (rows sorted by key)."""
    stamp = created_at.isoformat(timespec="seconds")
    if fmt == "hma":
        _write_hma(out, kind, rows)
    elif fmt == "json":
        head = f'{{"list":"{kind}","version":{version},"generated_at":"{stamp}","count":{count},'
        out.write((head + '"entries":').encode("utf-8"))
        _write_json_array(out, kind, rows)
        out.write(b"}")
    else:
        head = f"# openhotline list={kind} version={version} generated_at={stamp} count={count}\n"
        out.write(head.encode("utf-8"))
        _write_csv_rows(out, [_fields(kind)])
        _write_csv_rows(out, (_cells(kind, r) for r in rows))


def render_snapshot(
    kind: str, version: int, created_at: datetime, count: int, rows: Iterable[Row], fmt: str
) -> bytes:
    """Render every entry of one version in memory (small lists; see write_snapshot)."""
    buf = io.BytesIO()
    write_snapshot(buf, kind, version, created_at, count, rows, fmt)
    return buf.getvalue()


def _write_hma(out: Sink, kind: str, rows: Iterable[Row]) -> None:
    """HMA's local-file format (python-threatexchange): `<signal type> <hash>` per line.

    Every hash of a row becomes a line, with the type names `openhotline bank export --format
    hma` writes and `bank import` reads; a video's frames as a `vpdq` line holding
    threatexchange's VPDQ signal string (HMA's vPDQ extension reads it). URL lists have no
    HMA form.
    """
    if kind != "hashes":
        raise ValueError("only hash lists have an HMA form")
    for batch in _batches(rows):
        lines = [
            f"{name} {value}\n"
            for key, _url, md5, sha1, pdq, _cls, _who, vpdq in batch
            for name, value in (
                ("pdq", pdq),
                ("md5", md5),
                ("sha1", sha1),
                ("sha256", key),
                ("vpdq", vpdq),
            )
            if value
        ]
        out.write("".join(lines).encode("ascii"))


def write_delta(
    out: Sink,
    kind: str,
    since: int,
    version: int,
    created_at: datetime,
    added: Iterable[Row],
    removed: Iterable[Row],
    fmt: str,
) -> None:
    """Write what changed between version `since` and `version` to out."""
    stamp = created_at.isoformat(timespec="seconds")
    if fmt == "json":
        head = (
            f'{{"list":"{kind}","from_version":{since},"version":{version},'
            f'"generated_at":"{stamp}",'
        )
        out.write((head + '"added":').encode("utf-8"))
        _write_json_array(out, kind, added)
        out.write(b',"removed":')
        _write_json_array(out, kind, removed)
        out.write(b"}")
        return
    out.write(
        f"# openhotline list={kind} delta from_version={since} version={version} "
        f"generated_at={stamp}\n".encode()
    )
    _write_csv_rows(out, [("op", *_fields(kind))])
    _write_csv_rows(out, (("add", *_cells(kind, r)) for r in added))
    _write_csv_rows(out, (("remove", *_cells(kind, r)) for r in removed))


def render_delta(
    kind: str,
    since: int,
    version: int,
    created_at: datetime,
    added: Iterable[Row],
    removed: Iterable[Row],
    fmt: str,
) -> bytes:
    """Render what changed between version `since` and `version` in memory."""
    buf = io.BytesIO()
    write_delta(buf, kind, since, version, created_at, added, removed, fmt)
    return buf.getvalue()
