"""Hash-list file formats: HMA/python-threatexchange local files, CSV with a header, plain lists.

Parsers stream: they take an iterable of text lines and yield one result per data line, a
`Row` or a `BadRow` with the reason, so imports of millions of lines never hold the file.
"""

from __future__ import annotations

import csv
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TextIO

from openhotline.matching.models import HEX_LENGTH, HashType

HEXDIGITS = frozenset(string.hexdigits)
SIGNAL_ALIASES: dict[str, HashType] = {
    "pdq": HashType.PDQ,
    "md5": HashType.MD5,
    "photo_md5": HashType.MD5,
    "sha1": HashType.SHA1,
    "sha-1": HashType.SHA1,
    "sha256": HashType.SHA256,
    "sha-256": HashType.SHA256,
}
CSV_TYPE_COLUMNS = ("hash_type", "type", "signal_type")
CSV_HASH_COLUMNS = ("hash", "hash_value", "signal", "value")
META_COLUMNS = ("source", "classification", "added_by")
PLAIN_BY_LENGTH = {32: HashType.MD5, 40: HashType.SHA1, 64: HashType.SHA256}


class FileFormat(StrEnum):
    """Supported hash-list formats."""

    HMA = "hma"
    CSV = "csv"
    PLAIN = "plain"


@dataclass(frozen=True)
class Row:
    """One valid hash from a file."""

    line: int
    hash_type: HashType
    hash_value: str
    source: str = ""
    classification: str = ""
    added_by: str = ""


@dataclass(frozen=True)
class BadRow:
    """A line that was skipped, and why."""

    line: int
    reason: str


def normalise_hash(hash_type: HashType, value: str) -> str:
    """Lower-case hex of the right length for the type, or ValueError saying what is wrong."""
    v = value.strip().lower()
    want = HEX_LENGTH[hash_type]
    if not v:
        raise ValueError("empty hash")
    if not all(c in HEXDIGITS for c in v):
        raise ValueError(f"{hash_type.value} hash is not hexadecimal")
    if len(v) != want:
        raise ValueError(f"{hash_type.value} hash must have {want} hex digits, not {len(v)}")
    return v


def check_not_degenerate(hash_type: HashType, value: str) -> str:
    """Refuse an all-zero or all-one hash (what a blank image or a broken tool produces)."""
    if value and set(value) == {"0"}:
        raise ValueError(f"{hash_type.value} hash is degenerate (all bits zero)")
    if value and set(value) == {"f"}:
        raise ValueError(f"{hash_type.value} hash is degenerate (all bits one)")
    return value


def _import_hash(hash_type: HashType, value: str) -> str:
    # Hex is accepted in any case (stored lower-case); degenerate hashes are refused.
    return check_not_degenerate(hash_type, normalise_hash(hash_type, value))


@dataclass
class LineStats:
    """What bounded_lines saw besides data: comment lines and over-long lines."""

    comments: int = 0
    too_long: list[int] = field(default_factory=list)  # line numbers, first few only
    too_long_count: int = 0


# No hash-list line needs more (a CSV row with metadata is well under 1 KB); a 1 GB file
# without a line break used to be read whole (MemoryError at 7.7 GB).
MAX_LINE_CHARS = 4096


def bounded_lines(
    handle: TextIO, stats: LineStats, max_chars: int = MAX_LINE_CHARS
) -> Iterator[str]:
    """Yield a file's lines; a longer line is read past in chunks and yields '' (counted)."""
    number = 0
    while True:
        line = handle.readline(max_chars + 1)
        if not line:
            return
        number += 1
        if len(line) > max_chars and not line.endswith("\n"):
            while True:  # skip the rest of the line without holding it
                rest = handle.readline(64 * 1024)
                if not rest or rest.endswith("\n"):
                    break
            stats.too_long_count += 1
            if len(stats.too_long) < 5:
                stats.too_long.append(number)
            yield "\n"  # keeps line numbers; parsers skip blank lines
            continue
        if line.lstrip().startswith("#"):
            stats.comments += 1
        yield line


def parse_type(name: str) -> HashType:
    """Map a signal type name (HMA names accepted) to a HashType."""
    if name.strip().lower() == HashType.VPDQ.value:
        raise ValueError(
            "vpdq hashes are a video's frame list: import them with "
            "`openhotline bank import-video` (vPDQ hash files)"
        )
    try:
        return SIGNAL_ALIASES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unsupported hash type {name.strip()[:40]!r}") from None


def detect_format(first_line: str) -> FileFormat:
    """Guess a file's format from its first non-blank line."""
    line = first_line.strip().lstrip("\ufeff")
    head = [c.strip().lower() for c in line.split(",")]
    if "," in line and any(c in CSV_HASH_COLUMNS for c in head):
        return FileFormat.CSV
    first = line.split(None, 1)[0].lower() if line.split() else ""
    # "vpdq" too, so such a file is told where video hashes go rather than "unknown type".
    if (first in SIGNAL_ALIASES or first == HashType.VPDQ.value) and len(line.split()) >= 2:
        return FileFormat.HMA
    return FileFormat.PLAIN


def parse_hma(lines: Iterable[str], source: str = "") -> Iterator[Row | BadRow]:
    """Parse `<signal_type> <hash>` lines (python-threatexchange / HMA local files)."""
    for no, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            yield BadRow(no, "expected '<signal_type> <hash>'")
            continue
        try:
            ht = parse_type(parts[0])
            yield Row(no, ht, _import_hash(ht, parts[1]), source=source)
        except ValueError as exc:
            yield BadRow(no, str(exc))


def parse_plain(
    lines: Iterable[str], hash_type: HashType | None = None, source: str = ""
) -> Iterator[Row | BadRow]:
    """Parse one hash per line; the type is given or inferred from the length (MD5/SHA)."""
    for no, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        value = line.split()[0]
        ht = hash_type or PLAIN_BY_LENGTH.get(len(value))
        if ht is None:
            yield BadRow(no, f"cannot tell the hash type of a {len(value)}-character value")
            continue
        try:
            yield Row(no, ht, _import_hash(ht, value), source=source)
        except ValueError as exc:
            yield BadRow(no, str(exc))


def parse_csv(lines: Iterable[str], source: str = "") -> Iterator[Row | BadRow]:
    """Parse CSV with a header: a hash type column, a hash column, optional metadata."""
    reader = csv.reader(lines)
    header: list[str] = []
    try:
        while not any(h.strip() for h in header):
            header = [h.strip().lstrip("\ufeff").lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        yield BadRow(reader.line_num, f"unreadable CSV header: {exc}")
        return
    t_col = next((header.index(c) for c in CSV_TYPE_COLUMNS if c in header), None)
    h_col = next((header.index(c) for c in CSV_HASH_COLUMNS if c in header), None)
    if t_col is None or h_col is None:
        yield BadRow(1, "CSV header needs a hash type column and a hash column")
        return
    meta = {m: header.index(m) for m in META_COLUMNS if m in header}
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(reader.line_num, f"unreadable CSV line: {exc}")
            continue
        no = reader.line_num
        if not rec or all(not c.strip() for c in rec):
            continue
        if len(rec) <= max(t_col, h_col):
            yield BadRow(no, f"expected at least {max(t_col, h_col) + 1} columns, got {len(rec)}")
            continue
        try:
            ht = parse_type(rec[t_col])
            value = _import_hash(ht, rec[h_col])
        except ValueError as exc:
            yield BadRow(no, str(exc))
            continue
        extra = {k: rec[i].strip()[:200] if i < len(rec) else "" for k, i in meta.items()}
        yield Row(
            no, ht, value,
            source=extra.get("source") or source,
            classification=extra.get("classification", "")[:100],
            added_by=extra.get("added_by", "")[:100],
        )  # fmt: skip


def parse_lines(
    lines: Iterable[str],
    fmt: FileFormat | None = None,
    hash_type: HashType | None = None,
    source: str = "",
) -> Iterator[Row | BadRow]:
    """Parse any supported format, detecting it from the first non-blank line if not given."""
    it = iter(lines)
    head: list[str] = []
    for line in it:
        head.append(line)
        # The first data line tells the format: comments before it do not.
        if line.strip() and not line.strip().startswith("#"):
            break
    if fmt is None:
        fmt = detect_format(head[-1]) if head else FileFormat.PLAIN

    def chained() -> Iterator[str]:
        yield from head
        yield from it

    if fmt is FileFormat.CSV:
        return parse_csv(chained(), source)
    if fmt is FileFormat.HMA:
        return parse_hma(chained(), source)
    return parse_plain(chained(), hash_type, source)


def format_hma(hash_type: str, value: str) -> str:
    """One line of an HMA local file."""
    return f"{hash_type} {value}\n"


CSV_EXPORT_HEADER = ["hash_type", "hash", "source", "classification", "added_by", "added_at"]


# Spreadsheets run a cell that starts with one of these as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a quote."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell
