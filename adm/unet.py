"""The ablated diffusion model (ADM) U-Net and its noise-aware classifier (EncoderUNetModel).

Written from the architecture facts of Dhariwal & Nichol (2021) so that `state_dict()` keys and
shapes equal the released guided-diffusion checkpoints. Differences from the reference code, all
deliberate: no gradient-checkpoint wrappers (they break ONNX export), no fp16 conversion helpers
(precision is chosen at export), timesteps may be float tensors (the ONNX graphs take float32).
"""
from __future__ import annotations

import math
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ClassifierConfig, UNetConfig


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups, computed in float32 whatever the input dtype."""

    def __init__(self, channels: int):
        super().__init__(32, channels)

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """Sinusoidal embedding [N, dim]: cos first, then sin; frequencies exp(-ln(P) * i / half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepBlock(nn.Module):
    """A block whose forward also takes the timestep embedding."""


class TimestepEmbedSequential(nn.Sequential, TimestepBlock):
    """Passes the embedding only to the children that take it (ResBlocks)."""

    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


class Upsample(nn.Module):
    """Nearest x2, optional 3x3 conv (stand-alone; released models use ResBlock up instead)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: Optional[int] = None):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """Strided 3x3 conv or 2x2 average pool (stand-alone)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: Optional[int] = None):
        super().__init__()
        self.op = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2, 2)

    def forward(self, x):
        return self.op(x)


class ResBlock(TimestepBlock):
    """Residual block with AdaGN (scale-shift norm) conditioning and optional BigGAN up/down."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: Optional[int] = None,
                 use_scale_shift_norm: bool = True, up: bool = False, down: bool = False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, self.out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * self.out_channels if use_scale_shift_norm else self.out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(self.out_channels), nn.SiLU(), nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)))
        self.skip_connection = nn.Identity() if self.out_channels == channels else nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x, emb):
        if self.updown:
            # Resample after the activation and before the first conv; the skip path too.
            h = self.in_layers[1](self.in_layers[0](x))
            h = self.in_layers[2](self.h_upd(h))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = torch.chunk(e, 2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[2](self.out_layers[1](h)))
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


def qkv_attention(qkv: torch.Tensor, n_heads: int, legacy: bool) -> torch.Tensor:
    """[N, 3*H*C, T] -> [N, H*C, T]. Legacy layout is (head, qkv, ch); the new one (qkv, head, ch)."""
    bs, width, length = qkv.shape
    ch = width // (3 * n_heads)
    if legacy:
        q, k, v = qkv.reshape(bs * n_heads, ch * 3, length).split(ch, dim=1)
    else:
        q, k, v = (t.reshape(bs * n_heads, ch, length) for t in qkv.chunk(3, dim=1))
    scale = 1 / math.sqrt(math.sqrt(ch))  # applied to q and k each: same as 1/sqrt(ch) on the logits
    weight = torch.bmm((q * scale).transpose(1, 2), k * scale)  # [B*H, T(q), T(k)]
    weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
    a = torch.bmm(v, weight.transpose(1, 2))  # [B*H, ch, T(q)]
    return a.reshape(bs, -1, length)


class AttentionBlock(nn.Module):
    """Spatial self-attention with a residual connection."""

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1, use_new_attention_order: bool = False):
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"channels {channels} not divisible by num_head_channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.legacy = not use_new_attention_order
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x):
        b, c, hh, ww = x.shape
        x = x.reshape(b, c, hh * ww)
        h = qkv_attention(self.qkv(self.norm(x)), self.num_heads, self.legacy)
        return (x + self.proj_out(h)).reshape(b, c, hh, ww)


class AttentionPool2d(nn.Module):
    """CLIP-style attention pooling: the mean token attends over all positions (new QKV order)."""

    def __init__(self, spacial_dim: int, embed_dim: int, num_heads_channels: int, output_dim: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(embed_dim, spacial_dim ** 2 + 1) / embed_dim ** 0.5)
        self.qkv_proj = nn.Conv1d(embed_dim, 3 * embed_dim, 1)
        self.c_proj = nn.Conv1d(embed_dim, output_dim, 1)
        self.num_heads = embed_dim // num_heads_channels

    def forward(self, x):
        b, c = x.shape[:2]
        x = x.reshape(b, c, -1)
        x = torch.cat([x.mean(dim=-1, keepdim=True), x], dim=-1)
        x = x + self.positional_embedding[None].to(x.dtype)
        x = qkv_attention(self.qkv_proj(x), self.num_heads, legacy=False)
        return self.c_proj(x)[:, :, 0]


def zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.detach().zero_()
    return module


def _heads(ch: int, num_heads: int, num_head_channels: int, use_new_attention_order: bool) -> AttentionBlock:
    return AttentionBlock(ch, num_heads=num_heads, num_head_channels=num_head_channels,
                          use_new_attention_order=use_new_attention_order)


def _build_encoder(cfg, time_embed_dim: int, num_heads: int):
    """Input blocks and middle block shared by the U-Net and the classifier (steps 1-3)."""
    ch = input_ch = int(cfg.channel_mult[0] * cfg.model_channels)
    blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
    chans: List[int] = [ch]
    ds = 1
    for level, mult in enumerate(cfg.channel_mult):
        for _ in range(cfg.num_res_blocks):
            out_ch = int(mult * cfg.model_channels)
            layers = [ResBlock(ch, time_embed_dim, cfg.dropout, out_ch, cfg.use_scale_shift_norm)]
            ch = out_ch
            if ds in cfg.attention_resolutions:
                layers.append(_heads(ch, num_heads, cfg.num_head_channels, cfg.use_new_attention_order))
            blocks.append(TimestepEmbedSequential(*layers))
            chans.append(ch)
        if level != len(cfg.channel_mult) - 1:
            down = (ResBlock(ch, time_embed_dim, cfg.dropout, ch, cfg.use_scale_shift_norm, down=True)
                    if cfg.resblock_updown else Downsample(ch, getattr(cfg, "conv_resample", True)))
            blocks.append(TimestepEmbedSequential(down))
            chans.append(ch)
            ds *= 2
    middle = TimestepEmbedSequential(
        ResBlock(ch, time_embed_dim, cfg.dropout, use_scale_shift_norm=cfg.use_scale_shift_norm),
        _heads(ch, num_heads, cfg.num_head_channels, cfg.use_new_attention_order),
        ResBlock(ch, time_embed_dim, cfg.dropout, use_scale_shift_norm=cfg.use_scale_shift_norm))
    return blocks, middle, chans, ch, ds, input_ch


class UNetModel(nn.Module):
    """ADM U-Net: forward(x [N,C,H,W], timesteps [N], y [N] int64 if class-conditional) -> [N,out,H,W]."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        mc = cfg.model_channels
        ted = mc * 4
        self.num_classes = cfg.num_classes
        self.time_embed = nn.Sequential(nn.Linear(mc, ted), nn.SiLU(), nn.Linear(ted, ted))
        if cfg.num_classes is not None:
            self.label_emb = nn.Embedding(cfg.num_classes, ted)
        self.input_blocks, self.middle_block, chans, ch, ds, input_ch = _build_encoder(cfg, ted, cfg.num_heads)
        heads_up = cfg.num_heads if cfg.num_heads_upsample == -1 else cfg.num_heads_upsample
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                ich = chans.pop()
                out_ch = int(mc * mult)
                layers: List[nn.Module] = [ResBlock(ch + ich, ted, cfg.dropout, out_ch, cfg.use_scale_shift_norm)]
                ch = out_ch
                if ds in cfg.attention_resolutions:
                    layers.append(_heads(ch, heads_up, cfg.num_head_channels, cfg.use_new_attention_order))
                if level and i == cfg.num_res_blocks:
                    layers.append(ResBlock(ch, ted, cfg.dropout, ch, cfg.use_scale_shift_norm, up=True)
                                  if cfg.resblock_updown else Upsample(ch, cfg.conv_resample))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(), zero_module(nn.Conv2d(input_ch, cfg.out_channels, 3, padding=1)))

    def forward(self, x, timesteps, y=None):
        if (y is not None) != (self.num_classes is not None):
            raise ValueError("y must be given if and only if the model is class-conditional")
        emb = self.time_embed(timestep_embedding(timesteps, self.cfg.model_channels))
        if y is not None:
            emb = emb + self.label_emb(y)
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


class EncoderUNetModel(nn.Module):
    """Noise-aware classifier: the U-Net's encoder half + attention pooling -> logits [N, out]."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        mc = cfg.model_channels
        ted = mc * 4
        self.time_embed = nn.Sequential(nn.Linear(mc, ted), nn.SiLU(), nn.Linear(ted, ted))
        self.input_blocks, self.middle_block, _, ch, ds, _ = _build_encoder(cfg, ted, cfg.num_heads)
        if cfg.pool != "attention":
            raise ValueError(f"pool {cfg.pool!r} not supported (released classifiers use 'attention')")
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(),
                                 AttentionPool2d(cfg.image_size // ds, ch, cfg.num_head_channels, cfg.out_channels))

    def forward(self, x, timesteps):
        emb = self.time_embed(timestep_embedding(timesteps, self.cfg.model_channels))
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
        h = self.middle_block(h, emb)
        return self.out(h.type(x.dtype))
