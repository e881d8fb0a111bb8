"""What a U-Net training run shows of itself: a grid of EMA samples (DDIM, fixed noise) every --sample-every-min."""
from __future__ import annotations

from typing import Callable, ContextManager

import torch

from .config import DiffusionConfig, UNetConfig
from .diffusion import GaussianDiffusion
from .images import save_grid


@torch.no_grad()
def sample_grid(ema: torch.nn.Module, cfg: UNetConfig, dcfg: DiffusionConfig, device: torch.device,
                autocast: Callable[[], ContextManager], path: str, steps: str = "ddim25") -> str:
    """EMA samples, two per class then a row with the null label, saved as a PNG grid at `path`."""
    n_cls = cfg.num_classes - 1
    y = torch.cat([torch.arange(n_cls).repeat_interleave(2), torch.full((n_cls * 2,), n_cls)]).to(device)
    diff = GaussianDiffusion.from_config(dcfg.noise_schedule, dcfg.diffusion_steps, steps, dcfg.learn_sigma)
    g = torch.Generator().manual_seed(1234)
    x = torch.randn((len(y), 3, cfg.image_size, cfg.image_size), generator=g).to(device)
    for i in reversed(range(diff.num_timesteps)):
        t = torch.full((len(y),), i, dtype=torch.long, device=device)
        with autocast():
            out = ema(x, diff.model_timesteps(t), y).float()
        x = diff.ddim_sample(out, x, t, torch.zeros_like(x))["sample"]
    save_grid(x.cpu(), path, nrow=n_cls * 2)
    return path
