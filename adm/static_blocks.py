"""The ADM blocks with static shapes (adm.static_ops), each returning its output and a vector-Jacobian closure.

Every block function takes the block's module, its input and the input's static size (channels, spatial
size), and returns `Out(h, c, hw, vjp)`: the output, its static size, and `vjp`, a closure that maps the
output's cotangent to the input's cotangent, using what the forward pass computed. The exported U-Net
(adm.static_unet) runs the blocks forward only; the classifier-gradient graph (adm.grad_graph) runs them
forward and then chains their closures backward.

`norm` chooses how a block computes GroupNorm, alone (`norm.plain`) or followed by the (AdaGN scale-shift and)
SiLU that every ADM GroupNorm but the attention block's has (`norm.silu`): `norm_inference` (an
InstanceNormalization graph, no backward: the U-Net) or `norm_with_vjp` (explicit statistics kept for the backward
pass, each norm + SiLU fused into few kernels with its derivative: the classifier, adm.static_norm).
Only what classifiers contain has a backward: an up-sampling block's closure raises NotImplementedError.
"""
from __future__ import annotations

from typing import Callable, List, NamedTuple, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import unet as U
from .static_ops import (
    VJP,
    attention_core,
    avgpool2,
    avgpool2_backward,
    conv1x1_matmul,
    conv1x1_matmul_input_grad,
    conv2d,
    conv2d_input_grad,
    conv_out_hw,
    group_norm_inorm,
    merge_qkv_grads,
    silu,
    split_qkv,
    time_embedding,
    upsample2,
)
from .static_norm import group_norm_silu_vjp, group_norm_vjp

HW = Tuple[int, ...]


class Norm(NamedTuple):
    """plain(x, norm, c, spatial) -> (GroupNorm(x), vjp);
    silu(x, norm, c, spatial, scale, shift, grad_scale) -> (SiLU(GroupNorm(x) * (1 + scale) + shift), vjp), scale and
    shift [N, C, 1, 1] or None, the vjp's cotangent multiplied by grad_scale."""

    plain: Callable[..., Tuple[torch.Tensor, VJP]]
    silu: Callable[..., Tuple[torch.Tensor, VJP]]


class Out(NamedTuple):
    """A block's output `h` with its static channel count `c` and spatial size `hw` (() for logits), and `vjp`."""

    h: torch.Tensor
    c: int
    hw: HW
    vjp: VJP


def _no_backward(g: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("this forward pass used norm_inference, which keeps no statistics for a backward pass")


def _inference_plain(x, norm: nn.GroupNorm, c: int, spatial: HW):
    return group_norm_inorm(x, norm, c, spatial), _no_backward


def _inference_silu(x, norm: nn.GroupNorm, c: int, spatial: HW, scale=None, shift=None, grad_scale: float = 1.0):
    h = group_norm_inorm(x, norm, c, spatial)
    if scale is not None:
        h = h * (1.0 + scale) + shift
    return silu(h), _no_backward


norm_inference = Norm(_inference_plain, _inference_silu)
norm_with_vjp = Norm(group_norm_vjp, group_norm_silu_vjp)


def chain(vjps: List[VJP]) -> VJP:
    """The VJP of blocks run one after the other: their closures in reverse order."""
    def vjp(g: torch.Tensor) -> torch.Tensor:
        for f in reversed(vjps):
            g = f(g)
        return g
    return vjp


def time_mlp(model: nn.Module, timesteps: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """The timestep embedding through the model's time_embed MLP (Linear -> SiLU -> Linear)."""
    mlp = model.time_embed
    emb = time_embedding(timesteps, freqs, model.cfg.model_channels)
    return F.linear(silu(F.linear(emb, mlp[0].weight, mlp[0].bias)), mlp[2].weight, mlp[2].bias)


# --- blocks ---------------------------------------------------------------------------------------------

def resblock(blk: U.ResBlock, x, emb_act, c_in: int, hw: HW, norm: Norm) -> Out:
    """ResBlock: GroupNorm -> SiLU -> [up/down] -> conv, AdaGN or additive time embedding, GroupNorm -> SiLU ->
    conv, plus the (1x1 conv) skip path."""
    c_out = blk.out_channels
    mode = None if not blk.updown else ("up" if isinstance(blk.h_upd, U.Upsample) else "down")
    # a 2x2 average pool's backward spreads a quarter of each cotangent: the 1/4 goes into the norm's factor
    a, in_vjp = norm.silu(x, blk.in_layers[0], c_in, hw, grad_scale=0.25 if mode == "down" else 1.0)
    new_hw = hw
    if mode == "up":
        a, x = upsample2(a), upsample2(x)
        new_hw = (hw[0] * 2, hw[1] * 2)
    elif mode == "down":
        a, x = avgpool2(a), avgpool2(x)
        new_hw = (hw[0] // 2, hw[1] // 2)
    h = conv2d(a, blk.in_layers[2])
    lin = blk.emb_layers[1]
    e = F.linear(emb_act, lin.weight, lin.bias).reshape(-1, lin.out_features, 1, 1)
    if blk.use_scale_shift_norm:
        a2, out_vjp = norm.silu(h, blk.out_layers[0], c_out, new_hw, e[:, :c_out], e[:, c_out:])
    else:
        a2, out_vjp = norm.silu(h + e, blk.out_layers[0], c_out, new_hw)
    out_h = conv2d(a2, blk.out_layers[3])
    identity_skip = isinstance(blk.skip_connection, nn.Identity)
    skip = x if identity_skip else conv2d(x, blk.skip_connection)

    def vjp(g):
        g_a = conv2d_input_grad(out_vjp(conv2d_input_grad(g, blk.out_layers[3], new_hw)), blk.in_layers[2], new_hw)
        g_skip = g if identity_skip else conv2d_input_grad(g, blk.skip_connection, new_hw)
        if mode == "down":
            return in_vjp(upsample2(g_a)) + avgpool2_backward(g_skip)
        if mode == "up":
            raise NotImplementedError("backward through an up-sampling ResBlock (not in classifiers)")
        return in_vjp(g_a) + g_skip

    return Out(skip + out_h, c_out, new_hw, vjp)


def attention(blk: U.AttentionBlock, x, c: int, hw: HW, norm: Norm) -> Out:
    """AttentionBlock: x + proj_out(attention(qkv(GroupNorm(x)))) over the hw positions."""
    t = hw[0] * hw[1]
    heads = blk.num_heads
    ch = c // heads
    xr = x.reshape(-1, c, t)
    hn, gn_vjp = norm.plain(xr, blk.norm, c, (t,))
    q, k, v = split_qkv(conv1x1_matmul(hn, blk.qkv), heads, c, t, blk.legacy)
    a, attn_vjp = attention_core(q, k, v, ch)
    out = xr + conv1x1_matmul(a.reshape(-1, c, t), blk.proj_out)

    def vjp(g):
        gr = g.reshape(-1, c, t)
        ga = conv1x1_matmul_input_grad(gr, blk.proj_out).reshape(-1, ch, t)
        gq, gk, gv = attn_vjp(ga)
        ghn = conv1x1_matmul_input_grad(merge_qkv_grads(gq, gk, gv, heads, c, t, blk.legacy), blk.qkv)
        return (gr + gn_vjp(ghn)).reshape(-1, c, hw[0], hw[1])

    return Out(out.reshape(-1, c, hw[0], hw[1]), c, hw, vjp)


def conv(layer: nn.Conv2d, x, hw: HW) -> Out:
    """A plain (or strided, down-sampling) conv."""
    return Out(conv2d(x, layer), layer.out_channels, conv_out_hw(layer, hw),
               lambda g: conv2d_input_grad(g, layer, hw))


def avg_pool(x, c: int, hw: HW) -> Out:
    """A stand-alone 2x2 average-pool Downsample."""
    return Out(avgpool2(x), c, (hw[0] // 2, hw[1] // 2), avgpool2_backward)


def _no_upsample_backward(g: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("backward through Upsample (not in classifiers)")


def upsample(layer: U.Upsample, x, c: int, hw: HW) -> Out:
    """A stand-alone nearest x2 Upsample with its optional conv (forward only)."""
    h = upsample2(x)
    if layer.use_conv:
        h = conv2d(h, layer.conv)
        c = layer.conv.out_channels
    return Out(h, c, (hw[0] * 2, hw[1] * 2), _no_upsample_backward)


def layer_block(layer: nn.Module, x, emb_act, c: int, hw: HW, norm: Norm) -> Out:
    """One child of a TimestepEmbedSequential."""
    if isinstance(layer, U.ResBlock):
        return resblock(layer, x, emb_act, c, hw, norm)
    if isinstance(layer, U.AttentionBlock):
        return attention(layer, x, c, hw, norm)
    if isinstance(layer, nn.Conv2d):
        return conv(layer, x, hw)
    if isinstance(layer, U.Downsample):
        return conv(layer.op, x, hw) if isinstance(layer.op, nn.Conv2d) else avg_pool(x, c, hw)
    if isinstance(layer, U.Upsample):
        return upsample(layer, x, c, hw)
    raise TypeError(f"unsupported layer {type(layer).__name__} in a static-shape block")


def sequence(seq: nn.Module, x, emb_act, c: int, hw: HW, norm: Norm) -> Out:
    """A TimestepEmbedSequential: its layers in order; the VJP chains theirs."""
    vjps = []
    h = x
    for layer in seq:
        h, c, hw, vjp = layer_block(layer, h, emb_act, c, hw, norm)
        vjps.append(vjp)
    return Out(h, c, hw, chain(vjps))


def attention_pool_token(head: nn.Sequential, x, c: int, hw: HW, norm: Norm) -> Out:
    """The classifier head GroupNorm -> SiLU -> AttentionPool2d up to the pooled token, per head [N * heads, c / heads,
    1] (reshaped to [N, c]: the penultimate features, what c_proj projects to the logits). Only token 0 (the mean
    token) is read, so only query 0 is computed; the VJP maps the token's cotangent to the input's."""
    a_in, gn_vjp = norm.silu(x, head[0], c, hw)
    pool: U.AttentionPool2d = head[2]
    t = hw[0] * hw[1]
    t1 = t + 1
    z = a_in.reshape(-1, c, t)
    tok = torch.cat([z.mean(dim=2, keepdim=True), z], dim=2) + pool.positional_embedding.reshape(1, c, t1)
    ch = c // pool.num_heads
    qkv = conv1x1_matmul(tok, pool.qkv_proj)
    q = qkv[:, :c, :1].reshape(-1, ch, 1)
    k = qkv[:, c:2 * c].reshape(-1, ch, t1)
    v = qkv[:, 2 * c:].reshape(-1, ch, t1)
    a0, attn_vjp = attention_core(q, k, v, ch)

    def vjp(g_a0):
        g_q0, g_k, g_v = attn_vjp(g_a0)
        g_q = F.pad(g_q0.reshape(-1, c, 1), (0, t))  # query gradient is zero except at token 0
        g_qkv = torch.cat([g_q, g_k.reshape(-1, c, t1), g_v.reshape(-1, c, t1)], dim=1)
        g_tok = conv1x1_matmul_input_grad(g_qkv, pool.qkv_proj)
        g_tok0 = g_tok[:, :, :1]  # token 0 is the mean of the others
        g_z = g_tok[:, :, 1:] + g_tok0 * (1.0 / t)
        return gn_vjp(g_z.reshape(-1, c, hw[0], hw[1]))

    return Out(a0, c, (), vjp)


def pool_projection(pool: "U.AttentionPool2d", a0: torch.Tensor, c: int) -> Out:
    """The attention pool's c_proj: the pooled token (attention_pool_token's output) -> logits [N, K]."""
    ch = c // pool.num_heads
    k_out = pool.c_proj.out_channels
    logits = conv1x1_matmul(a0.reshape(-1, c, 1), pool.c_proj).reshape(-1, k_out)

    def vjp(g_logits):
        return conv1x1_matmul_input_grad(g_logits.reshape(-1, k_out, 1), pool.c_proj).reshape(-1, ch, 1)

    return Out(logits, k_out, (), vjp)


def attention_pool_head(head: nn.Sequential, x, c: int, hw: HW, norm: Norm) -> Out:
    """The whole classifier head: input -> logits [N, K] (attention_pool_token, then pool_projection)."""
    a0, _, _, token_vjp = attention_pool_token(head, x, c, hw, norm)
    logits, k_out, _, proj_vjp = pool_projection(head[2], a0, c)
    return Out(logits, k_out, (), chain([token_vjp, proj_vjp]))
