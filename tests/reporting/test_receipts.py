"""Receipt codes: 100 random bits, typable, tolerant of how people type them."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openhotline.reporting.receipts import (
    ALPHABET,
    RECEIPT_BITS,
    format_receipt,
    new_receipt,
    normalise_receipt,
)


def test_codes_are_unique_uniform_and_not_sequential() -> None:
    codes = [new_receipt() for _ in range(20_000)]
    assert len(set(codes)) == len(codes)
    assert RECEIPT_BITS >= 80
    assert all(len(c) == 20 and set(c) <= set(ALPHABET) for c in codes)
    # Every position uses the whole alphabet roughly evenly (no counter, no timestamp).
    for pos in (0, 10, 19):
        counts = Counter(c[pos] for c in codes)
        assert len(counts) == 32
        assert max(counts.values()) < 2 * min(counts.values())
    assert sorted(codes[:100]) != codes[:100]


def test_each_character_is_five_bits_of_its_own_random_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receipt is 20 bytes of the CSPRNG pool, each mapped by its low 5 bits to one
    character (100 bits, no slow pure-Python base32 step); the high bits are dropped."""
    from openhotline.reporting import receipts

    monkeypatch.setattr(receipts._POOL, "take", lambda n: bytes(range(n)))
    assert new_receipt() == ALPHABET[:20]
    monkeypatch.setattr(receipts._POOL, "take", lambda n: bytes([0xE0 | 31] * n))
    assert new_receipt() == "Z" * 20
    assert format_receipt(ALPHABET[:20]) == "0123-4567-89AB-CDEF-GHJK"
    assert format_receipt("ABCDEF") == "ABCD-EF"


def test_typing_variants_normalise() -> None:
    code = new_receipt()
    shown = format_receipt(code)
    assert shown.count("-") == 4
    assert normalise_receipt(shown) == code
    assert normalise_receipt(shown.lower()) == code
    assert normalise_receipt(" " + shown.replace("-", " ") + " ") == code
    assert normalise_receipt(code.replace("1", "I").replace("0", "O")) == code
    assert normalise_receipt("too-short") is None
    assert normalise_receipt(code + "X") is None
    assert normalise_receipt("U" * 20) is None


@given(st.text(max_size=40))
def test_normalise_never_raises(text: str) -> None:
    out = normalise_receipt(text)
    assert out is None or (len(out) == 20 and set(out) <= set(ALPHABET))


def test_a_forked_child_does_not_reuse_the_parents_random_bytes() -> None:
    """Receipts come from a buffer of OS random bytes; a child process must not inherit it."""
    import os

    if not hasattr(os, "fork"):
        return
    new_receipt()  # the parent now holds buffered bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next receipt and leave at once
        os.write(write, new_receipt().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child != new_receipt()
