"""Export-friendly forward passes of the ADM networks and the classifier's explicit input-gradient.

ONNX Runtime has no autodiff, so classifier guidance needs ∇ₓ log p(y|xₜ) as an ordinary graph. This
module writes the classifier's backward pass by hand in forward ops (conv_transpose2d for a conv's
input gradient, analytic GroupNorm / SiLU / softmax / attention backward), reading the parameters of
an `adm.unet.EncoderUNetModel` (nothing is copied; the modules here hold references).

The forward passes are also re-expressed here (for the U-Net too) because the eager modules, when
traced, leak dynamic shape arithmetic into the graph (Shape -> Gather -> Mul on int64 tensors for every
reshape and chunk). Here every spatial size and channel count is a Python int fixed at export time;
only the batch axis is dynamic and always written as -1, so the exported graphs have no Shape ops
and no int64 arithmetic. All of it is checked against the eager modules (outputs) and torch.autograd
(gradients) in tests/python/test_export.py.

Ops used: Conv, ConvTranspose, MatMul, Gemm, Softmax, InstanceNormalization (U-Net GroupNorm),
ReduceMean / ReduceMax / ReduceSum, Sigmoid, Mul, Add, Sub, Div, Sqrt, Reciprocal, Exp, Log, Abs,
Relu, Cos, Sin, Reshape, Transpose, Slice, Concat, Gather (label embedding), Resize (nearest x2),
AveragePool (2x2), Cast (int64 label -> float32).
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import unet as U

GROUPS = 32


# --- small forward ops with static shapes ------------------------------------------------------------

def timestep_freqs(dim: int, max_period: int = 10000) -> torch.Tensor:
    """The embedding frequencies, computed exactly as adm.unet.timestep_embedding does."""
    half = dim // 2
    return torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)


def time_embedding(t: torch.Tensor, freqs: torch.Tensor, dim: int) -> torch.Tensor:
    args = t.reshape(-1, 1) * freqs.reshape(1, -1)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, args[:, :1] * 0.0], dim=1)
    return emb


def silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def silu_backward(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return g * (s * (1.0 + x * (1.0 - s)))


def group_norm_inorm(x: torch.Tensor, norm: nn.GroupNorm, c: int, spatial: Tuple[int, ...]) -> torch.Tensor:
    """GroupNorm(32) as Reshape -> InstanceNormalization -> Reshape -> Mul -> Add (inference graphs)."""
    n_el = (c // GROUPS) * math.prod(spatial)
    xr = x.reshape(-1, GROUPS, n_el)
    ones = torch.ones(GROUPS, dtype=x.dtype, device=x.device)
    y = F.instance_norm(xr, weight=ones, bias=ones * 0.0, eps=norm.eps)
    shape = (-1, c) + tuple(spatial)
    bshape = (1, c) + (1,) * len(spatial)
    return y.reshape(shape) * norm.weight.reshape(bshape) + norm.bias.reshape(bshape)


class GNCtx:
    __slots__ = ("xhat", "rstd", "norm", "c", "spatial")

    def __init__(self, xhat, rstd, norm, c, spatial):
        self.xhat, self.rstd, self.norm, self.c, self.spatial = xhat, rstd, norm, c, spatial


def group_norm_explicit(x: torch.Tensor, norm: nn.GroupNorm, c: int, spatial: Tuple[int, ...]):
    """GroupNorm(32) with its statistics kept for the backward pass (biased variance, eps inside)."""
    n_el = (c // GROUPS) * math.prod(spatial)
    xr = x.reshape(-1, GROUPS, n_el)
    mu = xr.mean(dim=2, keepdim=True)
    d = xr - mu
    var = (d * d).mean(dim=2, keepdim=True)
    rstd = torch.reciprocal(torch.sqrt(var + norm.eps))
    xhat = d * rstd
    shape = (-1, c) + tuple(spatial)
    bshape = (1, c) + (1,) * len(spatial)
    y = xhat.reshape(shape) * norm.weight.reshape(bshape) + norm.bias.reshape(bshape)
    return y, GNCtx(xhat, rstd, norm, c, spatial)


def group_norm_backward(g: torch.Tensor, ctx: GNCtx) -> torch.Tensor:
    c, spatial = ctx.c, ctx.spatial
    n_el = (c // GROUPS) * math.prod(spatial)
    bshape = (1, c) + (1,) * len(spatial)
    gx = (g * ctx.norm.weight.reshape(bshape)).reshape(-1, GROUPS, n_el)
    m1 = gx.mean(dim=2, keepdim=True)
    m2 = (gx * ctx.xhat).mean(dim=2, keepdim=True)
    out = ctx.rstd * (gx - m1 - ctx.xhat * m2)
    return out.reshape((-1, c) + tuple(spatial))


def conv2d(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)


def conv_out_hw(conv: nn.Conv2d, in_hw: Tuple[int, int]) -> Tuple[int, int]:
    return tuple((in_hw[i] + 2 * conv.padding[i] - conv.kernel_size[i]) // conv.stride[i] + 1 for i in range(2))


def conv2d_input_grad(g: torch.Tensor, conv: nn.Conv2d, in_hw: Tuple[int, int]) -> torch.Tensor:
    """∂L/∂input of a conv (dilation 1, groups 1) as a transposed convolution; in_hw = the conv's input size."""
    out_hw = conv_out_hw(conv, in_hw)
    op = tuple(in_hw[i] - ((out_hw[i] - 1) * conv.stride[i] - 2 * conv.padding[i] + conv.kernel_size[i])
               for i in range(2))
    return F.conv_transpose2d(g, conv.weight, None, conv.stride, conv.padding, op)


def conv1x1_matmul(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """A kernel-1 Conv1d on [N, C, T] as MatMul (+ bias): W[out, in] @ x."""
    w = conv.weight.reshape(conv.weight.shape[0], conv.weight.shape[1])
    return torch.matmul(w, x) + conv.bias.reshape(-1, 1)


def conv1x1_matmul_input_grad(g: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Wᵀ @ g, written as (gᵀ @ W)ᵀ so the exported graph reuses W instead of storing a transposed copy."""
    w = conv.weight.reshape(conv.weight.shape[0], conv.weight.shape[1])
    return torch.matmul(g.transpose(1, 2), w).transpose(1, 2)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def avgpool2(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=2, stride=2)


def avgpool2_backward(g: torch.Tensor) -> torch.Tensor:
    return upsample2(g) * 0.25


# --- attention ----------------------------------------------------------------------------------------

def _split_qkv(qkv: torch.Tensor, heads: int, c: int, t: int, legacy: bool):
    ch = c // heads
    if legacy:  # (head, {q,k,v}, ch)
        r = qkv.reshape(-1, 3 * ch, t)
        return r[:, :ch], r[:, ch:2 * ch], r[:, 2 * ch:]
    # ({q,k,v}, head, ch)
    return (qkv[:, :c].reshape(-1, ch, t), qkv[:, c:2 * c].reshape(-1, ch, t), qkv[:, 2 * c:].reshape(-1, ch, t))


def _merge_qkv_grads(gq, gk, gv, heads: int, c: int, t: int, legacy: bool) -> torch.Tensor:
    if legacy:
        return torch.cat([gq, gk, gv], dim=1).reshape(-1, 3 * c, t)
    return torch.cat([gq.reshape(-1, c, t), gk.reshape(-1, c, t), gv.reshape(-1, c, t)], dim=1)


class AttnCtx:
    __slots__ = ("q", "k", "v", "w", "scale")

    def __init__(self, q, k, v, w, scale):
        self.q, self.k, self.v, self.w, self.scale = q, k, v, w, scale


def attention_core(q, k, v, ch: int):
    """q [B, ch, Tq], k, v [B, ch, Tk] -> a [B, ch, Tq]; softmax over keys; q, k each scaled by ch^-1/4."""
    scale = 1.0 / math.sqrt(math.sqrt(ch))
    qs, ks = q * scale, k * scale
    w = torch.softmax(torch.matmul(qs.transpose(1, 2), ks), dim=-1)  # [B, Tq, Tk]
    a = torch.matmul(v, w.transpose(1, 2))  # [B, ch, Tq]
    return a, AttnCtx(qs, ks, v, w, scale)


def attention_core_backward(ga, ctx: AttnCtx):
    gv = torch.matmul(ga, ctx.w)  # [B, ch, Tk]
    gw = torch.matmul(ga.transpose(1, 2), ctx.v)  # [B, Tq, Tk]
    gl = ctx.w * (gw - (gw * ctx.w).sum(dim=-1, keepdim=True))
    gq = torch.matmul(ctx.k, gl.transpose(1, 2)) * ctx.scale  # [B, ch, Tq]
    gk = torch.matmul(ctx.q, gl) * ctx.scale  # [B, ch, Tk]
    return gq, gk, gv


# --- block walkers ------------------------------------------------------------------------------------

class _Walker:
    """Shared static-shape forward (and, for the classifier, backward) of ADM blocks."""

    def __init__(self, explicit_norm: bool):
        self.explicit = explicit_norm  # True: keep statistics for the backward pass

    def gn(self, x, norm, c, spatial):
        """-> (normalised x, statistics for the backward pass or None)."""
        if self.explicit:
            return group_norm_explicit(x, norm, c, spatial)
        return group_norm_inorm(x, norm, c, spatial), None

    # ResBlock --------------------------------------------------------------------------------------
    def resblock(self, blk: "U.ResBlock", x, emb_act, c_in: int, hw: Tuple[int, int], tape: Optional[list]):
        c_out = blk.out_channels
        h_in, gn_in = self.gn(x, blk.in_layers[0], c_in, hw)
        a = silu(h_in)
        new_hw = hw
        mode = None
        if blk.updown:
            mode = "up" if isinstance(blk.h_upd, U.Upsample) else "down"
            if mode == "up":
                a, x = upsample2(a), upsample2(x)
                new_hw = (hw[0] * 2, hw[1] * 2)
            else:
                a, x = avgpool2(a), avgpool2(x)
                new_hw = (hw[0] // 2, hw[1] // 2)
        h = conv2d(a, blk.in_layers[2])
        lin = blk.emb_layers[1]
        e = F.linear(emb_act, lin.weight, lin.bias).reshape(-1, lin.out_features, 1, 1)
        if blk.use_scale_shift_norm:
            scale, shift = e[:, :c_out], e[:, c_out:]
            hn, gn_out = self.gn(h, blk.out_layers[0], c_out, new_hw)
            h2 = hn * (1.0 + scale) + shift
        else:
            scale = None
            h2, gn_out = self.gn(h + e, blk.out_layers[0], c_out, new_hw)
        out_h = conv2d(silu(h2), blk.out_layers[3])
        skip = x if isinstance(blk.skip_connection, nn.Identity) else conv2d(x, blk.skip_connection)
        if tape is not None:
            tape.append(dict(kind="res", blk=blk, h_in=h_in, gn_in=gn_in, h2=h2, gn_out=gn_out, scale=scale,
                             mode=mode, hw=hw, new_hw=new_hw))
        return skip + out_h, c_out, new_hw

    def resblock_backward(self, g, rec):
        blk = rec["blk"]
        hw, new_hw = rec["hw"], rec["new_hw"]
        g_h2 = silu_backward(conv2d_input_grad(g, blk.out_layers[3], new_hw), rec["h2"])
        if rec["scale"] is not None:
            g_h2 = g_h2 * (1.0 + rec["scale"])
        g_h = group_norm_backward(g_h2, rec["gn_out"])
        g_a = conv2d_input_grad(g_h, blk.in_layers[2], new_hw)
        g_skip = g if isinstance(blk.skip_connection, nn.Identity) else conv2d_input_grad(g, blk.skip_connection, new_hw)
        if rec["mode"] == "down":
            g_a, g_skip = avgpool2_backward(g_a), avgpool2_backward(g_skip)
        elif rec["mode"] == "up":
            raise NotImplementedError("backward through an up-sampling ResBlock (not in classifiers)")
        g_x = group_norm_backward(silu_backward(g_a, rec["h_in"]), rec["gn_in"])
        return g_x + g_skip

    # AttentionBlock --------------------------------------------------------------------------------
    def attention(self, blk: "U.AttentionBlock", x, c: int, hw: Tuple[int, int], tape: Optional[list]):
        t = hw[0] * hw[1]
        xr = x.reshape(-1, c, t)
        hn, gn_ctx = self.gn(xr, blk.norm, c, (t,))
        qkv = conv1x1_matmul(hn, blk.qkv)
        heads = blk.num_heads
        q, k, v = _split_qkv(qkv, heads, c, t, blk.legacy)
        a, actx = attention_core(q, k, v, c // heads)
        out = xr + conv1x1_matmul(a.reshape(-1, c, t), blk.proj_out)
        if tape is not None:
            tape.append(dict(kind="attn", blk=blk, gn=gn_ctx, attn=actx, c=c, hw=hw))
        return out.reshape(-1, c, hw[0], hw[1])

    def attention_backward(self, g, rec):
        blk, c, hw = rec["blk"], rec["c"], rec["hw"]
        t = hw[0] * hw[1]
        heads = blk.num_heads
        ch = c // heads
        gr = g.reshape(-1, c, t)
        ga = conv1x1_matmul_input_grad(gr, blk.proj_out).reshape(-1, ch, t)
        gq, gk, gv = attention_core_backward(ga, rec["attn"])
        gqkv = _merge_qkv_grads(gq, gk, gv, heads, c, t, blk.legacy)
        ghn = conv1x1_matmul_input_grad(gqkv, blk.qkv)
        gx = gr + group_norm_backward(ghn, rec["gn"])
        return gx.reshape(-1, c, hw[0], hw[1])

    # sequences ---------------------------------------------------------------------------------------
    def conv(self, conv: nn.Conv2d, h, hw, tape: Optional[list]):
        """A plain conv layer: records it for the backward pass when taping; returns (h, c, hw)."""
        if tape is not None:
            tape.append(dict(kind="conv", conv=conv, hw=hw))
        return conv2d(h, conv), conv.out_channels, conv_out_hw(conv, hw)

    def block(self, seq, h, emb_act, c: int, hw, tape: Optional[list]):
        for layer in seq:
            if isinstance(layer, U.ResBlock):
                h, c, hw = self.resblock(layer, h, emb_act, c, hw, tape)
            elif isinstance(layer, U.AttentionBlock):
                h = self.attention(layer, h, c, hw, tape)
            elif isinstance(layer, nn.Conv2d):
                h, c, hw = self.conv(layer, h, hw, tape)
            elif isinstance(layer, U.Downsample):
                if isinstance(layer.op, nn.Conv2d):
                    h, c, hw = self.conv(layer.op, h, hw, tape)
                else:
                    if tape is not None:
                        tape.append(dict(kind="pool"))
                    h = avgpool2(h)
                    hw = (hw[0] // 2, hw[1] // 2)
            elif isinstance(layer, U.Upsample):
                if tape is not None:
                    raise NotImplementedError("backward through Upsample (not in classifiers)")
                h = upsample2(h)
                hw = (hw[0] * 2, hw[1] * 2)
                if layer.use_conv:
                    h = conv2d(h, layer.conv)
                    c = layer.conv.out_channels
            else:
                raise TypeError(f"unsupported layer {type(layer).__name__} in export walker")
        return h, c, hw

    def backward(self, g, tape: list):
        for rec in reversed(tape):
            kind = rec["kind"]
            if kind == "res":
                g = self.resblock_backward(g, rec)
            elif kind == "attn":
                g = self.attention_backward(g, rec)
            elif kind == "conv":
                g = conv2d_input_grad(g, rec["conv"], rec["hw"])
            elif kind == "pool":
                g = avgpool2_backward(g)
            else:
                raise AssertionError(kind)
        return g


# --- the U-Net ------------------------------------------------------------------------------------------

class StaticUNet(nn.Module):
    """Same function as `adm.unet.UNetModel.forward`, written with static shapes for export.

    forward(x [N,C,H,W], timesteps float [N], y int64 [N] if class-conditional) -> [N, out, H, W].
    """

    def __init__(self, model: "U.UNetModel"):
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.class_cond = model.num_classes is not None
        self.register_buffer("freqs", timestep_freqs(self.cfg.model_channels), persistent=False)
        self._w = _Walker(explicit_norm=False)

    def forward(self, x, timesteps, y=None):
        m, cfg = self.model, self.cfg
        emb = time_embedding(timesteps, self.freqs, cfg.model_channels)
        emb = F.linear(silu(F.linear(emb, m.time_embed[0].weight, m.time_embed[0].bias)),
                       m.time_embed[2].weight, m.time_embed[2].bias)
        if self.class_cond:
            emb = emb + F.embedding(y, m.label_emb.weight)
        emb_act = silu(emb)
        hw = (cfg.image_size, cfg.image_size)
        c = cfg.in_channels
        h = x
        skips: List[Tuple[torch.Tensor, int]] = []
        for blk in m.input_blocks:
            h, c, hw = self._w.block(blk, h, emb_act, c, hw, None)
            skips.append((h, c))
        h, c, hw = self._w.block(m.middle_block, h, emb_act, c, hw, None)
        for blk in m.output_blocks:
            s, sc = skips.pop()
            h = torch.cat([h, s], dim=1)
            h, c, hw = self._w.block(blk, h, emb_act, c + sc, hw, None)
        h = silu(group_norm_inorm(h, m.out[0], c, hw))
        return conv2d(h, m.out[2])


# --- the classifier and its input gradient ----------------------------------------------------------------

class ClassifierGrad(nn.Module):
    """forward(x, timesteps, y) -> (grad, logp, logits) for an `adm.unet.EncoderUNetModel`.

    grad = ∇ₓ Σᵢ log softmax(f(xᵢ, tᵢ))[yᵢ] (not scaled), logp[i] = log p(yᵢ | xᵢ), logits [N, K].
    A label outside 0..K-1 selects nothing: logp = 0 and grad = 0 for that sample.
    """

    def __init__(self, model: "U.EncoderUNetModel"):
        super().__init__()
        if model.cfg.pool != "attention":
            raise NotImplementedError(f"classifier pool {model.cfg.pool!r}")
        self.model = model
        self.cfg = model.cfg
        k = model.cfg.out_channels
        self.register_buffer("freqs", timestep_freqs(self.cfg.model_channels), persistent=False)
        self.register_buffer("label_range", torch.arange(k, dtype=torch.float32).reshape(1, k), persistent=False)
        self._w = _Walker(explicit_norm=True)

    def trunk(self, x, timesteps, tape: list):
        m, cfg = self.model, self.cfg
        emb = time_embedding(timesteps, self.freqs, cfg.model_channels)
        emb = F.linear(silu(F.linear(emb, m.time_embed[0].weight, m.time_embed[0].bias)),
                       m.time_embed[2].weight, m.time_embed[2].bias)
        emb_act = silu(emb)
        hw = (cfg.image_size, cfg.image_size)
        c = cfg.in_channels
        h = x
        for blk in m.input_blocks:
            h, c, hw = self._w.block(blk, h, emb_act, c, hw, tape)
        h, c, hw = self._w.block(m.middle_block, h, emb_act, c, hw, tape)
        return h, c, hw

    def forward(self, x, timesteps, y):
        m = self.model
        tape: list = []
        h, c, hw = self.trunk(x, timesteps, tape)
        # head: GroupNorm -> SiLU -> AttentionPool2d (only token 0 is read, so only query 0 is computed)
        hn, gn_ctx = group_norm_explicit(h, m.out[0], c, hw)
        a_in = silu(hn)
        pool: U.AttentionPool2d = m.out[2]
        t = hw[0] * hw[1]
        t1 = t + 1
        z = a_in.reshape(-1, c, t)
        tok = torch.cat([z.mean(dim=2, keepdim=True), z], dim=2) + pool.positional_embedding.reshape(1, c, t1)
        heads = pool.num_heads
        ch = c // heads
        qkv = conv1x1_matmul(tok, pool.qkv_proj)
        q = qkv[:, :c, :1].reshape(-1, ch, 1)
        k = qkv[:, c:2 * c].reshape(-1, ch, t1)
        v = qkv[:, 2 * c:].reshape(-1, ch, t1)
        a0, actx = attention_core(q, k, v, ch)
        logits = conv1x1_matmul(a0.reshape(-1, c, 1), pool.c_proj).reshape(-1, pool.c_proj.out_channels)

        # log p(y|x) and its gradient w.r.t. the logits
        mx = logits.max(dim=1, keepdim=True)[0]
        shifted = logits - mx
        lse = torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
        logp_all = shifted - lse
        onehot = torch.relu(1.0 - torch.abs(self.label_range - y.to(torch.float32).reshape(-1, 1)))
        logp = (logp_all * onehot).sum(dim=1)
        g_logits = onehot - torch.softmax(logits, dim=1) * onehot.sum(dim=1, keepdim=True)

        # back through the attention pool
        k_out = pool.c_proj.out_channels
        g_a0 = conv1x1_matmul_input_grad(g_logits.reshape(-1, k_out, 1), pool.c_proj).reshape(-1, ch, 1)
        g_q0, g_k, g_v = attention_core_backward(g_a0, actx)
        g_q = F.pad(g_q0.reshape(-1, c, 1), (0, t))  # query gradient is zero except at token 0
        g_qkv = torch.cat([g_q, g_k.reshape(-1, c, t1), g_v.reshape(-1, c, t1)], dim=1)
        g_tok = conv1x1_matmul_input_grad(g_qkv, pool.qkv_proj)
        g_tok0 = g_tok[:, :, :1]
        g_z = g_tok[:, :, 1:] + g_tok0 * (1.0 / t)
        g_h = group_norm_backward(silu_backward(g_z.reshape(-1, c, hw[0], hw[1]), hn), gn_ctx)
        grad = self._w.backward(g_h, tape)
        return grad, logp, logits
