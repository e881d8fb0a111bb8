"""Each static-shape block of the exported graphs (adm.static_blocks) on random inputs: its output equals the eager
adm.unet module's (float32), and its vector-Jacobian closure equals torch.autograd's input gradient (float64)."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from adm import unet as U
from adm.static_blocks import (attention, attention_pool_head, avg_pool, conv, norm_inference, norm_with_vjp, resblock,
                               sequence, upsample)
from adm.static_norm import group_norm_vjp
from adm.static_ops import attention_core

N = 2
EMB = 64


def _random(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter random (the zero-initialised output convs and GroupNorm's 1/0 affine included)."""
    g = torch.Generator().manual_seed(seed)
    module = module.eval()
    with torch.no_grad():
        for _, p in sorted(module.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def _f64(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).double()


def _f32(*tensors):
    return [t.detach().float() for t in tensors]


def _same(static_out, eager_out):
    """The static block (float64) computes what the eager module (float32) does, to float32 round-off."""
    assert static_out.shape == eager_out.shape
    err = float((static_out.detach().float() - eager_out).abs().max() / eager_out.abs().max())
    assert err <= 1e-5, err


def _input(c, hw, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((N, c) + tuple(hw), generator=g, dtype=torch.float64).requires_grad_(True)


def _emb(seed):
    return torch.randn(N, EMB, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _check_vjp(x, out, vjp, seed=99):
    """The closure's input cotangent equals autograd's for a random output cotangent."""
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    (want,) = torch.autograd.grad(out, x, g, retain_graph=True)
    got = vjp(g)
    assert got.shape == x.shape
    assert float(want.abs().max()) > 1e-6
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kw", [
    dict(channels=32, out_channels=64, use_scale_shift_norm=True),  # 1x1 skip conv, AdaGN
    dict(channels=32, out_channels=32, use_scale_shift_norm=False),  # identity skip, additive embedding
    dict(channels=32, out_channels=32, use_scale_shift_norm=True, down=True),  # BigGAN down-sampling
], ids=["skipconv_scaleshift", "identity_additive", "down"])
def test_resblock(kw):
    blk = _random(U.ResBlock(emb_channels=EMB, dropout=0.0, **kw), 1)
    x, emb = _input(kw["channels"], (8, 8), 2), _emb(3)
    out = resblock(_f64(blk), x, F.silu(emb), kw["channels"], (8, 8), norm_with_vjp)
    _same(out.h, blk(*_f32(x, emb)))
    assert (out.c, out.hw) == (blk.out_channels, (4, 4) if kw.get("down") else (8, 8))
    _check_vjp(x, out.h, out.vjp)


def test_resblock_up_has_no_backward():
    blk = _random(U.ResBlock(32, EMB, 0.0, up=True), 1)
    x, emb = _input(32, (4, 4), 2), _emb(3)
    out = resblock(_f64(blk), x, F.silu(emb), 32, (4, 4), norm_with_vjp)
    _same(out.h, blk(*_f32(x, emb)))
    with pytest.raises(NotImplementedError):
        out.vjp(torch.ones_like(out.h))


@pytest.mark.parametrize("heads,head_channels,new_order", [(1, -1, False), (2, -1, True), (1, 32, False), (4, 16, True)])
def test_attention(heads, head_channels, new_order):
    blk = _random(U.AttentionBlock(64, num_heads=heads, num_head_channels=head_channels,
                                   use_new_attention_order=new_order), 4)
    x = _input(64, (4, 4), 5)
    out = attention(_f64(blk), x, 64, (4, 4), norm_with_vjp)
    _same(out.h, blk(*_f32(x)))
    _check_vjp(x, out.h, out.vjp)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv(stride):
    layer = _random(nn.Conv2d(32, 64, 3, stride=stride, padding=1), 6)
    x = _input(32, (8, 8), 7)
    out = conv(_f64(layer), x, (8, 8))
    _same(out.h, layer(*_f32(x)))
    assert (out.c, out.hw) == (64, tuple(out.h.shape[2:]))
    _check_vjp(x, out.h, out.vjp)


def test_avg_pool():
    x = _input(32, (8, 8), 8)
    out = avg_pool(x, 32, (8, 8))
    _same(out.h, U.Downsample(32, False)(*_f32(x)))
    assert (out.c, out.hw) == (32, (4, 4))
    _check_vjp(x, out.h, out.vjp)


def test_upsample_forward_only():
    layer = _random(U.Upsample(32, True, 64), 9)
    x = _input(32, (4, 4), 10)
    out = upsample(_f64(layer), x, 32, (4, 4))
    _same(out.h, layer(*_f32(x)))
    assert (out.c, out.hw) == (64, (8, 8))
    with pytest.raises(NotImplementedError):
        out.vjp(torch.ones_like(out.h))


def test_attention_pool_head():
    c, size, k = 64, 4, 7
    head = _random(nn.Sequential(U.GroupNorm32(c), nn.SiLU(), U.AttentionPool2d(size, c, 32, k)), 11)
    x = _input(c, (size, size), 12)
    out = attention_pool_head(_f64(head), x, c, (size, size), norm_with_vjp)
    _same(out.h, head(*_f32(x)))
    assert out.c == k and out.hw == ()
    _check_vjp(x, out.h, out.vjp)


def test_sequence_chains_the_closures():
    seq = _random(U.TimestepEmbedSequential(U.ResBlock(32, EMB, 0.0, 64), U.AttentionBlock(64, num_head_channels=32),
                                            U.Downsample(64, True)), 13)
    x, emb = _input(32, (8, 8), 14), _emb(15)
    out = sequence(_f64(seq), x, F.silu(emb), 32, (8, 8), norm_with_vjp)
    _same(out.h, seq(*_f32(x, emb)))
    assert (out.c, out.hw) == (64, (4, 4))
    _check_vjp(x, out.h, out.vjp)


def test_inference_norm_same_forward_no_backward():
    blk = _random(U.ResBlock(32, EMB, 0.0, 64), 16)
    x, emb = _input(32, (8, 8), 17), _emb(18)
    out = resblock(blk, *_f32(x, F.silu(emb)), 32, (8, 8), norm_inference)
    _same(out.h, blk(*_f32(x, emb)))
    with pytest.raises(RuntimeError, match="norm_inference"):
        out.vjp(torch.ones_like(out.h))


def test_primitive_vjps():
    norm = _random(U.GroupNorm32(64), 19)
    x = _input(64, (4, 4), 20)
    y, vjp = group_norm_vjp(x, _f64(norm), 64, (4, 4))
    _same(y, norm(*_f32(x)))
    _check_vjp(x, y, vjp)
    g = torch.Generator().manual_seed(21)
    q, k, v = (torch.randn(3, 16, t, generator=g, dtype=torch.float64).requires_grad_(True) for t in (5, 9, 9))
    a, attn_vjp = attention_core(q, k, v, 16)
    ga = torch.randn(a.shape, generator=g, dtype=torch.float64)
    want = torch.autograd.grad(a, (q, k, v), ga)
    for got, w in zip(attn_vjp(ga), want):
        torch.testing.assert_close(got, w, rtol=1e-9, atol=1e-10)
