"""PDQ on a downscaled decode, emulating the full-resolution filter (the fast path).

PDQ blurs the luma plane with a Jarosz filter (two passes of a box filter whose window is
about 1/128 of the image side), samples a 64x64 grid, takes 16x16 DCT coefficients and
thresholds them at their median. A JPEG decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
already holds block averages, so running the same filter with windows scaled down by the
same factor gives (nearly) the full-resolution hash at a fraction of the cost.
pdqhash (the reference C++) is used for images that are not downscaled and as the oracle
in tests and bench/hash.py.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float32]

_J = np.arange(64)
_DCT = np.sqrt(2.0 / 64.0) * np.cos((np.pi / 2 / 64.0) * np.outer(np.arange(1, 17), 2 * _J + 1))
DCT_16x64 = _DCT.astype(np.float32)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def jarosz_window(old_dim: int, new_dim: int = 64) -> int:
    """PDQ's box-filter window for one axis."""
    return (old_dim + 2 * new_dim - 1) // (2 * new_dim)


@lru_cache(maxsize=1)
def _single_thread_blas() -> None:
    # These products are tiny: BLAS threads only add overhead and fight the scan workers.
    threadpool_limits(limits=1, user_api="blas")


@lru_cache(maxsize=256)
def sampling_matrix(full: int, n: int) -> FloatArray:
    """The 64 x n matrix taking a downscaled axis to PDQ's 64 filtered, decimated samples.

    It applies PDQ's two box passes (window from the full size) and its decimation exactly
    in full-resolution coordinates, each full pixel standing for the downscaled pixel that
    covers it.
    """
    window = jarosz_window(full)
    half = (window + 2) // 2
    o = np.arange(full)
    lo = np.clip(o - window + half, 0, full)
    hi = np.clip(o + half, 0, full)
    cnt = (hi - lo).astype(np.float64)
    samples = (((np.arange(64) + 0.5) * full) / 64).astype(np.int64)
    # Second pass at each sample p: mean over o in [lo_p, hi_p) of the first pass at o.
    offs = np.arange(window)
    o2 = lo[samples][:, None] + offs[None, :]  # (64, window)
    valid = o2 < hi[samples][:, None]
    o2c = np.minimum(o2, full - 1)
    weight = np.where(valid, 1.0 / (cnt[samples][:, None] * cnt[o2c]), 0.0)
    # The first pass at o spreads weight uniformly over [lo_o, hi_o): difference array.
    diff = np.zeros((64, full + 1))
    rows = np.broadcast_to(np.arange(64)[:, None], o2.shape)
    np.add.at(diff, (rows, lo[o2c]), weight)
    np.add.at(diff, (rows, hi[o2c]), -weight)
    dense = np.cumsum(diff[:, :full], axis=1)  # (64, full) weights on full pixels
    owner = np.minimum((np.arange(full) * n) // full, n - 1)
    out = np.zeros((64, n))
    np.add.at(out.T, owner, dense.T)
    return out.astype(np.float32)


def pdq_coefficients(
    rgb: npt.NDArray[np.uint8], full_width: int, full_height: int
) -> tuple[FloatArray, int]:
    """PDQ's 16x16 DCT coefficients and quality of a (possibly downscaled) RGB image.

    full_width/full_height are the dimensions of the original image, whose filter and
    sampling grid are emulated on this smaller array.
    """
    _single_thread_blas()
    rows, cols = rgb.shape[:2]
    luma = rgb.astype(np.float32) @ LUMA
    b64 = sampling_matrix(full_height, rows) @ luma @ sampling_matrix(full_width, cols).T
    return DCT_16x64 @ b64 @ DCT_16x64.T, _quality(b64)


def pdq_from_rgb(
    rgb: npt.NDArray[np.uint8], full_width: int, full_height: int
) -> tuple[npt.NDArray[np.uint8], int]:
    """PDQ bits (256, pdqhash order) and quality; see pdq_coefficients."""
    coeffs, quality = pdq_coefficients(rgb, full_width, full_height)
    return _bits(coeffs), quality


DIHEDRAL_NAMES = ("identity", "rot90cw", "rot180", "rot90ccw", "flip_h", "flip_v", "transpose",
                  "antitranspose")  # fmt: skip


def dihedral_pdq(
    rgb: npt.NDArray[np.uint8], full_width: int, full_height: int
) -> list[tuple[npt.NDArray[np.uint8], int]]:
    """PDQ bits and quality of the 8 rotations/mirrors of the image (DIHEDRAL_NAMES order).

    Mirroring the image is the same as reversing a sampling matrix, and transposing it
    transposes the 64x64 grid, so each variant costs two small products, not a decode.
    """
    _single_thread_blas()
    rows, cols = rgb.shape[:2]
    luma = rgb.astype(np.float32) @ LUMA
    r = sampling_matrix(full_height, rows)
    c = sampling_matrix(full_width, cols)
    rl = r @ luma
    rlf = r[:, ::-1] @ luma
    g_id = rl @ c.T
    g_fh = rl @ c[:, ::-1].T
    g_fv = rlf @ c.T
    g_both = rlf @ c[:, ::-1].T
    grids = [g_id, g_fv.T, g_both, g_fh.T, g_fh, g_fv, g_id.T, g_both.T]
    out = []
    for g in grids:
        g = np.ascontiguousarray(g)
        out.append((_bits(DCT_16x64 @ g @ DCT_16x64.T), _quality(g)))
    return out


def _quality(b64: FloatArray) -> int:
    dv = np.trunc((b64[:-1, :] - b64[1:, :]) * 100 / 255)
    dh = np.trunc((b64[:, :-1] - b64[:, 1:]) * 100 / 255)
    total = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(100, total // 90)


def _bits(coeffs: FloatArray) -> npt.NDArray[np.uint8]:
    flat = coeffs.reshape(256)
    median = np.partition(flat, 127)[127]
    bits: npt.NDArray[np.uint8] = (flat > median).astype(np.uint8)
    # pdqhash returns bit k (k = i*16 + j) at position 255 - k.
    return bits[::-1].copy()
