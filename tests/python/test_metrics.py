"""adm.metrics: precision/recall and the Inception Score against hand-computed cases and a brute-force
implementation (pairwise loops, full sorts), and the bootstrap intervals' bookkeeping."""
from __future__ import annotations

import math

import numpy as np
import pytest

from adm.metrics import (bootstrap, inception_score, manifold_radii, percentile_interval, pr_resampled,
                         precision_recall, precision_recall_bootstrap, softmax)


def _col(*v):
    return np.array(v, dtype=np.float64)[:, None]


def brute_precision_recall(real, fake, k):
    """Kynkäänniemi et al. by definition: loops over every pair, a full sort per point."""
    def radii(s):
        out = []
        for a in s:
            d = sorted(math.dist(a, b) for b in s)  # includes the point itself at 0
            out.append(d[k])
        return out

    rr, rf = radii(real), radii(fake)
    precision = np.mean([any(math.dist(f, r) <= rr[j] for j, r in enumerate(real)) for f in fake])
    recall = np.mean([any(math.dist(r, f) <= rf[i] for i, f in enumerate(fake)) for r in real])
    return precision, recall


def test_radii_by_hand():
    # 1-D set 0, 1, 3, 6, 10: distances to the 3rd nearest other point are 6, 5, 3, 5, 9.
    r = manifold_radii(_col(0, 1, 3, 6, 10), k=3)
    assert np.sqrt(r) == pytest.approx([6, 5, 3, 5, 9])
    assert np.sqrt(manifold_radii(_col(0, 1, 3, 6, 10), k=1)) == pytest.approx([1, 1, 2, 3, 4])


def test_precision_recall_by_hand():
    # k = 1. Real 0, 1, 2, 3, 10 -> radii 1, 1, 1, 1, 7 (10's ball reaches 3..17).
    # Fake 0.5, 2.9, 5: 0.5 and 2.9 lie in real balls, 5 lies in 10's ball -> precision 3/3.
    # Fake radii: 0.5 -> 2.4, 2.9 -> 2.1, 5 -> 2.1; real 10 is 5 from the nearest fake (5, radius 2.1) -> out,
    # 0, 1, 2 lie in 0.5's ball and 3 in 2.9's -> recall 4/5.
    real, fake = _col(0, 1, 2, 3, 10), _col(0.5, 2.9, 5)
    assert precision_recall(real, fake, k=1) == pytest.approx((1.0, 0.8))
    # Without the outlier the real balls have radius 1 and fake 5 falls outside: precision 2/3, recall 1.
    assert precision_recall(_col(0, 1, 2, 3), fake, k=1) == pytest.approx((2 / 3, 1.0))
    # A point exactly on a ball's edge counts as inside (<=).
    assert precision_recall(_col(0, 1, 2, 3), _col(4, 4.5, 9), k=1)[0] == pytest.approx(1 / 3)


@pytest.mark.parametrize("n_real,n_fake,dim,k,block", [(40, 30, 5, 3, 7), (25, 60, 16, 3, 1024), (12, 12, 2, 1, 5),
                                                      (30, 30, 8, 5, 4)])
def test_matches_brute_force(n_real, n_fake, dim, k, block):
    rng = np.random.default_rng(n_real * 100 + dim)
    real = rng.standard_normal((n_real, dim))
    fake = 0.5 * rng.standard_normal((n_fake, dim))
    fake[::2] += 2.5  # half of the fake points off the real set
    got = precision_recall(real, fake, k=k, block=block)
    want = brute_precision_recall(real.tolist(), fake.tolist(), k)
    assert got == pytest.approx(want, abs=1e-12)
    assert 0.0 < got[0] < 1.0 and 0.0 < got[1] < 1.0  # the case is not trivial


def test_identical_and_disjoint_sets():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 8))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_bad_input():
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(np.zeros((3, 2)), np.ones((10, 2)), k=3)
    with pytest.raises(ValueError, match="dimensions differ"):
        precision_recall(np.zeros((10, 2)), np.ones((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        precision_recall(np.full((10, 2), np.nan), np.ones((10, 2)))


def test_inception_score_by_hand():
    k = 7
    assert inception_score(np.eye(k)) == pytest.approx(k)  # confident and spread over all classes: IS = K
    assert inception_score(np.tile([0.2, 0.3, 0.5], (9, 1))) == pytest.approx(1.0)  # no information: IS = 1
    # p1 = (1, 0), p2 = (1/2, 1/2): marginal (3/4, 1/4), KL1 = log 4/3, KL2 = 1/2 log 4/3 -> IS = (4/3)^(3/4)
    two = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert inception_score(two) == pytest.approx((4 / 3) ** 0.75, rel=1e-12)
    # splits of split_size consecutive rows, scores averaged: [p1, p2] then [p1, p1] (IS 1)
    four = np.array([[1.0, 0.0], [0.5, 0.5], [1.0, 0.0], [1.0, 0.0]])
    assert inception_score(four, split_size=2) == pytest.approx(((4 / 3) ** 0.75 + 1.0) / 2, rel=1e-12)
    assert inception_score(four) == pytest.approx(inception_score(four, split_size=4))


def test_inception_score_brute_force():
    rng = np.random.default_rng(4)
    p = softmax(3 * rng.standard_normal((23, 5)))
    m = p.mean(0)
    kl = [sum(pi[c] * math.log(pi[c] / m[c]) for c in range(5)) for pi in p]
    assert inception_score(p) == pytest.approx(math.exp(sum(kl) / len(kl)), rel=1e-12)
    with pytest.raises(ValueError):
        inception_score(-p)


def test_resampled_replicate_is_the_metric_on_the_drawn_points():
    """A replicate given as draw counts is precision/recall of the distinct drawn points, shares weighted by draws."""
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((20, 3)), rng.standard_normal((15, 3)) + 0.3
    d = {key: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) for key, (a, b) in
         dict(rr=(real, real), ff=(fake, fake), fr=(fake, real)).items()}
    cr, cf = np.bincount(rng.integers(0, 20, 20), minlength=20), np.bincount(rng.integers(0, 15, 15), minlength=15)
    ur, uf = np.nonzero(cr)[0], np.nonzero(cf)[0]
    p, r = pr_resampled(d["rr"], d["ff"], d["fr"], cr, cf, 3)
    rr, rf = manifold_radii(real[ur]), manifold_radii(fake[uf])
    dd = d["fr"][np.ix_(uf, ur)]
    assert p == pytest.approx(np.average((dd <= rr[None, :]).any(1), weights=cf[uf]))
    assert r == pytest.approx(np.average((dd <= rf[:, None]).any(0), weights=cr[ur]))
    # every point drawn once: the plain metric; too few distinct points: no replicate
    assert pr_resampled(d["rr"], d["ff"], d["fr"], np.ones(20, int), np.ones(15, int), 3) == pytest.approx(
        precision_recall(real, fake))
    assert pr_resampled(d["rr"], d["ff"], d["fr"], np.eye(20, dtype=int)[0] * 20, np.ones(15, int), 3) is None


def test_bootstrap_intervals():
    rng = np.random.default_rng(6)
    real, fake = rng.standard_normal((200, 4)), rng.standard_normal((200, 4)) + 0.5
    p, r = precision_recall(real, fake)
    (plo, phi), (rlo, rhi) = precision_recall_bootstrap(real, fake, n_boot=300, seed=1)
    assert plo <= p <= phi and rlo <= r <= rhi
    assert 0.02 < phi - plo < 0.3 and 0.02 < rhi - rlo < 0.3
    assert precision_recall_bootstrap(real, fake, n_boot=300, seed=1) == ((plo, phi), (rlo, rhi))  # seeded
    # a proportion's interval: about the normal approximation's width
    x = (rng.random(400) < 0.3).astype(float)
    lo, hi = bootstrap(len(x), lambda idx: x[idx].mean(), 1000, seed=0)
    half = 1.96 * math.sqrt(x.mean() * (1 - x.mean()) / len(x))
    assert hi - lo == pytest.approx(2 * half, rel=0.2)
    assert percentile_interval([None, float("nan")]) is None


TS_CHECK = r"""
import { readFileSync, writeFileSync } from 'node:fs';
import { precisionRecall } from './src/diffusion/precisionRecall';
const cases = JSON.parse(readFileSync(process.env.ADM_PR_CASES!, 'utf8'));
const out = cases.map((c: { real: number[]; fake: number[]; dim: number; k: number }) =>
  precisionRecall(Float32Array.from(c.real), Float32Array.from(c.fake), c.dim, c.k));
writeFileSync(process.env.ADM_PR_RESULTS!, JSON.stringify(out));
"""


def test_app_precision_recall_matches(tmp_path):
    """src/diffusion/precisionRecall.ts (the Trade-off view's) gives adm.metrics' numbers on the same float32 sets."""
    import json
    import os
    import shutil
    import subprocess

    from conftest import REPO

    tsx = REPO / "node_modules" / ".bin" / "tsx"
    if not tsx.exists() or shutil.which("node") is None:
        pytest.skip("node_modules/.bin/tsx missing (npm install)")
    rng = np.random.default_rng(9)
    cases, want = [], []
    for n_real, n_fake, dim, k in ((50, 8, 128, 3), (12, 6, 4, 3), (30, 30, 16, 1), (7, 20, 3, 5)):
        real = rng.standard_normal((n_real, dim)).astype(np.float32)
        fake = (0.8 * rng.standard_normal((n_fake, dim)) + 0.2).astype(np.float32)
        cases.append(dict(real=real.ravel().tolist(), fake=fake.ravel().tolist(), dim=dim, k=k))
        want.append(precision_recall(real, fake, k=k))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = dict(os.environ, ADM_PR_CASES=str(tmp_path / "cases.json"), ADM_PR_RESULTS=str(tmp_path / "out.json"))
    p = subprocess.run([str(tsx), "-e", TS_CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    got = json.loads((tmp_path / "out.json").read_text())
    assert [(g["precision"], g["recall"]) for g in got] == pytest.approx(want, abs=1e-12)
    assert len({w for w in want}) > 1
