"""Exact PDQ radius search: multi-index hashing segments, a small delta and tombstones."""

from __future__ import annotations

import hashlib
import io
import json
import math
import mmap
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openhotline.matching import kernels as _kernels

kernels: Any = _kernels  # numba dispatchers: untyped for mypy

HashArray = npt.NDArray[np.uint64]  # shape (N, 4)
# A segment as plain values: hashes, ids, layout, directory offsets, permutations, alive,
# and the base the ids are stored from (uint32 offsets; int64 ids when they span more).
SegmentParts = tuple[Any, Any, "Layout | None", Any, Any, Any, int]
# 4: rows stored in the order of one substring table (the primary, which then needs no
# permutation), alive flags as a bitset, entries keeping only the residual bits that fit.
# Versions 2 and 3 (rows in id order) are refused with a message to rebuild: the engine
# rebuilds a bank's index from the database when its saved copy cannot be used.
FORMAT_VERSION = 4
READABLE_FORMATS = (4,)
ARRAYS = ("hashes", "ids", "alive", "dir_offsets", "perms")
MAX_DIR_BITS = 22  # directory of 2**22 uint32 offsets = 16 MiB per table at most
BRUTE_FORCE_BELOW = 2048  # segments smaller than this are scanned linearly
# perm entries pack (row << shift) | residual bits in 32 bits: rows need 27 bits at most,
# which leaves up to 5 residual bits for the biggest segments (Layout.for_size keeps to it).
MAX_SEGMENT_ROWS = 1 << 27
ENTRY_BITS = 32  # a permutation entry: row number, then as many residual bits as fit
LARGE_SEGMENT = 1 << 26  # segments above this use 9 substring tables (see Layout.for_size)


def hex_to_words(hexes: list[str]) -> HashArray:
    """Parse 64-digit PDQ hex strings into an (N, 4) uint64 array."""
    raw = bytes.fromhex("".join(hexes))
    if len(raw) != 32 * len(hexes):
        raise ValueError("every PDQ hash must have 64 hex digits")
    return np.frombuffer(raw, dtype=">u8").reshape(-1, 4).astype(np.uint64)


def words_to_hex(words: HashArray) -> list[str]:
    """Format an (N, 4) uint64 array as 64-digit hex strings."""
    raw = np.ascontiguousarray(words, dtype=">u8").tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def bits_to_words(bits: npt.NDArray[Any]) -> HashArray:
    """Pack (N, 256) 0/1 arrays (pdqhash output order) into (N, 4) uint64 words."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8).reshape(-1, 256), axis=1)
    return packed.view(">u8").astype(np.uint64)


@dataclass(frozen=True)
class Layout:
    """How the 256 bits are cut into substrings, and the directory size of each table."""

    offsets: tuple[int, ...]
    lengths: tuple[int, ...]
    shifts: tuple[int, ...]  # low bits not in the directory (checked on the row instead)
    primary: int  # the table whose order the rows are stored in (it has no permutation)

    @classmethod
    def for_size(cls, n: int, max_dir_bits: int = MAX_DIR_BITS) -> Layout:
        """Substrings of about log2(n) bits, so that each probe meets about one row."""
        # Measured at 1M and 10M rows (radius 31): a directory of about log2(n) bits and
        # 11 substrings (radius 2 on most tables, residual bits checked in the permutation)
        # balance directory probes against row checks.
        d = min(max_dir_bits, max(8, round(math.log2(max(n, 2)))))
        m = max(11, round(256 / (d + 3)), math.ceil(256 / (d + 8)))
        if n > LARGE_SEGMENT:
            # From 64M rows on memory decides (issue 18: 100M rows in 7 GB): 9 substrings of
            # 28-29 bits, 8 permutations of 4 bytes a row (the primary table has none); the
            # entries keep 5 of the 6-7 residual bits beside a 27-bit row number.
            m = 9
        return cls.with_tables(m, d)

    @classmethod
    def with_tables(cls, m: int, max_dir_bits: int = MAX_DIR_BITS) -> Layout:
        """Split 256 bits into m near-equal substrings (longest first)."""
        base, extra = divmod(256, m)
        lengths = [base + 1] * extra + [base] * (m - extra)
        if max(lengths) > 32:
            raise ValueError("substrings longer than 32 bits are not supported")
        offsets, pos = [], 0
        for ln in lengths:
            offsets.append(pos)
            pos += ln
        shifts = [max(0, ln - max_dir_bits) for ln in lengths]
        if max(shifts) > 8:
            raise ValueError("directory too small for these substrings")
        # The last table is the primary: one probed at the smallest radius (the longest
        # tables get the extra units, see radii), so fewest rows of hashes are read in full.
        return cls(tuple(offsets), tuple(lengths), tuple(shifts), m - 1)

    def radii(self, radius: int) -> npt.NDArray[np.int64]:
        """Per-table radii from the pigeonhole bound: sum(r_i + 1) >= radius + 1."""
        m = len(self.lengths)
        base, extra = divmod(radius + 1, m)
        # Extra units go to the longest substrings (they hold the most bits).
        order = np.argsort(-np.asarray(self.lengths), kind="stable")
        r = np.full(m, base - 1, dtype=np.int64)
        r[order[:extra]] += 1
        return r


_MASK_CACHE: dict[tuple[int, int], npt.NDArray[np.uint32]] = {}


def _masks(nbits: int, radius: int) -> npt.NDArray[np.uint32]:
    key = (nbits, radius)
    if key not in _MASK_CACHE:
        _MASK_CACHE[key] = kernels.flip_masks(nbits, radius)
    return _MASK_CACHE[key]


def row_bits(n: int) -> int:
    """Bits a row number of a segment of n rows takes in a permutation entry."""
    return max(1, (n - 1).bit_length())


def check_entry_bits(layout: Layout, n: int) -> None:
    """Raise ValueError unless row numbers of n rows fit in a 32-bit entry."""
    if row_bits(n) > 32 or n > MAX_SEGMENT_ROWS:
        raise ValueError("too many rows for 32-bit permutation entries")


def kept_bits(layout: Layout, n: int) -> npt.NDArray[np.int64]:
    """Residual bits each table's entries keep beside a row number of a segment of n rows:
    all of them when they fit in 32 bits, else the top ones that fit (the rest are checked
    on the candidate's hash)."""
    room = ENTRY_BITS - row_bits(n)
    return np.asarray([max(0, min(sh, room)) for sh in layout.shifts], dtype=np.int64)


def compact_ids(ids: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], int]:
    """Ids as (uint32 offsets from the smallest, base) when they span less than 2**32, else
    as they are (int64, base 0): half the memory of the id column for any realistic bank."""
    if len(ids) and int(ids.max()) - int(ids.min()) < (1 << 32):
        base = int(ids.min())
        return (ids - base).astype(np.uint32), base
    return ids.astype(np.int64), 0


def pack_alive(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Alive flags as a bitset (bit i of byte i // 8, little bit order): 1 bit a row."""
    return np.packbits(np.asarray(flags, dtype=np.bool_), bitorder="little")


def unpack_alive(bits: npt.NDArray[np.uint8], n: int) -> npt.NDArray[np.bool_]:
    """The bitset of pack_alive as n booleans."""
    return np.unpackbits(np.asarray(bits), count=n, bitorder="little").astype(np.bool_)


def advise_huge_pages(array: Any) -> bool:
    """Ask the kernel to back a memory-mapped array with 2 MB pages (MADV_HUGEPAGE).

    A search makes ~8,000 (10M rows) to ~33,000 (100M) random reads, each a TLB miss on
    4 KB pages. With the advice the kernel reads the file in PMD-sized folios and maps them
    whole where it can (page-cache folios are shared, so every process of the engine gets
    them); anonymous arrays need nothing, numpy already advises its large allocations.
    False, doing nothing, where the platform or the kernel does not support it.
    """
    region = getattr(array, "_mmap", None)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if region is None or advice is None:
        return False
    try:
        region.madvise(advice)
    except (OSError, ValueError):
        return False
    return True


class Segment:
    """An immutable multi-index over a block of hashes.

    With a layout, the rows (hashes, ids, alive bits) are stored in the order of the
    layout's primary table, whose directory then points into the rows themselves (no
    permutation: 4 bytes a row less); the other tables have one. A brute-force segment
    (no layout) keeps its rows in id order.
    """

    def __init__(
        self,
        hashes: HashArray,
        ids: npt.NDArray[Any],
        layout: Layout | None,
        dir_offsets: npt.NDArray[np.uint32],
        perms: npt.NDArray[np.uint32],
        alive: npt.NDArray[np.uint8],
        id_base: int = 0,
    ) -> None:
        self.hashes = hashes
        self.ids = ids  # uint32 offsets from id_base, or int64 ids (id_base 0)
        self.id_base = int(id_base)
        self.layout = layout
        self.dir_offsets = dir_offsets
        self.perms = perms
        self.alive = alive  # packed bitset, see pack_alive
        self._live: int | None = None
        n = len(ids)
        if layout is not None:
            dir_sizes = [
                (1 << (ln - sh)) + 1 for ln, sh in zip(layout.lengths, layout.shifts, strict=True)
            ]
            self._dir_starts = np.concatenate([[0], np.cumsum(dir_sizes)[:-1]]).astype(np.int64)
            m = len(layout.lengths)
            # The k-th table other than the primary has the k-th block of n entries.
            slot = [t - (t > layout.primary) for t in range(m)]
            self._perm_starts = np.asarray(
                [0 if t == layout.primary else slot[t] * n for t in range(m)], dtype=np.int64
            )
            self._offs = np.asarray(layout.offsets, dtype=np.int64)
            self._lens = np.asarray(layout.lengths, dtype=np.int64)
            self._shifts = np.asarray(layout.shifts, dtype=np.int64)
            self._kept = kept_bits(layout, n)
        self._plans: dict[int, tuple[Any, ...]] = {}

    @classmethod
    def build(
        cls,
        hashes: HashArray,
        ids: npt.NDArray[np.int64],
        layout: Layout | None = None,
        *,
        own: bool = False,
    ) -> Segment:
        """Build the tables (counting sort per substring, O(N) each).

        With own=True the caller hands `hashes` over: it is reordered in place and kept
        (no second copy of the biggest array); otherwise it is left untouched.
        """
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        if n > MAX_SEGMENT_ROWS:
            raise ValueError(f"a segment holds at most {MAX_SEGMENT_ROWS} rows")
        if len(hashes) != n:
            raise ValueError("as many ids as hashes are needed")
        mine = own and isinstance(hashes, np.ndarray) and hashes.dtype == np.uint64
        mine = mine and hashes.flags.c_contiguous and hashes.flags.writeable
        alive = pack_alive(np.ones(n, dtype=np.bool_))
        if layout is None and n < BRUTE_FORCE_BELOW:
            order = np.argsort(ids, kind="stable")
            stored_ids, id_base = compact_ids(ids[order])
            rows = np.ascontiguousarray(np.asarray(hashes, dtype=np.uint64)[order])
            empty = np.zeros(0, dtype=np.uint32)
            return cls(rows, stored_ids, None, empty, empty, alive, id_base)
        layout = layout or Layout.for_size(n)
        check_entry_bits(layout, n)
        offs = np.asarray(layout.offsets, np.int64)
        lens = np.asarray(layout.lengths, np.int64)
        shifts = np.asarray(layout.shifts, np.int64)
        dir_sizes = [(1 << (ln - sh)) + 1 for ln, sh in zip(lens, shifts, strict=True)]
        dir_starts = np.concatenate([[0], np.cumsum(dir_sizes)[:-1]]).astype(np.int64)
        dir_offsets = np.empty(sum(dir_sizes), dtype=np.uint32)
        # The primary table: rows grouped by its directory key, id order within a bucket.
        p = layout.primary
        src = np.ascontiguousarray(hashes, dtype=np.uint64)
        keys = kernels.extract_keys(src, offs[p], lens[p], shifts[p])
        prim_dir, order = kernels.counting_sort(keys, 1 << int(lens[p] - shifts[p]))
        del keys
        dir_offsets[dir_starts[p] : dir_starts[p] + dir_sizes[p]] = prim_dir
        stored_ids, id_base = compact_ids(ids[order])
        if mine:
            kernels.permute_rows(hashes, order)
            rows = hashes
        else:
            rows = src[order]
        del order
        others = np.asarray([t for t in range(len(lens)) if t != p], dtype=np.int64)
        perms = np.empty(n * len(others), dtype=np.uint32)
        kernels.build_tables(
            rows, offs, lens, shifts, kept_bits(layout, n), others, dir_starts, dir_offsets,
            perms,
        )  # fmt: skip
        return cls(rows, stored_ids, layout, dir_offsets, perms, alive, id_base)

    def __len__(self) -> int:
        return len(self.ids)

    def live_count(self) -> int:
        """Rows not removed."""
        if self._live is None:
            self._live = int(np.bitwise_count(np.asarray(self.alive)).sum(dtype=np.int64))
        return self._live

    def alive_flags(self) -> npt.NDArray[np.bool_]:
        """The alive flags as one boolean a row."""
        return unpack_alive(self.alive, len(self))

    def kill(self, pos: npt.NDArray[np.int64]) -> int:
        """Mark rows dead (tombstones); returns how many of them were alive."""
        pos = np.unique(np.asarray(pos, dtype=np.int64))
        if not len(pos):
            return 0
        if not self.alive.flags.writeable:
            self.alive = np.array(self.alive)
        live = self.live_count()  # counted before the bits change
        byte, bit = pos >> 3, (pos & 7).astype(np.uint8)
        was = int(((self.alive[byte] >> bit) & 1).sum())
        np.bitwise_and.at(self.alive, byte, ~(np.uint8(1) << bit))
        self._live = live - was
        return was

    def is_alive(self, pos: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether the rows at these positions are alive."""
        pos = np.asarray(pos, dtype=np.int64)
        bits = (np.asarray(self.alive)[pos >> 3] >> (pos & 7).astype(np.uint8)) & 1
        return np.asarray(bits, dtype=np.bool_)

    def _plan(self, radius: int) -> tuple[Any, ...]:
        if radius not in self._plans:
            if self.layout is None:
                raise RuntimeError("brute-force segments have no search plan")
            radii = self.layout.radii(radius)
            masks, starts, counts = [], [], []
            pos = 0
            for ln, sh, r in zip(self.layout.lengths, self.layout.shifts, radii, strict=True):
                m = _masks(ln - sh, int(r)) if r >= 0 else np.zeros(0, dtype=np.uint32)
                masks.append(m)
                starts.append(pos)
                counts.append(len(m))
                pos += len(m)
            self._plans[radius] = (
                radii,
                np.concatenate(masks).astype(np.uint32),
                np.asarray(starts, dtype=np.int64),
                np.asarray(counts, dtype=np.int64),
            )
        return self._plans[radius]

    def _args(self, radius: int) -> tuple[Any, ...]:
        radii, masks, mstarts, mcounts = self._plan(radius)
        assert self.layout is not None  # noqa: S101 (planned segments have one)
        return (
            self.hashes, self.alive, self._offs, self._lens, self._shifts, self._kept,
            self.layout.primary, radii, self.dir_offsets, self._dir_starts, self.perms,
            self._perm_starts, masks, mstarts, mcounts, radius,
        )  # fmt: skip

    def search(
        self, q: npt.NDArray[np.uint64], radius: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Ids and distances of live rows within radius of one query (4 uint64 words)."""
        if self.layout is None:
            pos, dist = kernels.brute_force_bits(q, self.hashes, self.alive, radius)
        else:
            pos, dist = kernels.search_one(q, *self._args(radius), 64)
        return self.id_values(pos), dist

    def id_values(self, pos: Any = None) -> npt.NDArray[np.int64]:
        """The ids (int64) at the given positions, or of every row."""
        raw = np.asarray(self.ids if pos is None else self.ids[pos])
        return raw.astype(np.int64) + self.id_base

    def search_batch(
        self, queries: HashArray, radius: int, cap: int = 64
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]]:
        """Search many queries at once: groups of queries a thread, read in address order."""
        if self.layout is None or len(queries) == 0:
            return [self.search(q, radius) for q in queries]
        # Buckets of a big segment are scanned as fixed windows (see kernels.search_many).
        dir_bits = int(np.min(self._lens - self._shifts))
        wide = len(self) >= kernels.WINDOW_FROM_BUCKET << dir_bits
        counts, pos, dist = kernels.search_many(queries, *self._args(radius), cap, window=wide)
        out = []
        for i, c in enumerate(counts):
            if c > cap:  # rare: too many hits for the buffer; redo this one alone
                out.append(self.search(queries[i], radius))
            else:
                out.append((self.id_values(pos[i, :c]), dist[i, :c]))
        return out

    def _keys(self, ids: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
        """Ids as stored values (offsets from the base), and which can be here at all."""
        keys = ids - self.id_base
        inside = np.ones(len(ids), dtype=np.bool_)
        if self.ids.dtype == np.uint32:  # offsets: ids outside [base, base + 2**32) are absent
            inside = (keys >= 0) & (keys < (1 << 32))
            return np.where(inside, keys, 0).astype(np.uint32), inside
        return keys, inside

    def positions_of(
        self, ids: npt.NDArray[np.int64], words: HashArray | None = None
    ) -> npt.NDArray[np.int64]:
        """Positions of the given ids in this segment (-1 where absent).

        With their hashes (words) a row is found through its primary-table bucket, a few
        rows read; without them the id column is scanned once (the rows are not in id
        order). Given words, a row holding the id with another hash counts as absent.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(self.ids) == 0 or len(ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        keys, inside = self._keys(ids)
        if self.layout is None:  # id order
            pos = np.minimum(np.searchsorted(self.ids, keys), len(self.ids) - 1)
            ok = inside & (self.ids[pos] == keys)
            pos = np.where(ok, pos, -1)
            if words is not None:
                w = np.asarray(words, dtype=np.uint64).reshape(-1, 4)
                same = np.all(np.asarray(self.hashes)[np.maximum(pos, 0)] == w, axis=1)
                pos = np.where(same, pos, -1)
            return pos
        if words is not None:
            lay = self.layout
            p = lay.primary
            d0 = int(self._dir_starts[p])
            size = (1 << (lay.lengths[p] - lay.shifts[p])) + 1
            return np.asarray(
                kernels.rows_by_hash(
                    np.ascontiguousarray(words, dtype=np.uint64).reshape(-1, 4),
                    keys,
                    inside,
                    self.hashes,
                    self.ids,
                    lay.offsets[p],
                    lay.lengths[p],
                    lay.shifts[p],
                    self.dir_offsets[d0 : d0 + size],
                )
            )
        uniq, back = np.unique(keys[inside], return_inverse=True)
        found = kernels.rows_by_scan(self.ids, uniq.astype(self.ids.dtype))
        out = np.full(len(ids), -1, dtype=np.int64)
        out[inside] = found[back]
        return out

    def nbytes(self) -> int:
        """Memory held by the arrays of this segment."""
        return int(
            self.hashes.nbytes + self.ids.nbytes + self.alive.nbytes
            + self.dir_offsets.nbytes + self.perms.nbytes
        )  # fmt: skip

    def save(self, folder: Path) -> None:
        """Write the arrays as .npy files (fsynced), with their sizes and SHA-256 in
        segment.json, so a load can prove every byte before memory-mapping it."""
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, dict[str, Any]] = {}
        for name in ARRAYS:
            files[name] = _write_npy(folder / f"{name}.npy", getattr(self, name))
        meta: dict[str, Any] = {
            "format": FORMAT_VERSION, "layout": None, "files": files, "id_base": self.id_base
        }  # fmt: skip
        if self.layout is not None:
            meta["layout"] = {
                "offsets": self.layout.offsets,
                "lengths": self.layout.lengths,
                "shifts": self.layout.shifts,
                "primary": self.layout.primary,
            }
        _write_file(folder / "segment.json", json.dumps(meta).encode())

    @classmethod
    def load(cls, folder: Path) -> Segment:
        """Load a saved segment after checking every file's checksum and the tables' shapes
        and bounds (IndexDamagedError otherwise); big tables are memory-mapped."""
        meta = json.loads((folder / "segment.json").read_bytes())
        if not isinstance(meta, dict) or meta.get("format") not in READABLE_FORMATS:
            raise IndexDamagedError("index format version mismatch")
        id_base = int(meta.get("id_base", 0))
        lay = meta["layout"]
        layout = None
        if lay is not None:
            layout = Layout(
                tuple(int(x) for x in lay["offsets"]),
                tuple(int(x) for x in lay["lengths"]),
                tuple(int(x) for x in lay["shifts"]),
                int(lay["primary"]),
            )
            _check_layout(layout)  # before the constructor sizes anything from it
        arrays: dict[str, Any] = {}
        for name in ARRAYS:
            path = folder / f"{name}.npy"
            _verify_file(path, meta["files"][name])
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
            advise_huge_pages(arrays[name])
        seg = cls(
            arrays["hashes"], arrays["ids"], layout, arrays["dir_offsets"], arrays["perms"],
            np.array(arrays["alive"]), id_base,
        )  # fmt: skip
        seg.validate()
        return seg

    def validate(self) -> None:
        """Raise IndexDamagedError unless every table is within bounds.

        The search kernels index without bounds checks (numba): a directory offset or a
        permutation row out of range reads outside the arrays and can crash the process.
        """
        n = len(self.ids)
        _expect(self.hashes.dtype == np.uint64 and self.hashes.shape == (n, 4), "hashes")
        _expect(self.ids.dtype in (np.int64, np.uint32) and self.ids.shape == (n,), "ids")
        _expect(self.ids.dtype == np.uint32 or self.id_base == 0, "id base")
        _expect(self.alive.dtype == np.uint8 and self.alive.shape == ((n + 7) // 8,), "alive")
        _expect(n <= MAX_SEGMENT_ROWS, "segment size")
        _expect(self.dir_offsets.dtype == np.uint32 and self.perms.dtype == np.uint32, "dtypes")
        lay = self.layout
        if lay is None:
            _expect(n < 2 or bool(np.all(self.ids[1:] > self.ids[:-1])), "ids not ascending")
            _expect(len(self.dir_offsets) == 0 and len(self.perms) == 0, "brute-force tables")
            return
        _check_layout(lay)
        m = len(lay.lengths)
        dir_sizes = [(1 << (ln - sh)) + 1 for ln, sh in zip(lay.lengths, lay.shifts, strict=True)]
        _expect(self.dir_offsets.shape == (sum(dir_sizes),), "directory size")
        _expect(self.perms.shape == (n * (m - 1),), "permutation size")
        start = 0
        for t, (size, kept) in enumerate(zip(dir_sizes, self._kept, strict=True)):
            d = np.asarray(self.dir_offsets[start : start + size], dtype=np.int64)
            start += size
            _expect(d[0] == 0 and d[-1] == n and bool(np.all(d[1:] >= d[:-1])), "directory")
            if n and t != lay.primary:
                k = int(self._perm_starts[t])
                rows = np.asarray(self.perms[k : k + n]) >> np.uint32(kept)
                _expect(int(rows.max()) < n, "permutation row out of range")


class PDQIndex:
    """A mutable PDQ index: immutable segments + a small delta + tombstones.

    Additions go to the delta (scanned linearly) and removals mark rows dead, so both are
    visible at once; `compact()` folds the delta and dead rows into a new segment.
    """

    def __init__(self, delta_limit: int = 50_000) -> None:
        self.segments: list[Segment] = []
        self.delta_limit = delta_limit
        self._delta_hashes: list[npt.NDArray[np.uint64]] = []
        self._delta_ids: list[int] = []
        self._delta_cache: tuple[HashArray, npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None
        self._delta_cache = None
        self._lock = threading.RLock()
        self._compact_lock = threading.Lock()
        # Removals made while a compaction builds: (ids, their hashes or None) to replay.
        self._removed_during: list[tuple[Any, Any]] | None = None

    @classmethod
    def build(
        cls,
        hashes: HashArray,
        ids: npt.NDArray[np.int64],
        layout: Layout | None = None,
        *,
        own: bool = False,
    ) -> PDQIndex:
        """Build an index over the given rows (one segment per 2**27 of them).

        With own=True the caller hands `hashes` over (a contiguous uint64 array it will not
        use again): the index reorders and keeps it instead of a copy, half the peak memory
        of a 100M build. Otherwise `hashes` is left as it was.
        """
        index = cls()
        ids = np.asarray(ids, np.int64)
        if len(hashes) != len(ids):
            raise ValueError("as many ids as hashes are needed")
        for start in range(0, len(ids), MAX_SEGMENT_ROWS):
            part = slice(start, start + MAX_SEGMENT_ROWS)
            index.segments.append(Segment.build(hashes[part], ids[part], layout, own=own))
        return index

    def __len__(self) -> int:
        with self._lock:
            return sum(s.live_count() for s in self.segments) + len(self._delta_ids)

    def add(self, hashes: HashArray, ids: npt.NDArray[np.int64] | list[int]) -> None:
        """Add rows; visible to the next search."""
        hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, 4)
        with self._lock:
            self._delta_hashes.extend(hashes)
            self._delta_ids.extend(int(i) for i in ids)
            self._delta_cache = None

    def remove(
        self, ids: npt.NDArray[np.int64] | list[int], hashes: HashArray | None = None
    ) -> int:
        """Remove rows by id (tombstones in segments); returns how many were live.

        With the rows' hashes (the engine has them from the database) each row is found
        through its bucket; without them each segment's id column is scanned once. Given
        hashes, a row holding one of the ids with another hash is not removed.
        """
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        words = None if hashes is None else np.asarray(hashes, np.uint64).reshape(-1, 4)
        if words is not None and len(words) != len(ids_arr):
            raise ValueError("as many hashes as ids are needed")
        removed = 0
        with self._lock:
            if self._removed_during is not None:
                self._removed_during.append((ids_arr, words))
            for seg in self.segments:
                pos = seg.positions_of(ids_arr, words)
                removed += seg.kill(pos[pos >= 0])
            if words is None:
                wanted: set[Any] = set(ids_arr.tolist())
            else:
                wanted = {(x, w.tobytes()) for x, w in zip(ids_arr.tolist(), words, strict=True)}
            keep = [
                i
                for i, x in enumerate(self._delta_ids)
                if (x if words is None else (x, self._delta_hashes[i].tobytes())) not in wanted
            ]
            removed += len(self._delta_ids) - len(keep)
            self._delta_hashes = [self._delta_hashes[i] for i in keep]
            self._delta_ids = [self._delta_ids[i] for i in keep]
            self._delta_cache = None
        return removed

    def _delta(self) -> tuple[HashArray, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        if self._delta_cache is None:
            n = len(self._delta_ids)
            h = np.asarray(self._delta_hashes, dtype=np.uint64).reshape(n, 4)
            self._delta_cache = (h, np.asarray(self._delta_ids, np.int64), np.ones(n, np.bool_))
        return self._delta_cache

    def search(self, q: npt.NDArray[np.uint64], radius: int = 31) -> list[tuple[int, int]]:
        """(id, distance) of every live row within radius, sorted by distance then id."""
        q = np.ascontiguousarray(q, dtype=np.uint64).reshape(4)
        hits: list[tuple[int, int]] = []
        with self._lock:
            segments = list(self.segments)
            dh, di, da = self._delta()
        for seg in segments:
            ids, dist = seg.search(q, radius)
            hits.extend(zip(ids.tolist(), dist.tolist(), strict=True))
        if len(di):
            pos, dist = kernels.brute_force(q, dh, da, radius)
            hits.extend(zip(di[pos].tolist(), dist.tolist(), strict=True))
        hits.sort(key=lambda x: (x[1], x[0]))
        return hits

    def search_batch(self, queries: HashArray, radius: int = 31) -> list[list[tuple[int, int]]]:
        """Search many queries; the segments are searched in parallel over queries."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64).reshape(-1, 4)
        out: list[list[tuple[int, int]]] = [[] for _ in range(len(queries))]
        with self._lock:
            segments = list(self.segments)
            dh, di, da = self._delta()
        for seg in segments:
            for i, (ids, dist) in enumerate(seg.search_batch(queries, radius)):
                out[i].extend(zip(ids.tolist(), dist.tolist(), strict=True))
        if len(di):
            for i, q in enumerate(queries):
                pos, dist = kernels.brute_force(q, dh, da, radius)
                out[i].extend(zip(di[pos].tolist(), dist.tolist(), strict=True))
        for hits in out:
            hits.sort(key=lambda x: (x[1], x[0]))
        return out

    def compact(self, full: bool = True) -> None:
        """Fold the delta and dead rows (all segments if full, else small ones) into one.

        The new segment is built outside the lock, so searches, additions and removals go
        on meanwhile; removals made during the build are replayed on the new segment.
        """
        with self._compact_lock:
            with self._lock:
                dh, di, _ = self._delta()
                n_delta = len(di)
                old = [s for s in self.segments if full or len(s) < 4 * max(n_delta, 1)]
                self._removed_during = []
            flags = [s.alive_flags() for s in old]
            parts_h = [dh] + [np.asarray(s.hashes)[f] for s, f in zip(old, flags, strict=True)]
            parts_i = [di] + [s.id_values()[f] for s, f in zip(old, flags, strict=True)]
            del flags
            # The concatenation is this method's own array: the new segment keeps it.
            rows = np.concatenate(parts_h)
            del parts_h
            new = PDQIndex.build(rows, np.concatenate(parts_i), own=True).segments
            with self._lock:
                self.segments = [s for s in self.segments if s not in old] + new
                done = set(di.tolist())
                keep = [i for i, x in enumerate(self._delta_ids) if x not in done]
                self._delta_hashes = [self._delta_hashes[i] for i in keep]
                self._delta_ids = [self._delta_ids[i] for i in keep]
                self._delta_cache = None
                replay = self._removed_during
                self._removed_during = None
            for ids, words in replay or []:
                self.remove(ids, words)

    def dead_fraction(self) -> float:
        """Share of segment rows that are tombstones."""
        with self._lock:
            total = sum(len(s) for s in self.segments)
            live = sum(s.live_count() for s in self.segments)
        return 0.0 if total == 0 else 1.0 - live / total

    def delta_size(self) -> int:
        """Rows waiting in the delta."""
        return len(self._delta_ids)

    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return sum(s.nbytes() for s in self.segments) + 40 * len(self._delta_ids)

    def lookup(
        self, ids: npt.NDArray[np.int64], expect: HashArray | None = None
    ) -> tuple[npt.NDArray[np.bool_], HashArray]:
        """For each id: whether a live row holds it, and that row's hash (zeros if none).

        With the expected hashes (`expect`), a row counts only if it holds exactly that
        hash, and is found through its bucket (fast); without, by one scan of the ids.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        want = None if expect is None else np.asarray(expect, np.uint64).reshape(-1, 4)
        found = np.zeros(len(ids), dtype=np.bool_)
        words = np.zeros((len(ids), 4), dtype=np.uint64)
        with self._lock:
            segments = list(self.segments)
            dh, di, _ = self._delta()
        for seg in segments:
            pos = seg.positions_of(ids, want)
            hit = pos >= 0
            hit[hit] = seg.is_alive(pos[hit])
            words[hit] = np.asarray(seg.hashes)[pos[hit]]
            found |= hit
        if len(di):
            where = {int(x): i for i, x in enumerate(di.tolist())}
            for k, x in enumerate(ids.tolist()):
                if x in where and (want is None or np.array_equal(dh[where[x]], want[k])):
                    found[k] = True
                    words[k] = dh[where[x]]
        return found, words

    def live_entries(
        self, chunk: int = 1 << 20
    ) -> Iterator[tuple[npt.NDArray[np.int64], HashArray]]:
        """Every live (id, hash), ascending by id, in chunks (rows are not stored in id
        order: one sort of the ids, then the hashes are gathered a chunk at a time)."""
        with self._lock:
            segments = list(self.segments)
            dh, di, _ = self._delta()
        sources: list[Any] = [np.asarray(s.hashes) for s in segments] + [dh]
        rows = [np.flatnonzero(s.alive_flags()) for s in segments] + [np.arange(len(di))]
        ids = np.concatenate([s.id_values(r) for s, r in zip(segments, rows, strict=False)] + [di])
        src = np.repeat(np.arange(len(sources), dtype=np.int16), [len(r) for r in rows])
        pos = np.concatenate(rows)
        del rows
        order = np.argsort(ids, kind="stable")
        for start in range(0, len(order), chunk):
            sel = order[start : start + chunk]
            out = np.empty((len(sel), 4), dtype=np.uint64)
            where, at = src[sel], pos[sel]
            for k, hashes in enumerate(sources):
                mine = where == k
                if mine.any():
                    out[mine] = hashes[at[mine]]
            yield ids[sel], out

    def live_ids(self) -> npt.NDArray[np.int64]:
        """Ids of every live row, ascending."""
        with self._lock:
            parts = [s.id_values()[s.alive_flags()] for s in self.segments]
            parts.append(np.asarray(self._delta_ids, dtype=np.int64))
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def to_parts(self) -> list[SegmentParts]:
        """The live index as plain arrays, one tuple per segment (the delta as a segment of
        its own), to ship to other processes: Ray's object store shares numpy arrays with
        every worker of a node without copying them (see `from_parts`)."""
        with self._lock:
            segments = list(self.segments)
            dh, di, _ = self._delta()
        if len(di):
            segments.append(Segment.build(dh, di))
        return [
            (s.hashes, s.ids, s.layout, s.dir_offsets, s.perms, np.array(s.alive), s.id_base)
            for s in segments
            if s.live_count()
        ]

    @classmethod
    def from_parts(cls, parts: list[SegmentParts]) -> PDQIndex:
        """An index over segments made by `to_parts` (no rebuild: the arrays are used as
        they are, read-only ones included; a removal copies a segment's alive flags)."""
        index = cls()
        index.segments = [Segment(*p) for p in parts]
        return index

    def save(self, folder: Path, stamp: str = "") -> None:
        """Persist (delta folded in first): .npy files and a manifest with checksums, each
        fsynced, then one atomic rename of the folder (a crash leaves the old or the new)."""
        if self._delta_ids:
            self.compact(full=False)
        with self._lock:
            tmp = folder.with_name(folder.name + ".tmp")
            if tmp.exists():
                _rmtree(tmp)
            tmp.mkdir(parents=True)
            segments = []
            for k, seg in enumerate(self.segments):
                seg.save(tmp / f"seg{k:04d}")
                _fsync_dir(tmp / f"seg{k:04d}")
                segments.append(_file_digest(tmp / f"seg{k:04d}" / "segment.json"))
            body = {"format": FORMAT_VERSION, "segments": segments, "stamp": stamp}
            manifest = {"body": body, "sha256": _json_digest(body)}
            _write_file(tmp / "manifest.json", json.dumps(manifest).encode())
            _fsync_dir(tmp)
            old = folder.with_name(folder.name + ".old")
            if folder.exists():
                if old.exists():
                    _rmtree(old)
                folder.rename(old)
            tmp.rename(folder)
            _fsync_dir(folder.parent)
            if old.exists():
                _rmtree(old)

    def share_from(self, folder: Path) -> bool:
        """Use the saved copy's memory-mapped tables in place of this index's own arrays.

        Every server process then reads the same pages of the page cache instead of each
        holding a private copy (the tables are immutable; tombstones stay per process).
        False, changing nothing, when the saved segments are not exactly this index's.
        """
        saved, _stamp = PDQIndex.load(folder)
        with self._lock:
            pairs = list(zip(self.segments, saved.segments, strict=False))
            if len(saved.segments) != len(self.segments) or not all(
                mine.layout == theirs.layout
                and np.array_equal(mine.ids, theirs.ids)
                and np.array_equal(mine.hashes, theirs.hashes)
                for mine, theirs in pairs
            ):
                return False
            for mine, theirs in pairs:
                mine.hashes, mine.ids = theirs.hashes, theirs.ids
                mine.dir_offsets, mine.perms = theirs.dir_offsets, theirs.perms
        return True

    def is_mapped(self) -> bool:
        """Whether every segment's tables are memory-mapped files (shared between processes)."""
        return all(isinstance(s.hashes, np.memmap) for s in self.segments)

    @classmethod
    def load(cls, folder: Path) -> tuple[PDQIndex, str]:
        """Load a persisted index; returns it with the stamp it was saved with.

        Every file is checked against the checksums of the manifest and every table against
        its bounds before use: any damage raises IndexDamagedError (or OSError), never a
        crash or a silently wrong answer.
        """
        try:
            manifest = json.loads((folder / "manifest.json").read_bytes())
            body = manifest["body"]
            if _json_digest(body) != manifest["sha256"]:
                raise IndexDamagedError("manifest checksum mismatch")
            if body.get("format") not in READABLE_FORMATS:
                raise IndexDamagedError(
                    f"index format version {body.get('format')!r} is not readable by this "
                    f"version (it reads {', '.join(map(str, READABLE_FORMATS))}; version 4 "
                    "stores rows in a substring table's order): rebuild it"
                )
            index = cls()
            for k, digest in enumerate(body["segments"]):
                sub = folder / f"seg{k:04d}"
                _verify_file(sub / "segment.json", digest)
                index.segments.append(Segment.load(sub))
            return index, str(body.get("stamp", ""))
        except (KeyError, TypeError, AttributeError, ValueError, EOFError) as exc:
            if isinstance(exc, IndexDamagedError):
                raise
            raise IndexDamagedError(f"{type(exc).__name__}: {exc}") from exc


class IndexDamagedError(ValueError):
    """A saved index that cannot be trusted (bad checksum, shape or bounds): rebuild it."""


def _check_layout(lay: Layout) -> None:
    m = len(lay.lengths)
    _expect(m > 0 and len(lay.offsets) == m and len(lay.shifts) == m, "layout")
    _expect(0 <= lay.primary < m, "layout")
    for off, ln, sh in zip(lay.offsets, lay.lengths, lay.shifts, strict=True):
        _expect(off >= 0 and 0 < ln <= 32 and off + ln <= 256 and 0 <= sh <= 8, "layout")
        _expect(sh < ln, "layout")


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise IndexDamagedError(f"inconsistent index tables: {what}")


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class _HashingWriter:
    """A file wrapper that hashes what is written (np.save writes through it)."""

    def __init__(self, fh: io.BufferedWriter) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        self.size += len(memoryview(data).cast("B"))
        return self.fh.write(data)


def _write_npy(path: Path, array: Any) -> dict[str, Any]:
    """np.save to path, flushed and fsynced; returns its size and SHA-256."""
    with path.open("wb") as fh:
        writer = _HashingWriter(fh)
        np.save(writer, np.asarray(array), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    return {"size": writer.size, "sha256": writer.digest.hexdigest()}


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def _verify_file(path: Path, expected: Any) -> None:
    """Raise IndexDamagedError unless path has the recorded size and SHA-256."""
    if not isinstance(expected, dict):
        raise IndexDamagedError(f"no checksum recorded for {path.name}")
    if path.stat().st_size != expected.get("size"):
        raise IndexDamagedError(f"{path.parent.name}/{path.name}: wrong size")
    if _file_digest(path) != expected:
        raise IndexDamagedError(f"{path.parent.name}/{path.name}: checksum mismatch")


def _fsync_dir(path: Path) -> None:
    """Make renames and new entries in a directory durable (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some platforms cannot fsync a directory; the data files are synced anyway
    finally:
        os.close(fd)


def _rmtree(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir():
            _rmtree(child)
        else:
            child.unlink()
    path.rmdir()
