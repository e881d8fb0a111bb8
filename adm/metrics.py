"""The paper's sample metrics beside the Fréchet distance: precision, recall and the Inception Score, on any
feature extractor (the eval uses its judge's penultimate features and softmax; no Inception weights here).

    precision_recall(real, fake, k=3) -> (precision, recall)     Kynkäänniemi et al. 2019
    inception_score(probs, split_size=5000) -> IS                  Salimans et al. 2016

Precision/recall as openai/guided-diffusion's evaluator computes them: each point's ball has the radius of its
k-th nearest neighbour within its own set (the point itself is the 0-th), a point is inside a ball when its
distance is <= the radius; precision = share of fake points inside some real ball, recall = share of real
points inside some fake ball. Distances are computed in row blocks (memory O(block x N), float64).
The IS follows the same evaluator: consecutive splits of split_size samples, exp(mean KL(p(y|x) || p(y)))
per split, the mean over splits (so sets under 5,000 samples are one split).

Bootstrap intervals (percentile, 95 %): the sets are resampled with replacement and the metric recomputed. For
precision/recall a point drawn several times is one ball whose radius comes from the other distinct drawn points
(its copies' zero distances would shrink every k-NN radius) and counts once per draw in the shares. Checked on
synthetic sets against the spread of independent draws: this interval covers it, slightly wide; keeping the full
sets' radii instead loses the undrawn third of the balls and shifts the interval down.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np

BLOCK = 1024  # rows per distance block: BLOCK x N float64 at a time


def _as_features(x, name: str) -> np.ndarray:
    f = np.asarray(x, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array (got shape {f.shape})")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} contains NaN or inf")
    return f


def squared_distance_blocks(a: np.ndarray, b: np.ndarray, block: int = BLOCK) -> Iterator[Tuple[int, np.ndarray]]:
    """(row offset, squared Euclidean distances [rows, len(b)]) for each block of rows of a."""
    bb = np.einsum("ij,ij->i", b, b)
    for i in range(0, len(a), block):
        ab = a[i:i + block]
        d = np.einsum("ij,ij->i", ab, ab)[:, None] - 2.0 * (ab @ b.T) + bb[None, :]
        yield i, np.maximum(d, 0.0)


def manifold_radii(features, k: int = 3, block: int = BLOCK) -> np.ndarray:
    """Squared distance of each point to its k-th nearest neighbour in its own set (itself counts as the 0-th)."""
    f = _as_features(features, "features")
    if not 1 <= k < len(f):
        raise ValueError(f"k = {k} needs more than k points in a set (got {len(f)})")
    radii = np.empty(len(f))
    for i, d in squared_distance_blocks(f, f, block):
        rows = np.arange(len(d))
        d[rows, rows + i] = 0.0  # a point's distance to itself, exactly
        radii[i:i + len(d)] = np.partition(d, k, axis=1)[:, k]
    return radii


def inside_balls(points: np.ndarray, centers: np.ndarray, radii: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """[len(points)] bool: the point lies in some ball (center, squared radius)."""
    out = np.zeros(len(points), dtype=bool)
    for i, d in squared_distance_blocks(points, centers, block):
        out[i:i + len(d)] = (d <= radii[None, :]).any(axis=1)
    return out


def precision_recall(real, fake, k: int = 3, block: int = BLOCK) -> Tuple[float, float]:
    """(precision, recall) of fake [N, D] against real [M, D] (Kynkäänniemi et al. 2019, k-NN balls)."""
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dimensions differ: {r.shape[1]} vs {f.shape[1]}")
    precision = inside_balls(f, r, manifold_radii(r, k, block), block).mean()
    recall = inside_balls(r, f, manifold_radii(f, k, block), block).mean()
    return float(precision), float(recall)


def inception_score(probs, split_size: int = 5000) -> float:
    """exp(E_x KL(p(y|x) || p(y))) per consecutive split of split_size rows, averaged over splits.
    probs: [N, K] class probabilities (rows summing to 1); 0 log 0 counts as 0."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"probs must be a non-empty [N, K] array of probabilities (got shape {p.shape})")
    if split_size < 1:
        raise ValueError("split_size must be >= 1")
    scores = []
    for i in range(0, len(p), split_size):
        part = p[i:i + split_size]
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores))


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- bootstrap

Interval = Tuple[float, float]


def percentile_interval(values: Sequence[float], level: float = 0.95) -> Optional[Interval]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return None
    a = (1.0 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def bootstrap(n: int, stat: Callable[[np.ndarray], float], n_boot: int, seed: int, level: float = 0.95
              ) -> Optional[Interval]:
    """Percentile interval of stat(indices) over n_boot resamples (with replacement) of range(n)."""
    if n < 1 or n_boot < 1:
        return None
    rng = np.random.default_rng(seed)
    return percentile_interval([stat(rng.integers(0, n, n)) for _ in range(n_boot)], level)


def precision_recall_bootstrap(real, fake, k: int = 3, n_boot: int = 1000, seed: int = 0, level: float = 0.95
                               ) -> Tuple[Optional[Interval], Optional[Interval]]:
    """Percentile intervals of (precision, recall) over resamples of both sets (pr_resampled).
    Memory: the three pairwise distance matrices, O((N + M)^2) float64."""
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    d_rr, d_ff, d_fr = (next(squared_distance_blocks(a, b, max(1, len(a))))[1] for a, b in ((r, r), (f, f), (f, r)))
    rng = np.random.default_rng(seed)
    reps = [pr_resampled(d_rr, d_ff, d_fr, np.bincount(rng.integers(0, len(r), len(r)), minlength=len(r)),
                         np.bincount(rng.integers(0, len(f), len(f)), minlength=len(f)), k) for _ in range(n_boot)]
    reps = [x for x in reps if x is not None]
    return percentile_interval([p for p, _ in reps], level), percentile_interval([q for _, q in reps], level)


def pr_resampled(d_rr: np.ndarray, d_ff: np.ndarray, d_fr: np.ndarray, count_r: np.ndarray, count_f: np.ndarray,
                 k: int) -> Optional[Tuple[float, float]]:
    """Precision and recall of one bootstrap resample given as draw counts per point (count_r [M], count_f [N]) and
    the full sets' squared distances. A point drawn several times is one ball, its radius the distance to its k-th
    nearest distinct drawn point (copies at distance 0 would shrink every radius), and counts its draws in the
    shares. None when a resample has k or fewer distinct points."""
    ur, uf = np.nonzero(count_r)[0], np.nonzero(count_f)[0]
    if len(ur) <= k or len(uf) <= k:
        return None
    rad_r = np.partition(d_rr[np.ix_(ur, ur)], k, axis=1)[:, k]
    rad_f = np.partition(d_ff[np.ix_(uf, uf)], k, axis=1)[:, k]
    d = d_fr[np.ix_(uf, ur)]
    fake_in = (d <= rad_r[None, :]).any(axis=1)
    real_in = (d <= rad_f[:, None]).any(axis=0)
    wf, wr = count_f[uf], count_r[ur]
    return float((wf * fake_in).sum() / wf.sum()), float((wr * real_in).sum() / wr.sum())
