"""Robustness benchmark: match rate per transform, plain PDQ@31 vs openhotline, and false
positives over every unrelated (query, original) pair.

Originals: scikit-image's bundled sample photos plus generated images (multi-scale noise,
gradients and shapes); never real material. Each original is saved as JPEG q90; each
transform of it is a query. Columns:

- plain: pdqhash full resolution, original vs transformed, distance <= 31.
- ours (query side): the bank holds only the original's hash (as for imported lists); the
  query's candidates (itself, 8 dihedral, border-trimmed x 8) match at 31, the crop/rotation
  guesses at 31 - margin.
- ours + stored variants: as above, and the bank also holds the crop/rotation variants that
  openhotline stores for its own confirmed items.

    .venv/bin/python bench/robustness.py --originals 330
"""

from __future__ import annotations

import argparse
import io
import json
import time
from multiprocessing import Pool

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFont, ImageOps

from openhotline.media.decode import decode
from openhotline.media.hashing import FAST_MIN_SIDE, bits_to_hex
from openhotline.media.robust import candidates, geometric_candidates, stored_variants

RADIUS = 31
SAMPLES = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page",
           "text", "horse", "immunohistochemistry", "hubble_deep_field", "grass", "gravel",
           "brick", "retina", "clock", "motorcycle_left"]  # fmt: skip


def generated(seed: int) -> Image.Image:
    """A generated picture: multi-scale coloured noise, a gradient and random shapes."""
    rng = np.random.default_rng(seed)
    w, h = int(rng.choice([640, 600, 720, 480])), int(rng.choice([480, 400, 540, 640]))
    img = np.zeros((h, w, 3), dtype=np.float32)
    for s in (2, 3, 5, 8, 13, 21, 34):
        small = Image.fromarray((rng.random((s, s, 3)) * 255).astype(np.uint8))
        img += np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), np.float32) / s**0.7
    img = (img - img.min()) / (np.ptp(img) + 1e-6) * 255
    pil = Image.fromarray(img.astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(3, 12))):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(10, w // 2), y0 + rng.integers(10, h // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    return pil


def originals(count: int) -> list[Image.Image]:
    """Sample photos first (resized to about 640 px), then generated images."""
    import skimage.data

    out: list[Image.Image] = []
    for name in SAMPLES:
        try:
            img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        except Exception:  # noqa: S112 - samples that need a download are skipped
            continue
        scale = 640 / max(img.size)
        out.append(img.resize((round(img.width * scale), round(img.height * scale))))
    seed = 0
    while len(out) < count:
        out.append(generated(seed))
        seed += 1
    return out[:count]


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _border(img: Image.Image, share: float, i: int) -> Image.Image:
    fill = (0, 0, 0) if i % 2 else (255, 255, 255)
    return ImageOps.expand(img, border=(round(img.width * share), round(img.height * share)),
                           fill=fill)  # fmt: skip


def _corner_crop(img: Image.Image, i: int) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * 0.1), round(h * 0.1)
    boxes = [(0, 0, w - dx, h - dy), (dx, 0, w, h - dy), (0, dy, w - dx, h), (dx, dy, w, h)]
    return img.crop(boxes[i % 4])


def _watermark(img: Image.Image) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, img.height // 12)
    font = ImageFont.load_default(size=size)
    text = "SAMPLE WATERMARK"
    x, y = img.width // 10, img.height - 2 * size
    draw.text((x, y), text, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return out


TRANSFORMS = {
    "resize 50%": lambda im, i: jpeg(im.resize((im.width // 2, im.height // 2))),
    "JPEG q50": lambda im, i: jpeg(im, 50),
    "greyscale": lambda im, i: jpeg(im.convert("L")),
    "mirror": lambda im, i: jpeg(ImageOps.mirror(im)),
    "rotate 90": lambda im, i: jpeg(im.rotate(90, expand=True)),
    "border 5%": lambda im, i: jpeg(_border(im, 0.05, i)),
    "border 10%": lambda im, i: jpeg(_border(im, 0.10, i)),
    "crop 5%/side": lambda im, i: jpeg(im.crop((round(im.width * .05), round(im.height * .05),
                                                round(im.width * .95), round(im.height * .95)))),
    "crop 10% corner": lambda im, i: jpeg(_corner_crop(im, i)),
    "rotate 5": lambda im, i: jpeg(im.rotate(5 if i % 2 else -5)),
    "watermark": lambda im, i: jpeg(_watermark(im)),
}  # fmt: skip


def words(hexes: list[str]) -> np.ndarray:
    return (
        np.frombuffer(bytes.fromhex("".join(hexes)), dtype=">u8").reshape(-1, 4).astype(np.uint64)
    )


def min_dist(q: np.ndarray, qowner: np.ndarray, b: np.ndarray, bowner: np.ndarray,
             nq: int, nb: int) -> np.ndarray:  # fmt: skip
    """(nq, nb) minimum distance between any hash of query i and any hash of original j."""
    out = np.full((nq, nb), 256, dtype=np.int32)
    for s in range(0, len(q), 512):
        qs = q[s : s + 512]
        d = np.bitwise_count(qs[:, None, :] ^ b[None, :, :]).sum(axis=2).astype(np.int32)
        for k in range(len(qs)):
            np.minimum.at(out[qowner[s + k]], bowner, d[k])
    return out


def full_pdq(data: bytes) -> str:
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return bits_to_hex(pdqhash.compute(arr)[0])


def _bank_hashes(f: bytes) -> tuple[str, str, list[str]]:
    """Plain full-res PDQ, our PDQ and our stored variants of an original file."""
    d = decode(f, min_side=FAST_MIN_SIDE)
    ours = candidates(d.frames[0], (d.width, d.height))[0].pdq
    variants = [v.pdq for v in stored_variants(d.frames[0], (d.width, d.height))]
    return full_pdq(f), ours, variants


def _query_hashes(f: bytes) -> tuple[str, list[str], list[str]]:
    """Plain full-res PDQ, our main candidates and our geometric candidates of a query."""
    d = decode(f, min_side=FAST_MIN_SIDE)
    main = [c.pdq for c in candidates(d.frames[0], (d.width, d.height))]
    geo = [c.pdq for c in geometric_candidates(d.frames[0], (d.width, d.height))]
    return full_pdq(f), main, geo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--originals", type=int, default=330)
    ap.add_argument("--margin", type=int, default=-1, help="geometric margin (-1: the safe one)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    imgs = originals(args.originals)
    n = len(imgs)
    files = [jpeg(im) for im in imgs]
    with Pool(args.workers) as pool:
        banked = pool.map(_bank_hashes, files, chunksize=4)
    bank_plain = words([b[0] for b in banked])
    bank_main = [b[1] for b in banked]
    bank_var, var_owner = [], []
    for i, b in enumerate(banked):
        bank_var.extend(b[2])
        var_owner.extend([i] * len(b[2]))
    bank_main_w = words(bank_main)
    bank_all_w = np.concatenate([bank_main_w, words(bank_var)])
    bank_all_owner = np.concatenate([np.arange(n), np.asarray(var_owner)])
    results = {}
    geo_true, geo_false = [], []
    for tname, fn in TRANSFORMS.items():
        qfiles = [fn(im, i) for i, im in enumerate(imgs)]
        with Pool(args.workers) as pool:
            queried = pool.map(_query_hashes, qfiles, chunksize=4)
        plain = words([q[0] for q in queried])
        d_plain = min_dist(plain, np.arange(n), bank_plain, np.arange(n), n, n)
        main_h, main_o, geo_h, geo_o = [], [], [], []
        for i, q in enumerate(queried):
            main_h.extend(q[1])
            main_o.extend([i] * len(q[1]))
            geo_h.extend(q[2])
            geo_o.extend([i] * len(q[2]))
        mh, gh = words(main_h), words(geo_h)
        mo, go = np.asarray(main_o), np.asarray(geo_o)
        ar = np.arange(n)
        res = {
            "plain_main": d_plain,
            "main_q": min_dist(mh, mo, bank_main_w, ar, n, n),
            "geo_q": min_dist(gh, go, bank_main_w, ar, n, n),
            "main_v": min_dist(mh, mo, bank_all_w, bank_all_owner, n, n),
            "geo_v": min_dist(gh, go, bank_all_w, bank_all_owner, n, n),
        }
        results[tname] = res
        off = ~np.eye(n, dtype=bool)
        geo_true.extend(np.diag(res["geo_v"]).tolist())
        geo_false.append(int(min(res["geo_v"][off].min(), res["geo_q"][off].min())))
        print(f"# {tname} done ({time.time() - t0:.0f}s)", flush=True)
    # The geometric margin: the smallest that keeps every unrelated pair out.
    main_false = min(int(r["main_v"][~np.eye(n, dtype=bool)].min()) for r in results.values())
    safe_geo = min(geo_false)
    margin = args.margin if args.margin >= 0 else max(0, RADIUS - safe_geo + 1)
    geo_radius = RADIUS - margin
    off = ~np.eye(n, dtype=bool)
    pairs = 0
    fp = {"plain": 0, "ours": 0, "ours_variants": 0}
    for tname, r in results.items():
        diag = np.arange(n)
        plain_ok = r["plain_main"][diag, diag] <= RADIUS
        ours_ok = (r["main_q"][diag, diag] <= RADIUS) | (r["geo_q"][diag, diag] <= geo_radius)
        var_ok = (r["main_v"][diag, diag] <= RADIUS) | (r["geo_v"][diag, diag] <= geo_radius)
        pairs += int(off.sum())
        fp["plain"] += int((r["plain_main"][off] <= RADIUS).sum())
        fp["ours"] += int(((r["main_q"] <= RADIUS) | (r["geo_q"] <= geo_radius))[off].sum())
        fp["ours_variants"] += int(
            ((r["main_v"] <= RADIUS) | (r["geo_v"] <= geo_radius))[off].sum()
        )
        print(json.dumps({"transform": tname, "plain": float(plain_ok.mean()),
                          "ours": float(ours_ok.mean()),
                          "ours_variants": float(var_ok.mean())}), flush=True)  # fmt: skip
    print(json.dumps({"originals": n, "unrelated_pairs": pairs, "false_positives": fp,
                      "geo_radius": geo_radius, "closest_unrelated_main": main_false,
                      "closest_unrelated_geo": safe_geo,
                      "seconds": round(time.time() - t0)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
