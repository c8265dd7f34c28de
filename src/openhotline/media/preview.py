"""Console previews rendered in memory from decrypted bytes: blurred and greyscale by default.

Nothing is written to disk: the decrypted bytes and the rendered preview live only in memory.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

MAX_SIDE = 512
MAX_SOURCE_PIXELS = 64_000_000  # refuse decompression bombs before decoding
BLUR_FRACTION = 0.06  # blur radius as a fraction of the preview's longer side


class PreviewError(ValueError):
    """The bytes cannot be shown as an image preview."""


def render_preview(data: bytes, *, blurred: bool = True, max_side: int = MAX_SIDE) -> bytes:
    """Return a JPEG preview: downscaled; greyscale and heavily blurred unless revealed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data))
            width, height = source.size
            if width * height > MAX_SOURCE_PIXELS:
                raise PreviewError(f"image too large to preview ({width}x{height})")
            source.draft("RGB", (max_side, max_side))
            img: Image.Image = source.convert("RGB")
    except (UnidentifiedImageError, OSError, EOFError, Image.DecompressionBombError) as exc:
        raise PreviewError(f"not a previewable image: {exc}") from exc
    except Image.DecompressionBombWarning as exc:
        raise PreviewError("image too large to preview") from exc
    img.thumbnail((max_side, max_side))
    if blurred:
        radius = max(6.0, max(img.size) * BLUR_FRACTION)
        img = img.convert("L").filter(ImageFilter.GaussianBlur(radius)).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def placeholder(text: str = "no preview", size: int = 256) -> bytes:
    """Return a neutral grey JPEG saying there is nothing to show."""
    img = Image.new("RGB", (size, size), (90, 90, 90))
    ImageDraw.Draw(img).text((12, size // 2 - 6), text[:40], fill=(230, 230, 230))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


SHEET_GRID = 3  # a video's contact sheet: 3 x 3 frames sampled evenly
SHEET_CELL = 170  # pixels per cell side (the sheet stays under MAX_SIDE)


def sample_frames(data: bytes, count: int = SHEET_GRID * SHEET_GRID) -> list[Image.Image]:
    """Up to `count` frames sampled evenly through a video (OpenCV's bundled FFmpeg; no audio).

    Decoded in memory (media/video.py hands libav an in-memory file); raises PreviewError.
    """
    import cv2

    from openhotline.media.video import bytes_as_path

    frames: list[Image.Image] = []
    with bytes_as_path(data) as path:
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise PreviewError("not a video this system can decode")
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
            height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
            if width * height > MAX_SOURCE_PIXELS:
                raise PreviewError(f"video too large to preview ({width}x{height})")
            wanted = [int((i + 0.5) * total / count) for i in range(count)] if total else [0]
            for pos in wanted:
                cap.set(cv2.CAP_PROP_POS_FRAMES, pos)
                ok, bgr = cap.read()
                if not ok:
                    continue
                img = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                img.thumbnail((MAX_SIDE, MAX_SIDE))
                frames.append(img)
        finally:
            cap.release()
    if not frames:
        raise PreviewError("no decodable frames in this video")
    return frames


def _blur(img: Image.Image) -> Image.Image:
    radius = max(6.0, max(img.size) * BLUR_FRACTION)
    return img.convert("L").filter(ImageFilter.GaussianBlur(radius)).convert("RGB")


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def render_contact_sheet(data: bytes, *, clear_frame: int | None = None) -> bytes:
    """A JPEG grid of sampled frames, each greyscale and blurred; `clear_frame` (0-based) shown.

    Only the frame an analyst revealed is ever clear; the rest of the sheet stays blurred.
    """
    frames = sample_frames(data)
    sheet = Image.new("RGB", (SHEET_GRID * SHEET_CELL, SHEET_GRID * SHEET_CELL), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for i, frame in enumerate(frames):
        cell = frame.copy()
        cell.thumbnail((SHEET_CELL - 4, SHEET_CELL - 4))
        if i != clear_frame:
            cell = _blur(cell)
        x, y = (i % SHEET_GRID) * SHEET_CELL, (i // SHEET_GRID) * SHEET_CELL
        sheet.paste(cell, (x + (SHEET_CELL - cell.width) // 2, y + (SHEET_CELL - cell.height) // 2))
        draw.text((x + 4, y + 2), str(i + 1), fill=(235, 235, 235))
    return _jpeg(sheet)


def render_video_frame(data: bytes, frame: int, *, blurred: bool = True) -> bytes:
    """One sampled frame (0-based, as numbered on the contact sheet) as a JPEG."""
    frames = sample_frames(data)
    if not 0 <= frame < len(frames):
        raise PreviewError(f"this video's contact sheet has {len(frames)} frames")
    img = frames[frame]
    return _jpeg(_blur(img) if blurred else img)
