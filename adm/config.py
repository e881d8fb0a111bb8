"""Typed configurations for the ADM networks and the diffusion process, and the checks that an architecture is
buildable.

Field names follow guided-diffusion's flags (num_channels -> model_channels etc. as in its
create_model). `attention_resolutions` here holds downsample factors ds (the factory's
conversion of the flag's feature-map resolutions, see `attention_ds`). The official defaults
and the flag strings themselves are adm.flags'.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple


class ConfigError(ValueError):
    """A configuration no ADM network can have (GroupNorm widths, attention heads, image size vs levels)."""


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
    extra: dict = field(default_factory=dict)


# --- architecture checks (clear messages instead of deep constructor errors) ---------------------------

def _level_widths(mc: int, channel_mult: Tuple[float, ...]) -> List[int]:
    return [int(m * mc) for m in channel_mult]


def _check_common(what: str, image_size: int, mc: int, channel_mult, num_heads: int, num_head_channels: int,
                  attn_ds, attention_in_middle: bool = True) -> None:
    widths = _level_widths(mc, tuple(channel_mult))
    for w in sorted(set(widths)):
        if w <= 0 or w % 32:
            raise ConfigError(f"{what}: level width {w} (= channel_mult x {mc}) must be a positive multiple of 32 "
                              "(GroupNorm with 32 groups)")
    factor = 2 ** (len(channel_mult) - 1)
    if image_size % factor:
        raise ConfigError(f"{what}: image size {image_size} is not divisible by {factor} "
                          f"({len(channel_mult)} levels)")
    attn_widths = [w for lvl, w in enumerate(widths) if 2 ** lvl in set(attn_ds)]
    if attention_in_middle:
        attn_widths.append(widths[-1])
    for w in attn_widths:
        if num_head_channels != -1:
            if num_head_channels <= 0 or w % num_head_channels:
                raise ConfigError(f"{what}: attention width {w} is not divisible by num_head_channels "
                                  f"{num_head_channels}")
        elif num_heads <= 0 or w % num_heads:
            raise ConfigError(f"{what}: attention width {w} is not divisible by num_heads {num_heads}")


def check_unet_config(cfg: UNetConfig) -> None:
    """ConfigError unless UNetModel(cfg) can be built."""
    _check_common("model", cfg.image_size, cfg.model_channels, cfg.channel_mult, cfg.num_heads,
                  cfg.num_head_channels, cfg.attention_resolutions)
    if cfg.num_heads_upsample != -1 and cfg.num_head_channels == -1:
        _check_common("model (upsampling path)", cfg.image_size, cfg.model_channels, cfg.channel_mult,
                      cfg.num_heads_upsample, -1, cfg.attention_resolutions, attention_in_middle=False)


def check_classifier_config(cfg: ClassifierConfig) -> None:
    """ConfigError unless EncoderUNetModel(cfg) can be built."""
    _check_common("classifier", cfg.image_size, cfg.model_channels, cfg.channel_mult, cfg.num_heads,
                  cfg.num_head_channels, cfg.attention_resolutions)
    final = _level_widths(cfg.model_channels, tuple(cfg.channel_mult))[-1]
    if cfg.pool == "attention" and final % cfg.num_head_channels:
        raise ConfigError(f"classifier: final width {final} not divisible by {cfg.num_head_channels} "
                          "(attention pool heads)")
