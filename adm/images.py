"""[-1, 1] image tensors to uint8 and PNG grids (the official uint8 conversion: (x+1)*127.5, clamp, truncate)."""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[N,3,H,W] in [-1,1] -> uint8 [N,H,W,3]."""
    return ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def save_grid(x: torch.Tensor, path: str, nrow: int = 8, pad: int = 2) -> None:
    imgs = to_uint8(x)
    n, h, w, _ = imgs.shape
    ncol = min(nrow, n)
    rows = (n + ncol - 1) // ncol
    grid = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.png"
    Image.fromarray(grid).save(tmp)
    os.replace(tmp, path)
