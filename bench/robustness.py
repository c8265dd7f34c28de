"""Robustness benchmark on natural photographs: match rate per transform and false positives.

Photos and decoys come from bench/photos.py (package registries only; run it first). The
photos are split in two halves, each photo wholly in one: known (in the bank) and unknown
(never in the bank). Every transform of every photo is a query; a known photo's query
should match its own bank entry, and any other (query, bank entry) pair is unrelated. The
bank also holds decoys: the decoy photos and 5 crops of each (quadrants, centre), which are
never queried and only raise the number of unrelated pairs.

The known photos are split again: "dev" (index % 4 == 0) is what the query code was tuned
on, "held" (index % 4 == 2) was never looked at while tuning; each row reports both.

Columns (one run, same queries):
- plain: pdqhash at full resolution, query vs the known photo's hash, distance <= 31.
- dihedral: the query's 8 rotations/mirrors (pdqhash.compute_dihedral), any within 31.
- imported: openhotline on an imported PDQ list. The bank holds the partner's plain hash
  (pdqhash, full resolution); the query goes through media.service.query_image and the
  acceptance rule of matching/rules.py, exactly as `openhotline scan` and /api/v1/match.
- own: openhotline on its own confirmed items: the bank also holds what `bank add-image`
  stores for the item (media.service.item_variants), and the local-feature signal where
  available (matching/features.py).

False positives: every unrelated (query, bank entry) pair that any column accepts. The
transforms include amounts the stored variants were not built for (crops of 15-25%,
rotations of 10-15 degrees, perspective, screenshots, collages, caption bars).

    .venv/bin/python bench/photos.py && .venv/bin/python bench/robustness.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable
from multiprocessing import Pool, get_context
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFont, ImageOps

RADIUS = 31
PHOTOS = Path(__file__).parent / "out" / "photos"
BORDER_COLOURS = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (20, 30, 80), (200, 30, 30),
                  (35, 35, 35), (240, 235, 220)]  # fmt: skip


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _font(size: int) -> Any:
    return ImageFont.load_default(size=size)


def _border(img: Image.Image, share: float, i: int) -> Image.Image:
    fill = BORDER_COLOURS[i % len(BORDER_COLOURS)]
    return ImageOps.expand(img, border=(round(img.width * share), round(img.height * share)),
                           fill=fill)  # fmt: skip


def _letterbox(img: Image.Image, i: int) -> Image.Image:
    """Bars above and below (a video frame or a phone screenshot), 15% each."""
    fill = BORDER_COLOURS[i % len(BORDER_COLOURS)]
    pad = round(img.height * 0.15)
    return ImageOps.expand(img, border=(0, pad, 0, pad), fill=fill)


def _corner_crop(img: Image.Image, share: float, i: int) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * share), round(h * share)
    boxes = [(0, 0, w - dx, h - dy), (dx, 0, w, h - dy), (0, dy, w - dx, h), (dx, dy, w, h)]
    return img.crop(boxes[i % 4])


def _centre_crop(img: Image.Image, share: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * share), round(h * share), round(w * (1 - share)),
                     round(h * (1 - share))))  # fmt: skip


def _rotate(img: Image.Image, degrees: float, i: int) -> Image.Image:
    return img.rotate(degrees if i % 2 else -degrees, resample=Image.Resampling.BILINEAR)


def _perspective(img: Image.Image, i: int) -> Image.Image:
    """The photo seen at an angle (a photo of a screen): one side shrunk by 8% per corner."""
    import cv2

    a = np.asarray(img)
    h, w = a.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    k = 0.08
    dst = [
        [[0, 0], [w, h * k], [w, h * (1 - k)], [0, h]],
        [[0, h * k], [w, 0], [w, h], [0, h * (1 - k)]],
        [[w * k, 0], [w * (1 - k), 0], [w, h], [0, h]],
        [[0, 0], [w, 0], [w * (1 - k), h], [w * k, h]],
    ][i % 4]
    m = cv2.getPerspectiveTransform(src, np.float32(dst))
    return Image.fromarray(cv2.warpPerspective(a, m, (w, h)))


def _watermark(img: Image.Image) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, img.height // 12)
    x, y = img.width // 10, img.height - 2 * size
    draw.text((x, y), "SAMPLE WATERMARK", fill=(255, 255, 255), font=_font(size),
              stroke_width=2, stroke_fill=(0, 0, 0))  # fmt: skip
    return out


def _meme(img: Image.Image, i: int) -> Image.Image:
    """A caption bar above the photo (18% of its height) with bold text."""
    bar = round(img.height * 0.18)
    dark = i % 3 == 0
    out = Image.new("RGB", (img.width, img.height + bar), (0, 0, 0) if dark else (255, 255, 255))
    out.paste(img, (0, bar))
    draw = ImageDraw.Draw(out)
    colour = (255, 255, 255) if dark else (0, 0, 0)
    draw.text((img.width // 20, bar // 4), "WHEN THE BENCHMARK FINALLY PASSES", fill=colour,
              font=_font(max(12, bar // 3)))  # fmt: skip
    return out


def _screenshot(img: Image.Image, i: int, share: float = 0.7) -> Image.Image:
    """The photo at `share` of the canvas width inside a browser-like window."""
    dark = i % 2 == 1
    bg, fg, panel = ((32, 33, 36), (230, 230, 230), (45, 46, 50)) if dark else (
        (255, 255, 255), (30, 30, 30), (242, 242, 242))  # fmt: skip
    pw = img.width
    cw = round(pw / share)
    title, address, caption = round(cw * 0.025), round(cw * 0.035), round(cw * 0.06)
    ch = title + address + img.height + caption + round(cw * 0.04)
    out = Image.new("RGB", (cw, ch), bg)
    d = ImageDraw.Draw(out)
    d.rectangle([0, 0, cw, title], fill=(60, 60, 70) if dark else (210, 210, 215))
    for k, col in enumerate([(230, 80, 80), (230, 180, 60), (90, 190, 90)]):
        r = title // 4
        d.ellipse(
            [10 + k * 3 * r, title // 2 - r, 10 + k * 3 * r + 2 * r, title // 2 + r], fill=col
        )
    d.rectangle([0, title, cw, title + address], fill=panel)
    d.rounded_rectangle([cw * 0.1, title + 4, cw * 0.8, title + address - 4], radius=6,
                        fill=bg, outline=(160, 160, 160))  # fmt: skip
    d.text((cw * 0.12, title + address * 0.25), "https://forum.example.test/thread/8841",
           fill=fg, font=_font(max(10, address // 2)))  # fmt: skip
    side = max(0, cw - pw - round(cw * 0.06))
    left_side = i % 4 < 2
    sx = 0 if left_side else cw - side
    d.rectangle([sx, title + address, sx + side, ch], fill=panel)
    for k in range(12):
        y = title + address + 20 + k * max(18, ch // 30)
        d.text((sx + 10, y), f"Topic {k + 1}: holidays", fill=fg, font=_font(max(9, cw // 90)))
    px = side + round(cw * 0.03) if left_side else round(cw * 0.03)
    py = title + address + round(cw * 0.02)
    out.paste(img, (px, py))
    d.text((px, py + img.height + caption // 4), "Posted by user123 - look at this view!",
           fill=fg, font=_font(max(10, caption // 3)))  # fmt: skip
    return out


def _mobile(img: Image.Image, i: int, status_share: float = 0.06) -> Image.Image:
    """A phone app screenshot: status bar and app header above the full-width photo, a row of
    action icons, a comment and a comment bar below (light and dark themes)."""
    dark = i % 2 == 0
    bg, fg, sub = ((0, 0, 0), (245, 245, 245), (150, 150, 150)) if dark else (
        (255, 255, 255), (20, 20, 20), (110, 110, 110))  # fmt: skip
    w = img.width
    status, header = round(w * status_share), round(w * 0.14)
    actions, comment, bar = round(w * 0.12), round(w * 0.16), round(w * 0.13)
    h = status + header + img.height + actions + comment + bar
    out = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(out)
    small, big = _font(max(9, w // 40)), _font(max(10, w // 28))
    d.text((w * 0.05, status * 0.2), "9:41", fill=fg, font=small)
    d.rectangle([w * 0.85, status * 0.3, w * 0.93, status * 0.7], outline=fg)
    r = header // 3
    d.ellipse([w * 0.04, status + header / 2 - r, w * 0.04 + 2 * r, status + header / 2 + r],
              fill=(200, 120, 60))  # fmt: skip
    d.text((w * 0.04 + 2.6 * r, status + header * 0.3), "traveller_42", fill=fg, font=big)
    d.text((w * 0.9, status + header * 0.25), "...", fill=fg, font=big)
    y = status + header
    out.paste(img, (0, y))
    y += img.height
    for k in range(4):
        x = w * 0.04 + k * w * 0.1
        d.ellipse([x, y + actions * 0.25, x + actions * 0.5, y + actions * 0.75], outline=fg,
                  width=2)  # fmt: skip
    y += actions
    d.text((w * 0.04, y), "1,024 likes", fill=fg, font=big)
    d.text((w * 0.04, y + comment * 0.45), "traveller_42 what a day out there", fill=sub,
           font=small)  # fmt: skip
    y += comment
    d.rectangle([0, y, w, h], fill=(28, 28, 30) if dark else (245, 245, 245))
    d.rounded_rectangle([w * 0.04, y + bar * 0.2, w * 0.8, y + bar * 0.8], radius=bar // 3,
                        outline=sub)  # fmt: skip
    d.text((w * 0.07, y + bar * 0.35), "Add a comment...", fill=sub, font=small)
    return out


def _chat(img: Image.Image, i: int) -> Image.Image:
    """A desktop chat client: contact list on the left, a header, the photo at ~50% of the
    window width inside a coloured message bubble, an input bar at the bottom."""
    dark = i % 2 == 1
    bg, fg, panel, bubble = ((24, 26, 31), (225, 225, 230), (36, 39, 46), (52, 80, 130)) if dark \
        else ((236, 229, 221), (25, 25, 25), (255, 255, 255), (215, 245, 200))  # fmt: skip
    cw = round(img.width / 0.5)
    contacts = round(cw * 0.28)
    header, inp, pad = round(cw * 0.05), round(cw * 0.06), max(4, round(cw * 0.006))
    ch = header + round(cw * 0.03) + img.height + 2 * pad + round(cw * 0.05) + inp
    out = Image.new("RGB", (cw, ch), bg)
    d = ImageDraw.Draw(out)
    font = _font(max(9, cw // 80))
    d.rectangle([0, 0, contacts, ch], fill=panel)
    for k in range(14):
        y = round(cw * 0.01) + k * max(20, ch // 14)
        d.ellipse([8, y, 8 + max(12, ch // 30), y + max(12, ch // 30)], fill=(120, 140, 170))
        d.text((16 + max(12, ch // 30), y), f"Friend {k + 1}", fill=fg, font=font)
    d.rectangle([contacts, 0, cw, header], fill=panel)
    d.text((contacts + 12, header * 0.3), "Friend 1 - online", fill=fg, font=font)
    bx = contacts + round(cw * 0.04)
    by = header + round(cw * 0.03)
    d.rounded_rectangle([bx, by, bx + img.width + 2 * pad, by + img.height + 2 * pad + cw * 0.03],
                        radius=3 * pad, fill=bubble)  # fmt: skip
    out.paste(img, (bx + pad, by + pad))
    d.text((bx + pad, by + pad + img.height + 2), "12:04", fill=fg, font=font)
    d.rectangle([contacts, ch - inp, cw, ch], fill=panel)
    d.text((contacts + 12, ch - inp * 0.7), "Type a message", fill=fg, font=font)
    return out


def _collage(img: Image.Image, others: list[Image.Image], i: int) -> Image.Image:
    """A 2x2 grid with a 6 px white gutter, the photo in cell i % 4."""
    cw, ch = img.width // 2, img.height // 2
    cells = [o.resize((cw, ch)) for o in others[:3]]
    cells.insert(i % 4, img.resize((cw, ch)))
    g = 6
    out = Image.new("RGB", (2 * cw + 3 * g, 2 * ch + 3 * g), (255, 255, 255))
    for k, c in enumerate(cells):
        out.paste(c, (g + (k % 2) * (cw + g), g + (k // 2) * (ch + g)))
    return out


Transform = Callable[[Image.Image, int, list[Image.Image]], bytes]
TRANSFORMS: dict[str, Transform] = {
    "untransformed": lambda im, i, o: b"",  # the bank file itself, byte for byte
    "JPEG q50": lambda im, i, o: jpeg(im, 50),
    "resize 50%": lambda im, i, o: jpeg(im.resize((im.width // 2, im.height // 2))),
    "greyscale": lambda im, i, o: jpeg(im.convert("L")),
    "mirror": lambda im, i, o: jpeg(ImageOps.mirror(im)),
    "rotate 90": lambda im, i, o: jpeg(im.rotate(90, expand=True)),
    "border 5%": lambda im, i, o: jpeg(_border(im, 0.05, i)),
    "border 10%": lambda im, i, o: jpeg(_border(im, 0.10, i + 3)),
    "letterbox 15%": lambda im, i, o: jpeg(_letterbox(im, i)),
    "crop 5%/side": lambda im, i, o: jpeg(_centre_crop(im, 0.05)),
    "crop 10% corner": lambda im, i, o: jpeg(_corner_crop(im, 0.10, i)),
    "crop 15% corner": lambda im, i, o: jpeg(_corner_crop(im, 0.15, i)),
    "crop 20% corner": lambda im, i, o: jpeg(_corner_crop(im, 0.20, i)),
    "crop 25% corner": lambda im, i, o: jpeg(_corner_crop(im, 0.25, i)),
    "crop 12.5%/side": lambda im, i, o: jpeg(_centre_crop(im, 0.125)),
    "rotate 5": lambda im, i, o: jpeg(_rotate(im, 5, i)),
    "rotate 10": lambda im, i, o: jpeg(_rotate(im, 10, i)),
    "rotate 15": lambda im, i, o: jpeg(_rotate(im, 15, i)),
    "perspective": lambda im, i, o: jpeg(_perspective(im, i)),
    "watermark": lambda im, i, o: jpeg(_watermark(im)),
    "meme caption": lambda im, i, o: jpeg(_meme(im, i)),
    "screenshot": lambda im, i, o: jpeg(_screenshot(im, i)),
    "collage 2x2": lambda im, i, o: jpeg(_collage(im, o, i)),
    # Amounts and layouts the query code was not tuned on (issue 13: the hidden benchmark
    # uses other photos and other amounts), reported separately.
    "border 3%": lambda im, i, o: jpeg(_border(im, 0.03, i + 1)),
    "border 7%": lambda im, i, o: jpeg(_border(im, 0.07, i + 5)),
    "border 15%": lambda im, i, o: jpeg(_border(im, 0.15, i + 2)),
    "screenshot 55%": lambda im, i, o: jpeg(_screenshot(im, i + 1, 0.55)),
    "screenshot 85%": lambda im, i, o: jpeg(_screenshot(im, i, 0.85)),
    "mobile app": lambda im, i, o: jpeg(_mobile(im, i)),
    "chat window": lambda im, i, o: jpeg(_chat(im, i)),
    # Added with branch s22-robust and never looked at while tuning it: a border colour not
    # in BORDER_COLOURS, and the other theme of the phone-app and chat layouts (the known
    # photos have even indices, so "mobile app" is always dark and "chat window" light).
    "border 12% teal": lambda im, i, o: jpeg(
        ImageOps.expand(
            im, border=(round(im.width * 0.12), round(im.height * 0.12)), fill=(0, 128, 128)
        )
    ),
    "mobile app light": lambda im, i, o: jpeg(_mobile(im, i + 1)),
    "chat window dark": lambda im, i, o: jpeg(_chat(im, i + 1)),
    # Added with branch s23-imported and never looked at while tuning it: border widths and
    # a colour not used in development, and the dark phone app with a taller status bar.
    "border 8%": lambda im, i, o: jpeg(_border(im, 0.08, i + 4)),
    "border 13%": lambda im, i, o: jpeg(_border(im, 0.13, i + 6)),
    "border 9% purple": lambda im, i, o: jpeg(
        ImageOps.expand(
            im, border=(round(im.width * 0.09), round(im.height * 0.09)), fill=(40, 20, 60)
        )
    ),
    "mobile app status 10%": lambda im, i, o: jpeg(_mobile(im, i, status_share=0.10)),
    # Added with branch s24-imported and never looked at while tuning it (s23's untuned
    # border 8% and 13% were looked at by s24): other widths and a colour not in the list.
    "border 6%": lambda im, i, o: jpeg(_border(im, 0.06, i + 2)),
    "border 11%": lambda im, i, o: jpeg(_border(im, 0.11, i + 5)),
    # A bordered copy mirrored: what the rotated/mirrored trims are for (rules.py matches
    # them 4 bits inside the radius since s24).
    "border 10% mirror": lambda im, i, o: jpeg(ImageOps.mirror(_border(im, 0.10, i + 3))),
    "border 14% olive": lambda im, i, o: jpeg(
        ImageOps.expand(
            im, border=(round(im.width * 0.14), round(im.height * 0.14)), fill=(70, 75, 30)
        )
    ),
}

# ---- worker side -------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init(photo_files: list[str], features: bool, bank_features: list[bytes] | None = None) -> None:
    _STATE["files"] = photo_files
    _STATE["features"] = features
    _STATE["cache"] = {}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if bank_features is not None:
        from openhotline.matching.features import FeatureIndex, Features

        fidx = FeatureIndex()
        for e, raw in enumerate(bank_features):
            fidx.add(e, Features.from_bytes(raw))
        fidx.nbytes()  # build now, not on the first query
        _STATE["fidx"] = fidx


def _photo(idx: int) -> tuple[bytes, Image.Image]:
    cache = _STATE["cache"]
    if idx not in cache:
        data = Path(_STATE["files"][idx]).read_bytes()
        cache[idx] = (data, Image.open(io.BytesIO(data)).convert("RGB"))
    out: tuple[bytes, Image.Image] = cache[idx]
    return out


def _full_pdq(data: bytes) -> tuple[bytes, list[bytes], int]:
    arr = np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    dih, quality = pdqhash.compute_dihedral(arr)
    return _pack(dih[0]), [_pack(h) for h in dih], int(quality)


def _pack(bits: Any) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def bank_job(idx_file: tuple[int, str, bool]) -> dict[str, Any]:
    """Hashes a bank entry needs: the partner's plain PDQ, our item hashes and variants."""
    from openhotline.media.service import item_variants

    idx, path, own = idx_file
    data = Path(path).read_bytes()
    plain, _dih, quality = _full_pdq(data)
    out: dict[str, Any] = {"idx": idx, "plain": plain, "plain_quality": quality}
    if own:
        hashes, variants = item_variants(data)
        out["own"] = [bytes.fromhex(hashes.pdq)] + [bytes.fromhex(v.pdq) for v in variants]
        if _STATE.get("features"):
            from openhotline.matching.features import extract

            out["features"] = extract(data)
    return out


def query_job(job: tuple[str, int, list[int]]) -> dict[str, Any]:
    """Make one transformed query and compute every column's hashes for it."""
    from openhotline.media.service import query_image

    tname, idx, other_ids = job
    data, img = _photo(idx)
    others = [_photo(k)[1] for k in other_ids]
    q = TRANSFORMS[tname](img, idx, others) or data
    plain, dih, quality = _full_pdq(q)
    t0 = time.perf_counter()
    qi = query_image(q)
    t_ours = time.perf_counter() - t0
    out: dict[str, Any] = {
        "plain": plain, "dihedral": dih, "quality": quality, "seconds": t_ours,
        "cands": [(c.label, bytes.fromhex(c.pdq), c.quality) for c in qi.candidates],
    }  # fmt: skip
    if _STATE.get("features"):
        from openhotline.matching.features import query_features

        t0 = time.perf_counter()
        feats = query_features(q)
        out["feature_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        found: dict[int, int] = {}
        for _lbl, f in feats:
            for e, k in _STATE["fidx"].search(f, min_inliers=6):  # low floor: see the margin
                found[e] = max(found.get(e, 0), k)
        out["search_seconds"] = time.perf_counter() - t0
        out["found"] = found
    return out


# ---- evaluation ---------------------------------------------------------------------------


def words(raw: list[bytes]) -> np.ndarray:
    if not raw:
        return np.zeros((0, 4), dtype=np.uint64)
    return np.frombuffer(b"".join(raw), dtype=">u8").reshape(-1, 4).astype(np.uint64)


def accept_matrix(q: np.ndarray, qowner: np.ndarray, qmax: np.ndarray, b: np.ndarray,
                  bowner: np.ndarray, nq: int, nb: int
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(nq, nb) accepted, and (nq, nb) min distance, over every hash of a query and an entry.

    q: query-side hashes (owner: query index, qmax: largest accepted distance of each);
    b: bank-side hashes (owner: bank entry index).
    """
    acc = np.zeros((nq, nb), dtype=bool)
    mind = np.full((nq, nb), 256, dtype=np.int16)
    for s in range(0, len(q), 256):
        qs = q[s : s + 256]
        d = np.bitwise_count(qs[:, None, :] ^ b[None, :, :]).sum(axis=2).astype(np.int16)
        ok = d <= qmax[s : s + 256, None]
        for k in range(len(qs)):
            o = qowner[s + k]
            np.minimum.at(mind[o], bowner, d[k])
            if ok[k].any():
                acc[o, bowner[ok[k]]] = True
    return acc, mind


def unrelated_closest(
    q: np.ndarray,
    qowner: np.ndarray,
    b: np.ndarray,
    bowner: np.ndarray,
    unrel: np.ndarray,
    near: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per query-side hash: its closest unrelated bank hash, and how many are within `near`."""
    closest = np.full(len(q), 256, dtype=np.int16)
    within = np.zeros(len(q), dtype=np.int64)
    for s in range(0, len(q), 256):
        qs = q[s : s + 256]
        d = np.bitwise_count(qs[:, None, :] ^ b[None, :, :]).sum(axis=2).astype(np.int16)
        d[~unrel[qowner[s : s + 256]][:, bowner]] = 256
        closest[s : s + 256] = d.min(axis=1)
        within[s : s + 256] = (d <= near).sum(axis=1)
    return closest, within


def kind(label: str) -> str:
    """A candidate label without its region/block number or rotation: "region:snap"."""
    parts = label.split(":")[1:] or ["pdq"]
    out = []
    for p in parts:
        if p in ("rot90cw", "rot180", "rot90ccw", "flip_h", "flip_v", "transpose",
                 "antitranspose"):  # fmt: skip
            p = "dihedral"
        out.append(p.rstrip("0123456789") if p.startswith(("region", "block", "frame")) else p)
    return ":".join(out)


NEAR = 16  # unrelated pairs this close are counted per candidate kind (the margin's evidence)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    ap.add_argument("--transforms", nargs="*", default=None)
    ap.add_argument("--decoy-crops", type=int, default=5, help="crops per decoy (0-10)")
    ap.add_argument(
        "--legacy-gate",
        action="store_true",
        help="refuse every weak (quality < 50) candidate, as before issue 13",
    )
    ap.add_argument("--no-features", action="store_true", help="skip the local-feature signal")
    ap.add_argument(
        "--imported-only",
        action="store_true",
        help="skip the own-item variants (their bank side is most of the setup time)",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "robustness.jsonl")
    args = ap.parse_args()  # fmt: skip
    from openhotline.matching.rules import max_distance
    from openhotline.media import service  # noqa: F401 - loaded once, inherited by the workers

    features = not args.no_features and not args.imported_only
    if features:
        try:
            from openhotline.matching import features as feat_mod
        except ImportError:
            features = False
    t0 = time.time()
    manifest = json.loads((args.photos / "manifest.json").read_text())
    photo_files = [str(args.photos / "photos" / p["file"]) for p in manifest["photos"]]
    if args.limit:
        photo_files = photo_files[: args.limit]
    n = len(photo_files)
    known = [i for i in range(n) if i % 2 == 0]
    unknown = [i for i in range(n) if i % 2 == 1]
    # Decoy bank entries: each decoy photo and crops of it, written next to the photos.
    decoy_dir = args.photos / "decoy-bank"
    decoy_dir.mkdir(exist_ok=True)
    decoy_files = []
    boxes = [
        (0, 0, 0.6, 0.6),
        (0.4, 0, 1, 0.6),
        (0, 0.4, 0.6, 1),
        (0.4, 0.4, 1, 1),
        (0.2, 0.2, 0.8, 0.8),
        # --decoy-crops 10: five more, to reach millions of unrelated pairs with fewer queries
        (0, 0, 0.75, 1),
        (0.25, 0, 1, 1),
        (0, 0, 1, 0.75),
        (0, 0.25, 1, 1),
        (0.1, 0.1, 0.9, 0.9),
    ]
    for p in manifest["decoys"]:
        src = args.photos / "decoys" / p["file"]
        decoy_files.append(str(src))
        for k, (x0, y0, x1, y1) in enumerate(boxes[: args.decoy_crops]):
            f = decoy_dir / f"{k}_{p['file']}"
            if not f.exists():
                im = Image.open(src).convert("RGB")
                w, h = im.size
                im.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))).save(
                    f, "JPEG", quality=90
                )
            decoy_files.append(str(f))  # fmt: skip
    own = not args.imported_only
    bank_inputs = [(i, photo_files[i], own) for i in known]
    bank_inputs += [(-1, f, own) for f in decoy_files]
    nb = len(bank_inputs)
    with Pool(args.workers, _init, (photo_files, features)) as pool:
        banked = pool.map(bank_job, bank_inputs, chunksize=8)
    print(f"# bank: {len(known)} known + {len(decoy_files)} decoy entries "
          f"({time.time() - t0:.0f}s)", flush=True)  # fmt: skip
    bank_photo = np.asarray([b["idx"] for b in banked])  # photo index or -1 for decoys
    entry_of_photo = {int(p): e for e, p in enumerate(bank_photo) if p >= 0}
    bank_plain = words([b["plain"] for b in banked])
    own_h, own_o = [], []
    for e, b in enumerate(banked):
        # --imported-only: no stored variants, so the "own" columns repeat the imported ones
        own_h.extend(b.get("own", [b["plain"]]))
        own_o.extend([e] * len(b.get("own", [b["plain"]])))
    bank_own = words(own_h)
    bank_own_owner = np.asarray(own_o)
    fidx = None
    feature_stats: dict[str, Any] = {}
    min_inliers = feat_mod.MIN_INLIERS if features else 0
    if features:
        fidx = feat_mod.FeatureIndex()
        for e, b in enumerate(banked):
            fidx.add(e, b["features"])
        t1 = time.perf_counter()
        nbytes = fidx.nbytes()  # builds the multi-index
        feature_stats = {
            "items": nb, "descriptors": len(fidx), "build_s": round(time.perf_counter() - t1, 2),
            "index_bytes": nbytes,
            "stored_bytes_per_item": round(float(np.mean([len(b["features"].to_bytes())
                                                          for b in banked]))),
            "min_inliers": min_inliers,
        }  # fmt: skip
    ar_b = np.arange(nb)
    rng = np.random.default_rng(13)
    tnames = args.transforms or list(TRANSFORMS)
    rows = []
    totals = {"pairs": 0, "fp_plain": 0, "fp_dihedral": 0, "fp_imported": 0, "fp_own": 0,
              "fp_features": 0}  # fmt: skip
    closest = {"plain": 256, "dihedral": 256, "imported": 256, "own": 256}
    # per candidate kind, weak (quality < 50) or not: closest unrelated distance, number of
    # unrelated pairs within NEAR bits, and of pairs compared (imported lists)
    by_kind: dict[str, list[int]] = {}
    seconds_ours: list[float] = []
    seconds_feat: list[float] = []
    seconds_search: list[float] = []
    max_unrelated_inliers = 0
    labels: dict[str, dict[str, int]] = {}
    # One pool for every query, each worker with its own copy of the feature index
    # (forkserver: numba's threads do not survive a fork).
    bank_raw = [b["features"].to_bytes() for b in banked] if features else None
    ctx = get_context("forkserver")
    qpool = ctx.Pool(args.workers, _init, (photo_files, features, bank_raw))
    for tname in tnames:
        jobs, related = [], []
        for i in range(n):
            pool_ids = known if i in set(known) else unknown
            others = [int(k) for k in rng.choice([k for k in pool_ids if k != i], 3, replace=False)]
            others = others if tname == "collage 2x2" else []
            jobs.append((tname, i, others))
            related.append({i, *others})
        res = qpool.map(query_job, jobs, chunksize=4)
        seconds_ours.extend(r["seconds"] for r in res)
        seconds_feat.extend(r.get("feature_seconds", 0.0) for r in res)
        ar_q = np.arange(n)
        # plain and dihedral: one hash (8) per query at the bank radius.
        acc_plain, d_plain = accept_matrix(words([r["plain"] for r in res]), ar_q,
                                           np.full(n, RADIUS), bank_plain, ar_b, n, nb)  # fmt: skip
        dih = [h for r in res for h in r["dihedral"]]
        dih_o = np.repeat(ar_q, 8)
        acc_dih, d_dih = accept_matrix(words(dih), dih_o, np.full(len(dih), RADIUS), bank_plain,
                                       ar_b, n, nb)  # fmt: skip
        # ours: every candidate with the acceptance rule.
        cand, cand_o, cand_max, cand_lbl, cand_q = [], [], [], [], []
        for qi, r in enumerate(res):
            for lbl, h, quality in r["cands"]:
                if args.legacy_gate and quality < 50:
                    continue
                cand.append(h)
                cand_o.append(qi)
                cand_max.append(max_distance(lbl, quality, RADIUS))
                cand_lbl.append(lbl)
                cand_q.append(quality)
        cw, co, cm = words(cand), np.asarray(cand_o), np.asarray(cand_max)
        acc_imp, d_imp = accept_matrix(cw, co, cm, bank_plain, ar_b, n, nb)
        acc_own, d_own = accept_matrix(cw, co, cm, bank_own, bank_own_owner, n, nb)
        # which candidate produced the imported match (first accepted label, best distance)
        for qi in known:
            e = entry_of_photo[qi]
            best = None
            for k in np.flatnonzero(co == qi):
                d = int(np.bitwise_count(cw[k] ^ bank_plain[e]).sum())
                if d <= cm[k] and (best is None or d < best[0]):
                    best = (d, cand_lbl[k])
            if best:
                lbl = best[1].split(":")[1] if ":" in best[1] else "pdq"
                labels.setdefault(tname, {}).setdefault(lbl, 0)
                labels[tname][lbl] += 1
        inl = np.zeros((n, nb), dtype=np.int32)
        inliers_true: list[int] = []
        if fidx is not None:
            for qi, r in enumerate(res):
                for e, k in r["found"].items():
                    inl[qi, e] = k
                seconds_search.append(r["search_seconds"])
                if qi in entry_of_photo and inl[qi, entry_of_photo[qi]] >= min_inliers:
                    inliers_true.append(int(inl[qi, entry_of_photo[qi]]))
        acc_feat = inl >= min_inliers if fidx is not None else np.zeros((n, nb), dtype=bool)
        acc_own_all = acc_own | acc_feat
        # unrelated: bank entries whose photo is not in the query (decoys always unrelated)
        unrel = np.ones((n, nb), dtype=bool)
        for qi, rel in enumerate(related):
            for p in rel:
                if p in entry_of_photo:
                    unrel[qi, entry_of_photo[p]] = False
        c_close, c_near = unrelated_closest(cw, co, bank_plain, ar_b, unrel, NEAR)
        for k, lbl in enumerate(cand_lbl):
            key = f"{kind(lbl)}|{'weak' if cand_q[k] < 50 else 'strong'}"
            rec = by_kind.setdefault(key, [256, 0, 0])
            rec[0] = min(rec[0], int(c_close[k]))
            rec[1] += int(c_near[k])
            rec[2] += int(unrel[co[k]].sum())
        totals["pairs"] += int(unrel.sum())
        for col, acc in (("plain", acc_plain), ("dihedral", acc_dih), ("imported", acc_imp),
                         ("own", acc_own_all), ("features", acc_feat)):  # fmt: skip
            totals[f"fp_{col}"] += int((acc & unrel).sum())
        for th in (8, 10, 12, 16, 20):
            totals[f"fp_features_at{th}"] = totals.get(f"fp_features_at{th}", 0) + int(
                ((inl >= th) & unrel).sum()
            )
        for col, d in (("plain", d_plain), ("dihedral", d_dih), ("imported", d_imp),
                       ("own", d_own)):  # fmt: skip
            closest[col] = min(closest[col], int(d[unrel].min()))
        max_unrelated_inliers = max(max_unrelated_inliers, int(inl[unrel].max()))
        rate = {}
        for col, acc in (("plain", acc_plain), ("dihedral", acc_dih), ("imported", acc_imp),
                         ("own", acc_own_all), ("own_pdq", acc_own),
                         ("own_features", acc_feat)):  # fmt: skip
            hits = [bool(acc[qi, entry_of_photo[qi]]) for qi in known]
            rate[col] = round(float(np.mean(hits)), 4)
            # The query code was developed on the "dev" half of the known photos only
            # (index % 4 == 0); "held" (index % 4 == 2) was never looked at while tuning.
            for part, rest in (("dev", 0), ("held", 2)):
                sub = [h for qi, h in zip(known, hits, strict=True) if qi % 4 == rest]
                rate[f"{col}_{part}"] = round(float(np.mean(sub)), 4) if sub else 0.0
        for th in (10, 16, 20):
            rate[f"own_features_at{th}"] = round(float(np.mean(
                [inl[qi, entry_of_photo[qi]] >= th for qi in known])), 4)  # fmt: skip
        row_fp = {
            col: int((acc & unrel).sum())
            for col, acc in (
                ("imported", acc_imp),
                ("own_pdq", acc_own),
                ("own_features", acc_feat),
            )
        }
        row = {"transform": tname, "known": len(known), **rate, "unrelated_pairs": int(unrel.sum()),
               "false_positives": row_fp, "max_unrelated_inliers": int(inl[unrel].max()),
               "features_median_inliers": int(np.median(inliers_true)) if inliers_true else 0,
               "imported_by": labels.get(tname, {})}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
        print(f"# {tname} done ({time.time() - t0:.0f}s)", flush=True)
    qpool.close()
    qpool.join()
    summary = {
        "photos": n, "known": len(known), "unknown": len(unknown), "decoy_entries":
        len(decoy_files), "bank_entries": nb, "queries": n * len(tnames),
        "unrelated_pairs": totals["pairs"],
        "false_positives": {k[3:]: v for k, v in totals.items() if k.startswith("fp_")},
        "closest_unrelated_pdq": closest, "legacy_gate": args.legacy_gate,
        "unrelated_by_kind": {k: {"closest": v[0], f"within_{NEAR}": v[1], "pairs": v[2]}
                              for k, v in sorted(by_kind.items())},
        "imported_only": args.imported_only,
        "query_image_ms_median": round(float(np.median(seconds_ours)) * 1000, 1),
        "features_extract_ms_median": round(float(np.median(seconds_feat)) * 1000, 1),
        "features_search_ms_median": round(float(np.median(seconds_search or [0])) * 1000, 1),
        "features_search_ms_p90": round(float(np.percentile(seconds_search or [0], 90)) * 1000, 1),
        "max_unrelated_inliers": max_unrelated_inliers, "features": feature_stats,
        "load_average": os.getloadavg(), "seconds": round(time.time() - t0),
    }  # fmt: skip
    print(json.dumps(summary), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
