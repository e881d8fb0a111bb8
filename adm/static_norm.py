"""GroupNorm(32) with its backward pass in few, large ONNX kernels (the classifier-gradient graph).

    y, vjp = group_norm_vjp(x, norm, c, spatial)                        # y = GroupNorm(x)
    a, vjp = group_norm_silu_vjp(x, norm, c, spatial, scale, shift)     # a = SiLU(GroupNorm(x) * (1 + scale) + shift)

ONNX Runtime runs each element-wise node as its own kernel, one pass over the tensor, and on wasm those passes
cost about as much as the convolutions between them. So the statistics are two reductions (ReduceMean and one
MatMul for the sum of squares), and every per-channel affine map a*x + b with a, b depending on the sample (the
normalisation, GroupNorm's scale and shift, the AdaGN scale-shift, the backward's correction) is ONE
BatchNormalization node in inference mode: the [N, C, ...] tensor is viewed as [1, N*C, ...] and the per-row
scale, shift, mean and variance are computed tensors of N*C values. Per GroupNorm + SiLU, forward and backward
together, that is 13 full-size kernels where the explicit formulas took about 30.

The backward reuses the forward statistics. With g'' = rstd * gamma_eff * g (the output cotangent scaled per
channel), the input cotangent is g'' - mean(g'') - xhat * mean(g'' * xhat), means over each group; mean(g'' * xhat)
is rstd * (mean(g'' * x) - mean(x) * mean(g'')), one MatMul, and the rest is a BatchNormalization of x plus g''.
SiLU's derivative s * (1 + y * (1 - s)), s = sigmoid(y), is folded with rstd * gamma_eff into one factor D in
the forward pass, so the backward starts with a single multiplication.

Variance is E[x^2] - E[x]^2 (one pass; clamped at 0): in float32 its relative error is about 1e-7 * (1 + (mean /
std)^2), and the GroupNorm inputs of the shipped classifiers have |mean| / std below 2.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .static_ops import GROUPS, VJP


class GroupStats(NamedTuple):
    """GroupNorm statistics of x [N, C, *spatial], each group's value repeated for its channels: rows [N*C]."""

    mean: torch.Tensor
    var: torch.Tensor
    rstd: torch.Tensor  # 1 / sqrt(var + eps)
    c: int
    spatial: Tuple[int, ...]
    eps: float

    @property
    def n(self) -> int:
        """Elements per group."""
        return (self.c // GROUPS) * math.prod(self.spatial)


class _SumOfSquares(torch.autograd.Function):
    """Row sums of squares [R, n] -> [R, 1] as ONE ReduceSumSquare node (torch would export Mul + ReduceSum)."""

    @staticmethod
    def forward(ctx, x):
        return (x * x).sum(dim=1, keepdim=True)

    @staticmethod
    def symbolic(g, x):
        return g.op("ReduceSumSquare", x, axes_i=[1], keepdims_i=1)


def _group_mean(v: torch.Tensor, n: int) -> torch.Tensor:
    return v.reshape(-1, n).mean(dim=1, keepdim=True)


def _rows(v: torch.Tensor, c: int) -> torch.Tensor:
    """A per-group value [N*G, 1] for every channel of its group: rows [N*C]."""
    k = c // GROUPS
    return (v * torch.ones(1, k, dtype=v.dtype, device=v.device) if k > 1 else v).reshape(-1)


def group_stats(x: torch.Tensor, c: int, spatial: Tuple[int, ...], eps: float) -> GroupStats:
    n = (c // GROUPS) * math.prod(spatial)
    xg = x.reshape(-1, n)
    mean = xg.mean(dim=1, keepdim=True)
    sq = _SumOfSquares.apply(xg) if torch.onnx.is_in_onnx_export() else (xg * xg).sum(dim=1, keepdim=True)
    var = _rows(torch.relu(sq * (1.0 / n) - mean * mean), c)
    return GroupStats(_rows(mean, c), var, torch.reciprocal(torch.sqrt(var + eps)), c, tuple(spatial), eps)


def _affine_rows(x: torch.Tensor, st: GroupStats, scale: torch.Tensor, shift: torch.Tensor, mean: torch.Tensor,
                 var: torch.Tensor, eps: float) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) * scale + shift per (sample, channel) row of x [N, C, *spatial], the four
    rows [N*C]: one BatchNormalization over x viewed as [1, N*C, *spatial]."""
    if not torch.onnx.is_in_onnx_export():  # the same map, differentiable for the autograd checks
        view = (-1, st.c) + (1,) * len(st.spatial)
        return ((x - mean.reshape(view)) * torch.rsqrt(var.reshape(view) + eps) * scale.reshape(view)
                + shift.reshape(view))
    out = F.batch_norm(x.reshape((1, -1) + st.spatial), mean, var, scale, shift, False, 0.0, eps)
    return out.reshape((-1, st.c) + st.spatial)


def _normalize(x: torch.Tensor, st: GroupStats, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """GroupNorm's normalisation followed by the per-row affine map scale, shift (rows [N*C])."""
    return _affine_rows(x, st, scale, shift, st.mean, st.var, st.eps)


def group_norm_backward(g2: torch.Tensor, x: torch.Tensor, st: GroupStats) -> torch.Tensor:
    """Input cotangent of GroupNorm's normalisation at x, given g2 = rstd * gamma_eff * (output cotangent)."""
    m1 = _rows(_group_mean(g2, st.n), st.c)
    m2 = st.rstd * (_rows(_group_mean(g2 * x, st.n), st.c) - st.mean * m1)  # mean(g2 * xhat)
    return g2 - _normalize(x, st, m2, m1)  # g2 - m1 - xhat * m2


def _param_rows(p: torch.Tensor, st: GroupStats) -> torch.Tensor:
    """A parameter [C] for every sample: rows [N*C] (N taken from the statistics)."""
    return (st.mean.reshape(-1, st.c) * 0.0 + p.reshape(1, -1)).reshape(-1)


def group_norm_vjp(x: torch.Tensor, norm: nn.GroupNorm, c: int, spatial: Tuple[int, ...]) -> Tuple[torch.Tensor, VJP]:
    """GroupNorm(32) -> (y, vjp)."""
    st = group_stats(x, c, spatial, norm.eps)
    gamma = _param_rows(norm.weight, st)
    y = _normalize(x, st, gamma, _param_rows(norm.bias, st))
    k = (st.rstd * gamma).reshape((-1, c) + (1,) * len(spatial))

    def vjp(g: torch.Tensor) -> torch.Tensor:
        return group_norm_backward(g * k, x, st)

    return y, vjp


def group_norm_silu_vjp(x: torch.Tensor, norm: nn.GroupNorm, c: int, spatial: Tuple[int, ...],
                        scale: Optional[torch.Tensor] = None, shift: Optional[torch.Tensor] = None,
                        grad_scale: float = 1.0) -> Tuple[torch.Tensor, VJP]:
    """SiLU(GroupNorm(x) * (1 + scale) + shift) -> (a, vjp); scale and shift [N, C, 1, ...] (AdaGN) or None.
    `grad_scale` multiplies the cotangent the vjp is given (folded into D: a 2x2 average pool's 1/4)."""
    st = group_stats(x, c, spatial, norm.eps)
    if scale is None:
        gamma, beta = _param_rows(norm.weight, st), _param_rows(norm.bias, st)
    else:
        s1 = 1.0 + scale.reshape(-1, c)
        gamma = (norm.weight * s1).reshape(-1)
        beta = (norm.bias * s1 + shift.reshape(-1, c)).reshape(-1)
    y = _normalize(x, st, gamma, beta)
    s = torch.sigmoid(y)
    a = y * s
    # D = s * (1 + y - a) * k, with (1 + t) * k as one BatchNormalization of t (mean 0, var 0, eps 1)
    k = st.rstd * gamma * grad_scale if grad_scale != 1.0 else st.rstd * gamma
    zeros = k * 0.0
    d = s * _affine_rows(y - a, st, k, k, zeros, zeros, 1.0)

    def vjp(g: torch.Tensor) -> torch.Tensor:
        return group_norm_backward(g * d, x, st)

    return a, vjp
