"""The classifier's input gradient as an ordinary graph: ONNX Runtime has no autodiff, so classifier guidance
needs ∇ₓ log p(y|xₜ) written out in forward ops.

    ClassifierGrad(classifier)(x, timesteps, y) -> (grad, logp, logits, features)

The classifier (`adm.unet.EncoderUNetModel`) is run block by block (adm.static_blocks, GroupNorm with explicit
statistics); each block returns its output and a closure mapping the output's cotangent to its input's. The
attention-pool head is two more blocks: the pooled token (the penultimate features, an output of its own for
precision/recall in feature space) and its projection to the logits. The gradient of log softmax at the label is then pulled back through
the head's closure and the trunk's closures in reverse order. Checked against torch.autograd per block
(tests/python/test_static_blocks.py) and end to end under onnxruntime-node (tests/python/test_export.py).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import unet as U
from .static_blocks import attention_pool_token, chain, norm_with_vjp, pool_projection, sequence, time_mlp
from .static_ops import silu, timestep_freqs


class ClassifierGrad(nn.Module):
    """grad = ∇ₓ Σᵢ log softmax(f(xᵢ, tᵢ))[yᵢ] (not scaled), logp[i] = log p(yᵢ | xᵢ), logits [N, K], features
    [N, C] (the attention pool's token before its projection to the logits; `features` False: not returned, the
    graph of packs made before that output existed).
    A label outside 0..K-1 selects nothing: logp = 0 and grad = 0 for that sample."""

    def __init__(self, model: "U.EncoderUNetModel", features: bool = True):
        super().__init__()
        self.features = features
        if model.cfg.pool != "attention":
            raise NotImplementedError(f"classifier pool {model.cfg.pool!r}")
        self.model = model
        self.cfg = model.cfg
        k = model.cfg.out_channels
        self.register_buffer("freqs", timestep_freqs(self.cfg.model_channels), persistent=False)
        self.register_buffer("label_range", torch.arange(k, dtype=torch.float32).reshape(1, k), persistent=False)

    def forward(self, x, timesteps, y):
        m, cfg = self.model, self.cfg
        emb_act = silu(time_mlp(m, timesteps, self.freqs))
        h, c, hw = x, cfg.in_channels, (cfg.image_size, cfg.image_size)
        vjps = []
        for blk in [*m.input_blocks, m.middle_block]:
            h, c, hw, vjp = sequence(blk, h, emb_act, c, hw, norm_with_vjp)
            vjps.append(vjp)
        token, _, _, token_vjp = attention_pool_token(m.out, h, c, hw, norm_with_vjp)
        logits, _, _, proj_vjp = pool_projection(m.out[2], token, c)
        vjps += [token_vjp, proj_vjp]

        # log p(y|x) and its gradient w.r.t. the logits
        mx = logits.max(dim=1, keepdim=True)[0]
        shifted = logits - mx
        lse = torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
        logp_all = shifted - lse
        onehot = torch.relu(1.0 - torch.abs(self.label_range - y.to(torch.float32).reshape(-1, 1)))
        logp = (logp_all * onehot).sum(dim=1)
        g_logits = onehot - torch.softmax(logits, dim=1) * onehot.sum(dim=1, keepdim=True)
        outs = (chain(vjps)(g_logits), logp, logits)
        # last, so that without it the graph is node for node the one exported before this output existed
        return outs + (token.reshape(-1, c),) if self.features else outs
