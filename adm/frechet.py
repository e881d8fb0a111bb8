"""Fréchet distance between Gaussian fits of two feature sets (the FID formula, any feature extractor).

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)

The cross term uses tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), whose argument is symmetric PSD, so
both square roots come from symmetric eigendecompositions (float64): no general (non-symmetric)
matrix square root, no complex parts to discard, and singular covariances (fewer samples than
feature dimensions) are handled by clipping the round-off negative eigenvalues to zero.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def gaussian_fit(features) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance ([D], [D, D], float64) of features [N, D] (N >= 2)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [N, D] (got shape {f.shape})")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance (got {f.shape[0]})")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or inf")
    mu = f.mean(axis=0)
    d = f - mu
    cov = d.T @ d / (f.shape[0] - 1)
    return mu, cov


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues below 0 are round-off: clipped)."""
    a = 0.5 * (a + a.T)
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^1/2) for symmetric PSD S1, S2."""
    r = sqrtm_psd(s1)
    m = r @ s2 @ r
    w = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance_gaussians(mu1, s1, mu2, s2) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, cov {s1.shape} vs {s2.shape}")
    diff = mu1 - mu2
    fd = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * trace_sqrt_product(s1, s2)
    # Exact arithmetic gives fd >= 0; round-off can leave a tiny negative number for identical fits.
    return max(fd, 0.0)


def frechet_distance(features1, features2) -> float:
    """Fréchet distance between Gaussian fits of two feature sets [N1, D] and [N2, D]."""
    mu1, s1 = gaussian_fit(features1)
    mu2, s2 = gaussian_fit(features2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    return frechet_distance_gaussians(mu1, s1, mu2, s2)
