"""Small vector helpers shared by indexing, search, duplicates and albums.

One copy each, so that every part of the app normalizes and reduces vectors the same way.
"""

from __future__ import annotations

import numpy as np

# Neighbouring frames less alike than this straddle a cut: ``interpolate`` takes the
# nearer one instead of blending two unrelated pictures.
BLEND_MIN = 0.8


def l2n(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero). float32 and float64 keep their
    precision; anything else (float16 BLOBs, integers) is computed in float32."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


def principal_directions(x: np.ndarray, r: int, eig_dtype=np.float64) -> np.ndarray:
    """The top ``r`` eigenvectors of x^T x as float32 rows (uncentred: the common direction
    of pooled activations is the first of them). The gram matrix is formed in float32 and
    decomposed in ``eig_dtype``."""
    x = np.asarray(x, np.float32)
    _, vecs = np.linalg.eigh((x.T @ x).astype(eig_dtype, copy=False))
    return np.ascontiguousarray(vecs[:, ::-1][:, :min(r, x.shape[1])].T, np.float32)


def interpolate(times: np.ndarray, vectors: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Unit vectors at times ``at``: blended between the two neighbouring samples, unless
    those straddle a cut (then the nearer one), clamped at the ends."""
    n = len(times)
    if n == 1:
        return np.repeat(vectors[:1], len(at), axis=0)
    hi = np.minimum(np.maximum(np.searchsorted(times, at), 1), n - 1)  # np.clip: slower
    lo = hi - 1
    t0, t1 = times[lo], times[hi]
    w = np.clip((at - t0) / np.maximum(t1 - t0, 1e-6), 0.0, 1.0)[:, None]
    v0, v1 = vectors[lo], vectors[hi]
    blended = l2n((1 - w) * v0 + w * v1)
    straddle = np.einsum("ij,ij->i", v0, v1) < BLEND_MIN
    nearest = np.where(w < 0.5, v0, v1)
    return np.where(straddle[:, None], nearest, blended)


def weighted_row_sum(table: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_i weights[i] * table[rows[i]] as float32, for a float16 (often memory-mapped)
    ``table``: one row at a time, each cast while it is multiplied. Gathering the rows
    and casting them whole, then a matrix product, costs three times as much: at 100,000
    clips "dog" reaches 131 label rows, 127 ms that way, 40 ms this way."""
    out = np.zeros(table.shape[1], np.float32)
    scratch = np.empty(table.shape[1], np.float32)
    for row, weight in zip(rows, weights, strict=True):
        np.multiply(table[row], np.float32(weight), out=scratch, dtype=np.float32)
        out += scratch
    return out
