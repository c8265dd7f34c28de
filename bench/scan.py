"""`openhotline scan` on this machine's cores vs on Ray (`--ray auto`), same files, same bank.

Generates N benign images (smooth generated patterns, PNG and JPEG; a few of them added to
a bank `own`, a few mirrored copies), then runs the real command twice as a subprocess,
each timed from start to exit (Ray's start and stop included, as a user sees it):

    openhotline scan DIR --bank own --workers W
    openhotline scan DIR --bank own --workers W --ray auto

and checks that both print the same records. Prints one JSON line per run. A Ray cluster
of several machines is what `--ray` is for; `auto` on one machine measures Ray's overhead
over the process pool, not a speed-up.

    .venv/bin/python bench/scan.py --files 2000 --workers 2 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def scene(seed: int) -> Image.Image:
    """A smooth random field (a 6x8 grid of random colours, upsampled) plus grain: every
    seed looks unrelated to PDQ, like different photographs."""
    rng = np.random.default_rng(seed)
    grid = Image.fromarray(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8))
    img = np.asarray(grid.resize((320, 240), Image.Resampling.BICUBIC), dtype=np.float32)
    img = img + rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_files(folder: Path, n: int) -> list[Path]:
    known = []
    for i in range(n):
        sub = folder / f"d{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        img = scene(i)
        if i % 100 == 7:  # a mirrored copy of an earlier known image
            img = ImageOps.mirror(scene(i - 7))
        path = sub / (f"{i:05d}.jpg" if i % 2 else f"{i:05d}.png")
        img.save(path, quality=90) if i % 2 else img.save(path)
        if i % 100 == 0:
            known.append(path)
    return known


def cli(env: dict[str, str], *args: str, stdout: int | None = subprocess.DEVNULL) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "openhotline", *args], env=env, check=True, text=True,
        stdout=subprocess.PIPE if stdout is None else stdout, stderr=subprocess.PIPE,
    )  # fmt: skip
    return r.stdout or r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="runs of each, order alternating")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ohbench") as tmp:
        root = Path(tmp)
        env = {**os.environ, "OPENHOTLINE_DATA_DIR": str(root / "var"),
               "RAY_TMPDIR": str(root), "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
        known = make_files(root / "files", args.files)
        cli(env, "db", "upgrade")
        cli(env, "bank", "create", "own")
        cli(env, "bank", "add-image", "own", *map(str, known))
        outputs: list[list[str]] = []
        runs = [("local", []), ("ray auto", ["--ray", "auto"])] * args.rounds
        for i, (name, extra) in enumerate(runs):
            if i % 4 >= 2:  # alternate the order, so a change in the machine's load
                name, extra = runs[i ^ 1]  # does not always favour the same one
            load = os.getloadavg()
            t0 = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-m", "openhotline", "scan", str(root / "files"), "--bank",
                 "own", "--workers", str(args.workers), *extra],
                env=env, check=True, text=True, capture_output=True,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            outputs.append(sorted(r.stdout.splitlines()))
            print(json.dumps({
                "executor": name, "round": i // 2 + 1, "files": args.files,
                "workers": args.workers,
                "wall_s": round(wall, 1), "files_per_s": round(args.files / wall, 1),
                "summary": r.stderr.strip().splitlines()[-1],
                "load_average_before": [round(x, 2) for x in load],
                "python": platform.python_version(), "ray": _ray_version(),
                "cpus": os.cpu_count(),
            }), flush=True)  # fmt: skip
        same = all(o == outputs[0] for o in outputs)
        print(json.dumps({"same_records": same, "records": len(outputs[0])}))
        if not same:
            sys.exit("local and Ray scans printed different records")


def _ray_version() -> str:
    try:
        import ray
    except ImportError:
        return "not installed"
    return str(ray.__version__)


if __name__ == "__main__":
    main()
