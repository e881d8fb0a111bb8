"""Typed configurations for the ADM networks and the diffusion process.

Field names follow guided-diffusion's flags (num_channels -> model_channels etc. as in its
create_model). `attention_resolutions` here holds downsample factors ds (the factory's
conversion of the flag's feature-map resolutions, see `attention_ds`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}


def default_channel_mult(image_size: int) -> Tuple[float, ...]:
    if image_size not in DEFAULT_CHANNEL_MULT:
        raise ValueError(f"no default channel_mult for image_size {image_size}; pass channel_mult explicitly")
    return DEFAULT_CHANNEL_MULT[image_size]


def attention_ds(image_size: int, resolutions: Tuple[int, ...]) -> Tuple[int, ...]:
    """Feature-map resolutions ("32,16,8") -> downsample factors, as the official factory does."""
    return tuple(image_size // int(r) for r in resolutions)


@dataclass
class UNetConfig:
    image_size: int = 64
    in_channels: int = 3
    model_channels: int = 128
    out_channels: int = 6  # 6 with learned sigma
    num_res_blocks: int = 2
    attention_resolutions: Tuple[int, ...] = (2, 4, 8)  # downsample factors
    dropout: float = 0.0
    channel_mult: Tuple[float, ...] = (1, 2, 3, 4)
    num_classes: int | None = None  # None = unconditional (no label_emb)
    num_heads: int = 4
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    use_new_attention_order: bool = False
    conv_resample: bool = True

    @property
    def learn_sigma(self) -> bool:
        return self.out_channels == 2 * 3


@dataclass
class ClassifierConfig:
    image_size: int = 64
    in_channels: int = 3
    model_channels: int = 128
    out_channels: int = 1000
    num_res_blocks: int = 2
    attention_resolutions: Tuple[int, ...] = (2, 4, 8)  # downsample factors
    channel_mult: Tuple[float, ...] = (1, 2, 3, 4)
    num_head_channels: int = 64
    num_heads: int = 1
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    use_new_attention_order: bool = False
    pool: str = "attention"
    dropout: float = 0.0


@dataclass
class DiffusionConfig:
    noise_schedule: str = "linear"  # "linear" | "cosine"
    diffusion_steps: int = 1000
    learn_sigma: bool = True
    predict_xstart: bool = False
    rescale_timesteps: bool = False
    timestep_respacing: str = ""  # "" = all steps


@dataclass
class ModelPreset:
    """An official (or project) model: U-Net + diffusion + optional classifier + sampling defaults."""

    unet: UNetConfig
    diffusion: DiffusionConfig
    classifier: ClassifierConfig | None = None
    classifier_scale: float = 1.0
    timestep_respacing: str = "250"
    use_ddim: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)
