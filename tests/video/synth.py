"""Generated test videos: moving shapes over gradients and noise textures (never footage).

Written with OpenCV's VideoWriter (its wheel bundles an MPEG-4 encoder), so the tests need no
ffmpeg binary; frames are regenerated per seed so variants can be built from the same clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


def frames(
    seed: int,
    seconds: float = 8.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    scene_seconds: float = 1.0,
    motion: int = 20,
):
    """Yield RGB frames: a new generated scene every scene_seconds, shapes moving in it.

    The default (a cut every second, shapes moving 20 px) makes every sampled frame distinct,
    which the tests want; bench/video.py uses longer, calmer shots.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    n = int(seconds * fps)
    yy, xx = np.mgrid[0:h, 0:w]
    scenes = []
    for _ in range(int(np.ceil(seconds / scene_seconds)) + 1):
        a, b, c = rng.uniform(0.005, 0.05, 3)
        base = (np.sin(xx * a + yy * b) + np.cos(yy * c)) * 60 + 128
        noise = cv2.resize(rng.uniform(0, 255, (h // 16, w // 16)), (w, h))
        img = np.stack([base, noise, 255 - base * 0.5], axis=-1)
        shapes = [
            (
                rng.integers(0, w),
                rng.integers(0, h),
                rng.integers(15, 60),
                tuple(int(v) for v in rng.integers(0, 255, 3)),
            )
            for _ in range(6)
        ]
        scenes.append((np.clip(img, 0, 255).astype(np.uint8), shapes))
    for i in range(n):
        t = i / fps
        img, shapes = scenes[int(t / scene_seconds)]
        out = img.copy()
        for k, (x, y, r, colour) in enumerate(shapes):
            dx = int(motion * np.sin(t * 2 + k))
            cv2.circle(out, (int(x) + dx, int(y)), int(r), colour, -1)
            cv2.rectangle(
                out, (int(x) - dx, int(y) + 30), (int(x) - dx + 25, int(y) + 55), colour[::-1], -1
            )
        yield out


def write(path: Path, rgb_frames, fps: int = 10) -> Path:
    """Write RGB frames to an MP4 (MPEG-4 part 2) file."""
    writer = None
    for f in rgb_frames:
        if writer is None:
            h, w = f.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            assert writer.isOpened(), "OpenCV cannot write MP4 here"
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    assert writer is not None
    writer.release()
    return path


def clip(path: Path, seed: int, seconds: float = 8.0, fps: int = 10, **scene: float) -> Path:
    """A generated clip (scene: scene_seconds, motion; see frames)."""
    return write(path, frames(seed, seconds, fps, **scene), fps)  # type: ignore[arg-type]


def reencode(src: Path, dst: Path, scale: float = 1.0, quality_step: int = 2) -> Path:
    """Decode and write again: resized and, via a coarser intermediate, at another bitrate."""
    cap = cv2.VideoCapture(str(src))
    fps = round(cap.get(cv2.CAP_PROP_FPS) or 10)
    out: list[npt.NDArray[np.uint8]] = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        # JPEG round trip: a lossier copy, as a lower bitrate re-encode would give.
        _, jpg = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 60 - 10 * quality_step])
        rgb = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
        size = (max(16, int(w * scale) // 2 * 2), max(16, int(h * scale) // 2 * 2))
        out.append(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    cap.release()
    return write(dst, out, fps)
