"""Super-resolution U-Net (the released 64->256 and 128->512 upsamplers).

The lead's `adm.unet` has no SuperResModel, so this is a thin subclass: the network is an ordinary
UNetModel whose first conv takes 6 channels (noisy image, then the bilinearly upsampled low-resolution
image), exactly like guided-diffusion's SuperResModel. `cfg.in_channels` is the network's real input
width (6); `adm.flags.parse_model_flags` sets it when `--large_size/--small_size` are given.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import UNetConfig
from .unet import UNetModel


class SuperResModel(UNetModel):
    """forward(x [N,3,H,W], timesteps [N], low_res [N,3,h,w], y [N]) -> [N, out, H, W]."""

    def __init__(self, cfg: UNetConfig):
        if cfg.in_channels % 2:
            raise ValueError(f"SuperResModel needs an even in_channels (image + low-res image), got {cfg.in_channels}")
        super().__init__(cfg)

    def forward(self, x, timesteps, low_res=None, y=None):  # type: ignore[override]
        if low_res is None:
            raise ValueError("SuperResModel needs low_res")
        up = F.interpolate(low_res, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        return super().forward(torch.cat([x, up], dim=1), timesteps, y)
