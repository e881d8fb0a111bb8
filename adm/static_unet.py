"""The ADM U-Net written with static shapes for ONNX export (the graph adm.export wraps as the pack's U-Net).

    StaticUNet(model)(x [N,C,H,W], timesteps float [N], y int64 [N] if class-conditional) -> [N, out, H, W]

The same function as `adm.unet.UNetModel.forward`, built from the blocks of adm.static_blocks run forward
only (GroupNorm as InstanceNormalization), so the traced graph has no Shape ops and no int64 arithmetic.
Checked against the eager module under onnxruntime-node in tests/python/test_export.py.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import unet as U
from .static_blocks import norm_inference, sequence, time_mlp
from .static_ops import conv2d, group_norm_inorm, silu, timestep_freqs


class StaticUNet(nn.Module):
    """Reads the parameters of `model` (nothing is copied)."""

    def __init__(self, model: "U.UNetModel"):
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.class_cond = model.num_classes is not None
        self.register_buffer("freqs", timestep_freqs(self.cfg.model_channels), persistent=False)

    def forward(self, x, timesteps, y=None):
        m, cfg = self.model, self.cfg
        emb = time_mlp(m, timesteps, self.freqs)
        if self.class_cond:
            emb = emb + F.embedding(y, m.label_emb.weight)
        emb_act = silu(emb)
        hw = (cfg.image_size, cfg.image_size)
        c = cfg.in_channels
        h = x
        skips: List[Tuple[torch.Tensor, int]] = []
        for blk in m.input_blocks:
            h, c, hw, _ = sequence(blk, h, emb_act, c, hw, norm_inference)
            skips.append((h, c))
        h, c, hw, _ = sequence(m.middle_block, h, emb_act, c, hw, norm_inference)
        for blk in m.output_blocks:
            s, sc = skips.pop()
            h, c, hw, _ = sequence(blk, torch.cat([h, s], dim=1), emb_act, c + sc, hw, norm_inference)
        h = silu(group_norm_inorm(h, m.out[0], c, hw))
        return conv2d(h, m.out[2])
