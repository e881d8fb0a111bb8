"""adm.frechet against closed forms: diagonal and commuting covariances, the 2x2 trace-sqrt identity, singular fits."""
from __future__ import annotations

import numpy as np
import pytest

from adm.frechet import (frechet_distance, frechet_distance_gaussians, gaussian_fit, sqrtm_psd,
                         trace_sqrt_product)


def _random_orthogonal(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_diagonal_closed_form():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance_gaussians(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_commuting_covariances_rotated():
    # S1 = Q A Q^T, S2 = Q B Q^T share eigenvectors: same value as the diagonal case.
    rng = np.random.default_rng(1)
    d = 12
    q = _random_orthogonal(d, rng)
    a, b = rng.uniform(0.05, 2.0, d), rng.uniform(0.05, 2.0, d)
    mu = rng.standard_normal(d)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance_gaussians(mu, q @ np.diag(a) @ q.T, mu, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-10)


def test_two_by_two_non_commuting():
    # For 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); here M ~ S1 S2 (similar matrices).
    s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    s2 = np.array([[0.5, -0.3], [-0.3, 1.5]])
    expected_tr = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected_tr, rel=1e-12)
    mu1, mu2 = np.array([1.0, -2.0]), np.array([0.5, 0.0])
    expected = 0.25 + 4.0 + np.trace(s1) + np.trace(s2) - 2 * expected_tr
    assert frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-12)
    # symmetric in its arguments
    assert frechet_distance_gaussians(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-12)


def test_sqrtm_psd_squares_back():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 8))
    s = x.T @ x  # rank 5 of 8: singular
    r = sqrtm_psd(s)
    assert np.allclose(r @ r, s, atol=1e-10)
    assert np.allclose(r, r.T)


def test_identical_sets_zero_and_shift():
    rng = np.random.default_rng(3)
    f = rng.standard_normal((200, 32)) @ rng.standard_normal((32, 32))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)
    # a pure translation adds exactly |shift|^2
    shift = rng.standard_normal(32)
    assert frechet_distance(f, f + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-8)


def test_singular_fits_finite_and_symmetric():
    # fewer samples than dimensions (as with a few generated samples in 256-d judge features)
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((20, 64)), rng.standard_normal((30, 64)) * 1.5 + 0.2
    d_ab, d_ba = frechet_distance(a, b), frechet_distance(b, a)
    assert np.isfinite(d_ab) and d_ab > 0
    assert d_ab == pytest.approx(d_ba, rel=1e-8)


def test_samples_approach_population_value():
    rng = np.random.default_rng(5)
    d = 4
    a = rng.standard_normal((20000, d)) * np.sqrt([1.0, 2.0, 0.5, 1.0])
    b = rng.standard_normal((20000, d)) * np.sqrt([1.0, 0.5, 0.5, 3.0]) + [1.0, 0, 0, 0]
    expected = 1.0 + (np.sqrt(2.0) - np.sqrt(0.5)) ** 2 + (1.0 - np.sqrt(3.0)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.05)


def test_bad_input():
    with pytest.raises(ValueError):
        gaussian_fit(np.zeros((1, 3)))
    with pytest.raises(ValueError):
        gaussian_fit(np.zeros(5))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        frechet_distance(np.full((4, 3), np.nan), np.zeros((4, 3)))
