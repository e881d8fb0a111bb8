"""Static-shape tensor ops for the exported graphs, and the hand-written input gradients of those that need one.

The eager ADM modules, when traced, leak dynamic shape arithmetic into the graph (Shape -> Gather -> Mul on
int64 tensors for every reshape and chunk). The ops here take every spatial size and channel count as a
Python int fixed at export time; only the batch axis is dynamic and always written as -1, so a traced graph
has no Shape ops and no int64 arithmetic. They read the parameters of the `adm.unet` modules they are given
(nothing is copied).

Backward passes are ordinary forward ops (ONNX Runtime has no autodiff): a conv's input gradient is a
transposed convolution (adm.graph_passes turns it into a Conv), the softmax-attention gradient is written out
analytically (GroupNorm's and SiLU's: adm.static_norm). An op whose backward needs saved statistics returns
`(output, vjp)`, where `vjp` maps the output's cotangent to the input's (`attention_core`'s to the q, k and v
cotangents).

Ops used: Conv, ConvTranspose, MatMul, Gemm, Softmax, InstanceNormalization (inference GroupNorm), BatchNormalization
(adm.static_norm),
ReduceMean / ReduceMax / ReduceSum, Sigmoid, Mul, Add, Sub, Div, Sqrt, Reciprocal, Exp, Log, Abs, Relu, Cos,
Sin, Reshape, Transpose, Slice, Concat, Gather (label embedding), Resize (nearest x2), AveragePool (2x2),
Cast (int64 label -> float32).
"""
from __future__ import annotations

import math
from typing import Callable, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

GROUPS = 32
VJP = Callable[[torch.Tensor], torch.Tensor]


# --- time embedding ----------------------------------------------------------------------------------

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


# --- activations and normalisation ---------------------------------------------------------------------

def silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def _affine_shape(c: int, spatial: Tuple[int, ...]) -> Tuple[int, ...]:
    return (1, c) + (1,) * len(spatial)


def group_norm_inorm(x: torch.Tensor, norm: nn.GroupNorm, c: int, spatial: Tuple[int, ...]) -> torch.Tensor:
    """GroupNorm(32) as Reshape -> InstanceNormalization -> Reshape -> Mul -> Add (inference graphs)."""
    n_el = (c // GROUPS) * math.prod(spatial)
    xr = x.reshape(-1, GROUPS, n_el)
    ones = torch.ones(GROUPS, dtype=x.dtype, device=x.device)
    y = F.instance_norm(xr, weight=ones, bias=ones * 0.0, eps=norm.eps)
    bshape = _affine_shape(c, spatial)
    return y.reshape((-1, c) + tuple(spatial)) * norm.weight.reshape(bshape) + norm.bias.reshape(bshape)


# --- convolutions and resampling ------------------------------------------------------------------------

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
    return upsample2(g * 0.25)  # scaled at the pooled size: a quarter of the elements


# --- attention ----------------------------------------------------------------------------------------

def split_qkv(qkv: torch.Tensor, heads: int, c: int, t: int, legacy: bool):
    """[N, 3c, T] -> q, k, v [N*heads, c/heads, T]; legacy layout (head, {q,k,v}, ch), else ({q,k,v}, head, ch)."""
    ch = c // heads
    if legacy:
        r = qkv.reshape(-1, 3 * ch, t)
        return r[:, :ch], r[:, ch:2 * ch], r[:, 2 * ch:]
    return (qkv[:, :c].reshape(-1, ch, t), qkv[:, c:2 * c].reshape(-1, ch, t), qkv[:, 2 * c:].reshape(-1, ch, t))


def merge_qkv_grads(gq, gk, gv, heads: int, c: int, t: int, legacy: bool) -> torch.Tensor:
    """The inverse layout of split_qkv, for the cotangents."""
    if legacy:
        return torch.cat([gq, gk, gv], dim=1).reshape(-1, 3 * c, t)
    return torch.cat([gq.reshape(-1, c, t), gk.reshape(-1, c, t), gv.reshape(-1, c, t)], dim=1)


def attention_core(q, k, v, ch: int):
    """q [B, ch, Tq], k, v [B, ch, Tk] -> (a [B, ch, Tq], vjp: ga -> (gq, gk, gv)); softmax over keys, q and k
    each scaled by ch^-1/4."""
    scale = 1.0 / math.sqrt(math.sqrt(ch))
    qs, ks = q * scale, k * scale
    w = torch.softmax(torch.matmul(qs.transpose(1, 2), ks), dim=-1)  # [B, Tq, Tk]
    a = torch.matmul(v, w.transpose(1, 2))  # [B, ch, Tq]

    def vjp(ga: torch.Tensor):
        gv = torch.matmul(ga, w)  # [B, ch, Tk]
        gw = torch.matmul(ga.transpose(1, 2), v)  # [B, Tq, Tk]
        gl = w * (gw - (gw * w).sum(dim=-1, keepdim=True))
        gq = torch.matmul(ks, gl.transpose(1, 2)) * scale  # [B, ch, Tq]
        gk = torch.matmul(qs, gl) * scale  # [B, ch, Tk]
        return gq, gk, gv

    return a, vjp
