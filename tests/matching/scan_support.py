"""A folder to scan and a bank for it (generated images only), for the scan tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from typer.testing import CliRunner

from openhotline.cli import app


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth generated pattern (no photo content)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack(
        [127 + 90 * np.sin(rng.uniform(1, 5) * x / 50 + c) * np.cos(y / 40) for c in range(3)], -1
    )
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_folder(cli: CliRunner, root: Path, n: int = 12) -> Path:
    """n generated images (two in bank 'own', one mirrored), a text file and a broken JPEG."""
    folder = root / "imgs"
    (folder / "sub").mkdir(parents=True)
    for i in range(n):
        scene(i).save(folder / ("sub" if i % 3 else "") / f"{i:04d}.png")
    ImageOps.mirror(scene(1)).save(folder / "mirror.png")
    (folder / "notes.txt").write_text("not an image")
    scene(2).save(root / "b.jpg", quality=90)
    (folder / "broken.jpg").write_bytes((root / "b.jpg").read_bytes()[:700])
    assert cli.invoke(app, ["bank", "create", "own"]).exit_code == 0
    for i in (i for i in (1, 4) if i < n):
        path = folder / ("sub" if i % 3 else "") / f"{i:04d}.png"
        r = cli.invoke(app, ["bank", "add-image", "own", str(path), "--classification", "A"])
        assert r.exit_code == 0, r.output
    return folder


def records(stdout: str) -> list[dict[str, object]]:
    """The JSON lines of a scan's output (every line must be one)."""
    return [json.loads(line) for line in stdout.splitlines()]
