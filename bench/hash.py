"""Hashing benchmark: images/s on one core for 1024x768 and 12 MP JPEGs.

Compares, in the same run and on the same files: HMA's `PdqSignal.hash_from_bytes`,
plain pdqhash at full resolution (Pillow decode + pdqhash.compute), and openhotline's
`hash_bytes` (fast path; it also computes MD5, SHA-1 and SHA-256). Also reports the distance
of the fast-path PDQ to the full-resolution PDQ (mean, max, distribution).

Images: scikit-image's bundled sample photos and generated scenes, resized and saved as
JPEG q90 (never real material). Needs the bench extra.

    .venv/bin/python bench/hash.py --images 12 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections import Counter

import numpy as np
import pdqhash
from PIL import Image

from openhotline.media.hashing import bits_to_hex, hamming_hex, hash_bytes

SAMPLES = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page",
           "text", "horse", "immunohistochemistry", "hubble_deep_field", "grass", "gravel",
           "brick", "retina", "cat", "clock"]  # fmt: skip


def scene(w: int, h: int, seed: int) -> Image.Image:
    """A generated picture: smooth gradients, discs and bars."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), dtype=np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6)
        img[..., c] = 127 + 80 * np.sin(fx * x / w * 6.28 + ph) * np.cos(fy * y / h * 6.28)
    for _ in range(8):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.2) * w
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def source_images(count: int) -> list[Image.Image]:
    """Bundled sample photos first, then generated scenes."""
    import skimage.data

    out: list[Image.Image] = []
    for name in SAMPLES:
        if len(out) >= count:
            break
        try:
            out.append(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        except Exception:  # noqa: S112 - a sample that needs a download is skipped
            continue
    seed = 0
    while len(out) < count:
        out.append(scene(800, 600, seed))
        seed += 1
    return out


def jpegs(size: tuple[int, int], count: int) -> list[bytes]:
    """JPEG q90 files of the given size."""
    files = []
    for img in source_images(count):
        buf = io.BytesIO()
        img.resize(size, Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
        files.append(buf.getvalue())
    return files


def full_res_pdq(data: bytes) -> str:
    """Plain pdqhash on the full-resolution decode."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bits, _q = pdqhash.compute(arr)
    return bits_to_hex(bits)


def decode_only(data: bytes) -> None:
    """Pillow full decode, for the scan-speed comparison."""
    Image.open(io.BytesIO(data)).convert("RGB").load()


def rate(fn, files: list[bytes], rounds: int, min_seconds: float) -> float:
    """Median over rounds of images/s (each round loops the files for min_seconds)."""
    fn(files[0])
    rates = []
    for _ in range(rounds):
        done = 0
        t = time.perf_counter()
        while True:
            for f in files:
                fn(f)
            done += len(files)
            el = time.perf_counter() - t
            if el >= min_seconds:
                break
        rates.append(done / el)
    return float(np.median(rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per round")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from threatexchange.signal_type.pdq.signal import PdqSignal

    for label, size in (("1024x768", (1024, 768)), ("12MP", (4000, 3000))):
        files = jpegs(size, args.images)
        dists = [hamming_hex(hash_bytes(f).pdq, full_res_pdq(f)) for f in files]
        row = {
            "size": label,
            "files": len(files),
            "hma_per_s": rate(PdqSignal.hash_from_bytes, files, args.rounds, args.seconds),
            "pdqhash_full_per_s": rate(full_res_pdq, files, args.rounds, args.seconds),
            "ours_per_s": rate(hash_bytes, files, args.rounds, args.seconds),
            "decode_only_per_s": rate(decode_only, files, args.rounds, args.seconds),
            "fast_vs_full_mean_bits": float(np.mean(dists)),
            "fast_vs_full_max_bits": int(max(dists)),
            "fast_vs_full_hist": dict(sorted(Counter(dists).items())),
        }
        row["speedup_vs_hma"] = row["ours_per_s"] / row["hma_per_s"]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
