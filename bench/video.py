"""vPDQ robustness: generated clips, transformed with ffmpeg, matched through a real bank.

    .venv/bin/python bench/video.py --videos 12 --unrelated 24 --seconds 20

Originals are generated (moving shapes over gradients and noise textures; never footage).
Each original's vPDQ goes into a bank (SQLite, the real `matching.video` service and the PDQ
multi-index); queries are the originals transformed by ffmpeg (re-encode at another CRF,
resize 50%, trim 10% at start and end, crop 10%) and unrelated generated clips (false
positives). Matching uses the bank defaults (frame share 0.8, target share 0, distance 31).
"ours" is the capture path: frames looked up in the PDQ multi-index, each query frame also by
its crop/rotation guesses (media/robust.py); the peer is vPDQ's reference algorithm
(brute-force pairwise comparison of the plain frame hashes). Needs vpdq and ffmpeg.
Prints one JSON line per transform and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.video import synth

from openhotline.db import make_engine, make_sessionmaker, transaction
from openhotline.matching import service as banks
from openhotline.matching import video as vbanks
from openhotline.matching.engine import MatchEngine
from openhotline.media.hashing import hamming_hex
from openhotline.media.video import VideoFrame, VideoHashes, hash_video
from openhotline.migrate import upgrade

TRANSFORMS: dict[str, list[str]] = {
    "re-encode (x264 CRF 35)": ["-c:v", "libx264", "-crf", "35", "-preset", "veryfast"],
    "resize 50%": ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", "-c:v", "libx264", "-crf", "23"],
    "trim 10% start and end": [],  # filled per clip (needs the duration)
    "crop 10%": ["-vf", "crop=iw*0.9:ih*0.9", "-c:v", "libx264", "-crf", "23"],
}


def ffmpeg(src: Path, dst: Path, args: list[str]) -> Path:
    """Run ffmpeg quietly (no audio in, none out)."""
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-an", *args, str(dst)]
    subprocess.run(cmd, check=True)
    return dst


def brute(query: list[VideoFrame], target: list[VideoFrame], radius: int = 31) -> float:
    """vPDQ's reference: share of the query's usable frames within radius of a target frame."""
    q, t = vbanks.usable(query), vbanks.usable(target)
    if not q:
        return 0.0
    return sum(any(hamming_hex(a.pdq, b.pdq) <= radius for b in t) for a in q) / len(q)


def main() -> None:
    """Run the benchmark once; JSON lines and a Markdown table on stdout."""
    p = argparse.ArgumentParser()
    p.add_argument("--videos", type=int, default=12)
    p.add_argument("--unrelated", type=int, default=24)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--scene-seconds", type=float, default=3.0, help="shot length of the clips")
    p.add_argument("--motion", type=int, default=8, help="pixels the shapes move in a shot")
    args = p.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench/video.py needs the ffmpeg binary (apt-get install ffmpeg)")
    scene = {"scene_seconds": args.scene_seconds, "motion": args.motion}
    load_before = os.getloadavg()
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="bench-video-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    engine = MatchEngine(factory, None)
    originals = [
        synth.clip(tmp / f"o{i}.mp4", seed=1000 + i, seconds=args.seconds, **scene)
        for i in range(args.videos)
    ]
    hashed = [hash_video(v).frames for v in originals]
    with transaction(factory) as session:
        bank = banks.create_bank(session, "videos")
        digests = [vbanks.add_video(session, bank, f, source=f"o{i}")[0].hash_value
                   for i, f in enumerate(hashed)]  # fmt: skip
    with factory() as session:  # build the frame index before anything is timed
        vbanks.match_video(session, engine, hashed[0][:1])
    rows = []
    queries: dict[str, list[tuple[int | None, VideoHashes]]] = {}
    for name, extra in TRANSFORMS.items():
        out = []
        for i, src in enumerate(originals):
            if name.startswith("trim"):
                cut = args.seconds * 0.1
                extra = ["-ss", f"{cut:.2f}", "-t", f"{args.seconds - 2 * cut:.2f}",
                         "-c:v", "libx264", "-crf", "23"]  # fmt: skip
            dst = ffmpeg(src, tmp / f"{name[:6].strip()}-{i}.mp4", extra)
            out.append((i, hash_video(dst)))
        queries[name] = out
    unrelated = [
        synth.clip(tmp / f"u{i}.mp4", seed=5000 + i, seconds=args.seconds, **scene)
        for i in range(args.unrelated)
    ]
    queries["unrelated (false positives)"] = [(None, hash_video(u)) for u in unrelated]
    for name, qs in queries.items():
        hits = fps = brute_hits = brute_fps = 0
        times: list[float] = []
        shares: list[float] = []
        for want, v in qs:
            frames = v.frames
            t = time.perf_counter()
            with factory() as session:
                found = vbanks.match_video(session, engine, frames, guesses=v.guesses)
            times.append((time.perf_counter() - t) * 1000)
            got = {digests.index(m.digest) for m in found}
            hits += int(want is not None and want in got)
            fps += len(got - {want})
            ref = {j for j, target in enumerate(hashed) if brute(frames, target) >= 0.8}
            brute_hits += int(want is not None and want in ref)
            brute_fps += len(ref - {want})
            if want is not None:
                shares.append(brute(frames, hashed[want]))
        n = len(qs)
        row = {
            "transform": name, "queries": n,
            "recall": round(hits / n, 3) if name[0] != "u" else None,
            "false_positives": fps, "brute_recall": round(brute_hits / n, 3)
            if name[0] != "u" else None, "brute_false_positives": brute_fps,
            "median_frame_share": round(statistics.median(shares), 3) if shares else None,
            "match_ms_p50": round(statistics.median(times), 2),
            "load_average": os.getloadavg(),
        }  # fmt: skip
        rows.append(row)
        print(json.dumps(row))
    from importlib.metadata import version

    import vpdq  # noqa: F401 - only its version is reported

    meta = {
        "videos": args.videos, "unrelated": args.unrelated, "seconds": args.seconds, **scene,
        "python": platform.python_version(), "vpdq": version("vpdq"),
        "ffmpeg": subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                                 check=False).stdout.split("\n")[0],
        "load_before": load_before, "load_after": os.getloadavg(),
        "seconds_total": round(time.time() - t0),
    }  # fmt: skip
    print(json.dumps(meta))
    print("\n| transform | queries | recall (ours) | recall (vPDQ brute)"
          " | false pos. (ours / brute) | median frame share | match p50 ms | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        shown = {k: "-" if v is None else v for k, v in r.items()}
        print(
            f"| {r['transform']} | {r['queries']} | {shown['recall']}"
            f" | {shown['brute_recall']}"
            f" | {r['false_positives']} / {r['brute_false_positives']}"
            f" | {shown['median_frame_share']}"
            f" | {r['match_ms_p50']} | {r['load_average'][0]:.1f} |"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
