"""Every random choice of one training step, drawn for the global batch so that it does not depend on how many
processes share the batch.

Step s of a run with seed S draws, from a CPU generator seeded by (S, s), the global batch's image indices,
flips, crop offsets, timesteps and label drops, in that order, and the global batch's noise from a generator on
the training device seeded by (S, s, noise); every rank keeps its slice (adm.dist.shard_bounds). One process
holding the whole batch and W processes holding slices therefore see exactly the same global batch, and a run
resumed at step s continues exactly as it would have: the state of the random streams is the step number alone.
The noise is drawn where the network runs (on a GPU, one kernel of negligible cost, instead of a CPU draw that
would take as long as a training step), so a CPU run and a CUDA run of one seed see different noise; runs on the
same kind of device see the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

MASK64 = (1 << 64) - 1
BATCH_STREAM, NOISE_STREAM = 1, 2


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def mix_seed(*words: int) -> int:
    """A 63-bit generator seed from integers: nearby tuples (seed, step, index) give unrelated streams."""
    h = 0
    for w in words:
        h = _splitmix64(h ^ (w & MASK64))
    return h >> 1


def generator(*words: int, device: torch.device = torch.device("cpu")) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(mix_seed(*words))


@dataclass
class BatchDraw:
    """One rank's slice of a step's global batch (CPU tensors but the noise)."""

    idx: torch.Tensor  # [n] image indices into the data set
    flip: torch.Tensor  # [n] bool: mirror horizontally
    crop: Optional[torch.Tensor]  # [n, 2] (dy, dx) offsets into the reflect-padded image, or None
    t: torch.Tensor  # [n] timesteps
    drop: torch.Tensor  # [n] bool: replace the label by the null label (the U-Net's label dropout)
    noise: torch.Tensor  # [n, *image_shape], on the training device
    lo: int  # global index of the slice's first sample


def draw_batch(seed: int, step: int, batch_size: int, num_images: int, num_timesteps: int,
               image_shape: Tuple[int, ...], part: slice, crop_pad: int = 0,
               label_dropout: float = 0.0, device: torch.device = torch.device("cpu")) -> BatchDraw:
    g = generator(seed, BATCH_STREAM, step)
    idx = torch.randint(0, num_images, (batch_size,), generator=g)
    flip = torch.rand(batch_size, generator=g) < 0.5
    crop = torch.randint(0, 2 * crop_pad + 1, (batch_size, 2), generator=g) if crop_pad else None
    t = torch.randint(0, num_timesteps, (batch_size,), generator=g)
    drop = torch.rand(batch_size, generator=g) < label_dropout
    lo, hi = part.start, part.stop
    noise = torch.randn((batch_size, *image_shape), generator=generator(seed, NOISE_STREAM, step, device=device),
                        device=device)[lo:hi]
    return BatchDraw(idx[lo:hi], flip[lo:hi], crop[lo:hi] if crop is not None else None, t[lo:hi], drop[lo:hi],
                     noise, lo)


def flip_and_crop(x: torch.Tensor, flip: torch.Tensor, crop: Optional[torch.Tensor], pad: int) -> torch.Tensor:
    """Mirror the images marked in `flip`; with `crop`, reflect-pad by `pad` and cut each image back at its offset.
    One gather for the whole batch, on whatever device `x` is."""
    x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
    if crop is None:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    crop = crop.to(x.device)
    rows = (crop[:, 0:1] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (crop[:, 1:2] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    return padded[torch.arange(n, device=x.device).view(n, 1, 1, 1), torch.arange(c, device=x.device).view(1, c, 1, 1),
                  rows, cols]
