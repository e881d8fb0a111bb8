"""Top-1 accuracy of a noise-aware classifier on held-out images noised to q(x_t | x_0), per t bucket.

This is how the paper's classifiers are judged: a classifier that cannot tell classes apart at the
t where guidance acts cannot steer there. Buckets follow the issue's table (0-99, 100-299, 300-599,
600-999); each image is noised once at a t drawn uniformly inside the bucket, with a fixed seed so
two checkpoints are compared on the same noise.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch

from .data import ImageFolderData
from .diffusion import GaussianDiffusion

T_BUCKETS: Tuple[Tuple[int, int], ...] = ((0, 99), (100, 299), (300, 599), (600, 999))


def bucket_name(lo: int, hi: int) -> str:
    return f"{lo}-{hi}"


@torch.no_grad()
def noisy_accuracy(model: torch.nn.Module, data: ImageFolderData, diffusion: GaussianDiffusion,
                   buckets: Sequence[Tuple[int, int]] = T_BUCKETS, limit: int | None = None,
                   batch_size: int = 200, seed: int = 0, autocast: bool = False) -> Dict[str, float]:
    """{"0-99": acc, ..., "all": mean over buckets} in [0, 1]; `limit` evaluates an evenly spaced subset."""
    n = len(data.labels)
    idx = torch.arange(n)
    if limit is not None and limit < n:
        idx = torch.linspace(0, n - 1, limit).round().long()
    g = torch.Generator().manual_seed(seed)
    # the draws stay on the CPU, so a model on a GPU scores the same noised images
    dev = next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    out: Dict[str, float] = {}
    try:
        for lo, hi in buckets:
            correct = 0
            for start in range(0, len(idx), batch_size):
                b = idx[start:start + batch_size]
                x0 = data.batch(b, flip=False)
                t = torch.randint(lo, hi + 1, (len(b),), generator=g)
                noise = torch.randn(x0.shape, generator=g)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                    logits = model(diffusion.q_sample(x0, t, noise).to(dev), t.to(dev)).float()
                correct += int((logits.argmax(-1).cpu() == data.labels[b]).sum())
            out[bucket_name(lo, hi)] = correct / len(idx)
    finally:
        model.train(was_training)
    out["all"] = sum(out[bucket_name(lo, hi)] for lo, hi in buckets) / len(buckets)
    return out


def val_accuracy(model: torch.nn.Module, data_root: str, wnids: Sequence[str], image_size: int,
                 noise_schedule: str, diffusion_steps: int, learn_sigma: bool, limit: int | None = None,
                 seed: int = 0) -> Tuple[Dict[str, float], int]:
    """noisy_accuracy on the val/ images of `wnids` under `data_root`; also returns how many were used."""
    from .data import load_image_folder

    val = load_image_folder(data_root, "val", image_size, wnids=list(wnids))
    diffusion = GaussianDiffusion.from_config(noise_schedule, diffusion_steps, learn_sigma=learn_sigma)
    acc = noisy_accuracy(model, val, diffusion, limit=limit, seed=seed)
    return acc, min(limit, len(val.labels)) if limit else len(val.labels)


def format_table(rows: List[Tuple[str, Dict[str, float]]]) -> str:
    """Markdown table: one row per (label, accuracies) in percent."""
    keys = [bucket_name(lo, hi) for lo, hi in T_BUCKETS] + ["all"]
    lines = ["| classifier | " + " | ".join(f"t {k}" if k != "all" else "mean" for k in keys) + " |",
             "|---|" + "---|" * len(keys)]
    for label, acc in rows:
        lines.append(f"| {label} | " + " | ".join(f"{100 * acc[k]:.1f}%" for k in keys) + " |")
    return "\n".join(lines)


def classifier_from_pack(pack) -> Tuple[torch.nn.Module, dict]:
    """The pack's noise-aware classifier as a PyTorch module (weights read back from its gradient graph).
    The architecture is the training preset whose image size matches the pack."""
    import copy
    from pathlib import Path

    from .export import classifier_grad_exporter
    from .onnx_weights import load_onnx_weights
    from .pack import read_pack
    from .pack_files import load_pack_graph
    from .train_presets import TRAIN_PRESETS
    from .unet import EncoderUNetModel

    pack = Path(pack)
    m = read_pack(pack, check_files=False)  # the classifier's files are read and checked by load_pack_graph
    if "classifierGrad" not in m:
        raise ValueError(f"{pack} has no classifier")
    presets = [p for p in TRAIN_PRESETS.values() if p["classifier"].image_size == m["imageSize"]]
    if not presets:
        raise ValueError(f"{pack} is {m['imageSize']} px: no training preset of that size to rebuild its classifier")
    cfg = copy.deepcopy(presets[0]["classifier"])
    cfg.out_channels = len(m["labels"])
    model = load_onnx_weights(EncoderUNetModel(cfg), load_pack_graph(pack, m, "classifierGrad"),
                              classifier_grad_exporter(m["classifierGrad"]["outputs"]))
    return model.eval(), m
