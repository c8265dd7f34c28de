"""Fetch the natural photographs for bench/robustness.py from package registries.

Debian packages (downloaded with `apt-get download`, unpacked with `dpkg-deb -x`, never
installed) and the sample photos bundled with scikit-image and scikit-learn. Nothing is
committed: the photos land in bench/out/photos/ (git-ignored) with a manifest.json that
names each photo's source package, original path and licence.

Two disjoint pools:
- photos/: the known and unknown photographs (each wholly one or the other, split by
  robustness.py); 7 sources. Only photographs: the wallpapers that are drawings or
  renderings are left out by name (checked by eye), and ukui-wallpapers has none.
- decoys/: extra bank entries that are never queried (the Stellarium nebula photographs
  beyond the first NEBULAE_AS_PHOTOS), used only to raise the number of unrelated pairs for
  the false-positive count. OpenCV's documentation figures are not used: they reuse its
  sample photos, which would make "unrelated" pairs related.

Near-duplicates are removed (PDQ distance <= 70 to a photo already kept), so that every
unrelated pair really is unrelated.

    .venv/bin/python bench/photos.py            # about 500 MB of packages, 1-3 minutes
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

OUT = Path(__file__).parent / "out" / "photos"
DEBS = Path(__file__).parent / "out" / "debs"
MAX_SIDE = 1024  # a typical web photo; wallpapers ship at up to 5K
MIN_SIDE = 200
DEDUP_DISTANCE = 70

PACKAGES = {
    # package: licence of the photos used (from the package's debian/copyright)
    "plasma-workspace-wallpapers": "LGPL/GPL/CC-BY-SA (per wallpaper, debian/copyright)",
    "lomiri-wallpapers-16.04": "CC-BY-SA-3.0/4.0 (per photo, debian/copyright)",
    "lomiri-wallpapers-20.04": "CC-BY-SA-4.0 (per photo, debian/copyright)",
    "mate-backgrounds": "GPL-2+ / CC-BY-SA (debian/copyright)",
    "stellarium-data": "GPL-2+ / per-image credits (debian/copyright)",
    "opencv-doc": "Apache-2.0 / BSD (OpenCV sample data)",
}

# Wallpapers in these packages that are drawings or renderings, not photographs (checked
# by eye on a contact sheet of every candidate).
NOT_PHOTOS = {
    "plasma-workspace-wallpapers": {"Autumn", "Flow", "Honeywave", "PastelHills",
                                    "SafeLanding", "Shell"},
    "mate-backgrounds": {"GreenTraditional", "Elephants", "Elephants_3840x2160",
                         "Elephants_5640x3172"},
    "lomiri-wallpapers-20.04": {"Painting-Colors_by__herobrine7gamer", "Fossa_by_Jasper_Roks",
                                "Infinite-Sea_by_Aury88"},
}  # fmt: skip

SKIMAGE = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon",
           "hubble_deep_field", "motorcycle_left", "immunohistochemistry", "retina",
           "grass", "gravel", "brick", "page"]  # fmt: skip
NEBULAE_AS_PHOTOS = 72  # the rest of Stellarium's nebula photographs become decoys
# OpenCV samples that are not photographs, stereo/calibration series (one scene many times)
# or the one portrait the field has retired.
OPENCV_SKIP = ("lena", "left", "right", "logo", "windowslogo", "linuxlogo", "chessboard",
               "ellipses", "blox", "pca_", "text_", "blender", "starry", "board", "box", "pic",
               "smarties", "aloer", "aero3", "leuvenb", "ela_modified", "licenseplate", "stuff",
               "notes", "detect_blob", "gradient", "sudoku", "imagetextn",
               "imagetextr")  # fmt: skip


def _deb_root(package: str) -> Path:
    root = DEBS / package
    if root.is_dir():
        return root
    DEBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", package], cwd=DEBS, check=True)
    deb = next(DEBS.glob(f"{package}_*.deb"))
    root.mkdir()
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    deb.unlink()
    return root


def _debian(package: str) -> Iterator[tuple[str, Path]]:
    root = _deb_root(package)
    skip = NOT_PHOTOS.get(package, set())
    if package == "plasma-workspace-wallpapers":
        for d in sorted((root / "usr/share/wallpapers").iterdir()):
            jpgs = sorted((d / "contents/images").glob("*.jpg"), key=lambda p: p.stat().st_size)
            if jpgs and d.name not in skip:
                yield d.name, jpgs[-1]  # the largest size of each wallpaper
    elif package == "stellarium-data":
        for f in sorted((root / "usr/share/stellarium/nebulae/default").glob("*.png")):
            yield f.stem, f
    elif package == "opencv-doc":
        base = root / "usr/share/doc/opencv-doc"
        for f in sorted((base / "examples/data").glob("*.jpg")):
            if not f.stem.lower().startswith(tuple(s.lower() for s in OPENCV_SKIP)):
                yield f.stem, f
        # Scene photographs used by the text, segmentation and matting samples.
        extra = [*sorted((base / "examples/text").glob("scenetext0*.jpg")),
                 *sorted((base / "examples/hfs/data").glob("*.jpg")),
                 *sorted((base / "examples/alphamat/input_images").glob("*.jpg"))]  # fmt: skip
        for f in extra:
            yield f.stem, f
    else:
        for f in sorted(root.rglob("*.jpg")):
            if f.stem not in skip:
                yield f.stem, f


def _samples() -> Iterator[tuple[str, str, Image.Image]]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    for name in SKIMAGE:
        try:
            yield "scikit-image", name, Image.fromarray(getattr(skimage.data, name)())
        except Exception:  # noqa: S112 - a sample that needs a download is skipped
            continue
    ds = load_sample_images()
    for fname, arr in zip(ds.filenames, ds.images, strict=True):
        yield "scikit-learn", Path(fname).stem, Image.fromarray(arr)


def _normalise(img: Image.Image) -> Image.Image | None:
    img = img.convert("RGB")
    if min(img.size) < MIN_SIDE:
        return None
    scale = MAX_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return img


class _Dedup:
    def __init__(self) -> None:
        self.hashes: list[np.ndarray] = []

    def fresh(self, img: Image.Image) -> bool:
        bits = np.packbits(pdqhash.compute(np.asarray(img))[0].astype(np.uint8))
        for h in self.hashes:
            if int(np.unpackbits(h ^ bits).sum()) <= DEDUP_DISTANCE:
                return False
        self.hashes.append(bits)
        return True


def build(out: Path) -> dict[str, list[dict[str, str]]]:
    """Write photos/ and decoys/ under out and return the manifest."""
    if out.exists():
        shutil.rmtree(out)
    (out / "photos").mkdir(parents=True)
    (out / "decoys").mkdir()
    manifest: dict[str, list[dict[str, str]]] = {"photos": [], "decoys": []}
    dedup = _Dedup()

    def keep(pool: str, source: str, name: str, img: Image.Image, licence: str, orig: str) -> None:
        norm = _normalise(img)
        if norm is None or not dedup.fresh(norm):
            return
        fname = f"{source}__{name}.jpg".replace(" ", "_")
        norm.save(out / pool / fname, "JPEG", quality=92)
        manifest[pool].append({"file": fname, "source": source, "original": orig,
                               "licence": licence})  # fmt: skip

    for source, name, img in _samples():
        lic = "BSD/public domain (skimage data README)" if source == "scikit-image" else "CC"
        keep("photos", source, name, img, lic, f"{source}:{name}")
    nebulae = 0
    for package, licence in PACKAGES.items():
        for name, path in _debian(package):
            with Image.open(path) as im:
                im.load()
                if package == "stellarium-data":
                    pool = "photos" if nebulae < NEBULAE_AS_PHOTOS else "decoys"
                else:
                    pool = "photos"
                before = len(manifest["photos"])
                keep(pool, package, name, im, licence, str(path.relative_to(DEBS)))
                if package == "stellarium-data" and pool == "photos":
                    nebulae += len(manifest["photos"]) - before
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    m = build(args.out)
    by_source: dict[str, int] = {}
    for p in m["photos"]:
        by_source[p["source"]] = by_source.get(p["source"], 0) + 1
    print(json.dumps({"photos": len(m["photos"]), "decoys": len(m["decoys"]),
                      "photos_by_source": by_source}), file=sys.stdout)  # fmt: skip


if __name__ == "__main__":
    main()
