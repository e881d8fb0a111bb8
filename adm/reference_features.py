"""A pack's reference features (manifest `referenceFeatures`): the classifier's penultimate features of real val
images at t = 0, float32 [labels, images per label, C], in label order. The app's Trade-off view scores precision
and recall of its samples' features (the gradient graph's "features" output) against them.

The features are what the attention pool's c_proj reads: token 0 of the pool's attention output, read here from
the PyTorch classifier with a forward hook (the exported graph computes the same values; adm.pack.verify_pack
checks the two agree).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .manifest_check import MAX_REFERENCE_FEATURE_BYTES, MIN_REFERENCE_PER_LABEL

REFERENCE_FILE = "reference_features.bin"
DEFAULT_PER_LABEL = 50


@dataclass
class ReferenceSet:
    features: np.ndarray  # float32 [labels, per label, C]
    timestep: int
    source: str


@torch.no_grad()
def penultimate_features(classifier: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """[N, C]: the input of the attention pool's c_proj at token 0, for images x in [-1, 1] at timesteps t."""
    seen = []
    hook = classifier.out[2].c_proj.register_forward_hook(lambda mod, inp, out: seen.append(inp[0][:, :, 0].float()))
    try:
        for i in range(0, len(x), batch):
            classifier(x[i:i + batch].float(), t[i:i + batch].float())
    finally:
        hook.remove()
    return torch.cat(seen)


def reference_set(classifier: torch.nn.Module, data_root: str, wnids: Sequence[str], image_size: int,
                  per_label: int = DEFAULT_PER_LABEL) -> ReferenceSet:
    """Features of the first per_label val images (sorted file names) of each class at t = 0. ValueError when a class
    has fewer val images or the result would pass the manifest's size limit."""
    from .data import load_image_folder

    if per_label < MIN_REFERENCE_PER_LABEL:
        raise ValueError(f"reference features need at least {MIN_REFERENCE_PER_LABEL} images per label (got {per_label})")
    val = load_image_folder(data_root, "val", image_size, wnids=list(wnids), limit_per_class=per_label)
    counts = torch.bincount(val.labels, minlength=len(wnids))
    short = [f"{w} ({int(c)})" for w, c in zip(wnids, counts) if c < per_label]
    if short:
        raise ValueError(f"reference features: val/ has fewer than {per_label} images for {', '.join(short[:5])}")
    x = val.images.float() / 127.5 - 1.0
    f = penultimate_features(classifier.eval(), x, torch.zeros(len(x))).numpy().astype("<f4")
    if f.nbytes > MAX_REFERENCE_FEATURE_BYTES:
        raise ValueError(f"reference features would take {f.nbytes} bytes (at most {MAX_REFERENCE_FEATURE_BYTES}): "
                         f"use fewer images per label")
    return ReferenceSet(f.reshape(len(wnids), per_label, -1), 0,
                        f"the first {per_label} val images (sorted file names) of each label, at t = 0")


def write_reference(folder: Path, ref: ReferenceSet) -> Path:
    path = Path(folder) / REFERENCE_FILE
    path.write_bytes(np.ascontiguousarray(ref.features, dtype="<f4").tobytes())
    return path


def read_reference(pack_dir: Path, entry: dict) -> np.ndarray:
    """The features of a pack's referenceFeatures entry, [labels, per label, C] float32."""
    data = np.frombuffer((Path(pack_dir) / entry["file"]).read_bytes(), dtype="<f4")
    return data.reshape(entry["shape"])
