"""Scores of one image set for adm.eval, each with a bootstrap interval: the judge's accuracy and log p of the
requested class, the Fréchet distance of its penultimate features to the val images', precision and recall of
those features against a real reference set (adm.metrics, k = 3) and the Inception-Score analogue of its softmax.

The paper computes FID, precision/recall and IS on Inception-v3 (2048-d pool features, 1008-way softmax, 50k
samples against 10k-50k reference images). No Inception weights can be had here, so the same formulas run on the
eval's judge (256-d features, a softmax over the pack's classes): the numbers rank guidance settings the same way
but are on another scale (an IS over 10 classes is at most 10).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from .frechet import frechet_distance_gaussians, gaussian_fit
from .metrics import bootstrap, inception_score, precision_recall, precision_recall_bootstrap, softmax

PR_K = 3  # the paper's evaluator: radius = distance to the 3rd nearest neighbour
FD_BOOT_MAX = 200  # FD replicates cost two eigendecompositions each


def _r(v: Optional[float], nd: int = 4) -> Optional[float]:
    return None if v is None or not np.isfinite(v) else round(float(v), nd)


def _ci(iv) -> Optional[list]:
    return None if iv is None else [_r(iv[0]), _r(iv[1])]


def set_scores(logits, feats, target, real_feats: Optional[np.ndarray], val_fit: Optional[Tuple], n_boot: int,
               seed: int) -> Tuple[Dict, Dict]:
    """(values, 95 % intervals) of a set: logits [N, K] and features [N, D] of the judge, target [N] its class
    indices; real_feats the precision/recall reference (None: no precision/recall), val_fit (mu, cov) the FD target
    (None: no FD). Keys: judgeAccuracy, judgeLogp, fd, precision, recall, inceptionScore."""
    z = np.asarray(logits, dtype=np.float64)
    f = np.asarray(feats, dtype=np.float64)
    t = np.asarray(target)
    n = len(t)
    logp = z - z.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    logp_y = logp[np.arange(n), t]
    correct = (z.argmax(1) == t).astype(np.float64)
    probs = softmax(z)
    values: Dict = dict(judgeAccuracy=correct.mean(), judgeLogp=logp_y.mean(), inceptionScore=inception_score(probs))
    ci: Dict = dict(judgeAccuracy=bootstrap(n, lambda i: correct[i].mean(), n_boot, seed),
                    judgeLogp=bootstrap(n, lambda i: logp_y[i].mean(), n_boot, seed),
                    inceptionScore=bootstrap(n, lambda i: inception_score(probs[i]), n_boot, seed))
    values["fd"] = ci["fd"] = None
    if val_fit is not None and n > 1:
        def fd(idx):
            return frechet_distance_gaussians(*gaussian_fit(f[idx]), *val_fit)
        values["fd"] = fd(np.arange(n))
        ci["fd"] = bootstrap(n, fd, min(n_boot, FD_BOOT_MAX), seed)
    values["precision"] = values["recall"] = ci["precision"] = ci["recall"] = None
    if real_feats is not None and n > PR_K and len(real_feats) > PR_K:
        values["precision"], values["recall"] = precision_recall(real_feats, f, k=PR_K)
        ci["precision"], ci["recall"] = precision_recall_bootstrap(real_feats, f, k=PR_K, n_boot=n_boot, seed=seed)
    return {k: _r(v) for k, v in values.items()}, {k: _ci(v) for k, v in ci.items()}


def class_balanced_subset(labels, per_class: int) -> np.ndarray:
    """Indices of the first per_class items of each label, in label order (the precision/recall reference: the
    same classes in the same proportions as a sample set)."""
    labels = np.asarray(labels)
    return np.concatenate([np.nonzero(labels == k)[0][:per_class] for k in np.unique(labels)])


METRICS_NOTE = (
    "Judge-feature analogues of the paper's metrics (no Inception weights here). precision/recall: Kynkaanniemi et "
    "al. 2019 with k = 3 on the judge's penultimate features, each row's samples against as many real val images "
    "(the first samplesPerClass of each class); inceptionScore: exp(mean KL(p(y|x) || p(y))) of the judge's softmax "
    "over the pack's classes (at most the number of classes), splits of 5000 as the paper's evaluator; fd: Fréchet "
    "distance of the judge features to all val images. ci: 95% percentile bootstrap intervals over the samples "
    "(precision/recall: both sets resampled, the balls' radii fixed at the full sets')."
)
