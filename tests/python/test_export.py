"""ONNX export parity: our graphs under onnxruntime-node vs the PyTorch modules (and torch.autograd).

Small random-weight configurations cover: legacy and new attention order, num_heads vs
num_head_channels, class-conditional and unconditional, learned and fixed sigma, resblock_updown on
and off (stand-alone Down/Upsample), scale-shift norm on and off. Every graph is run at N=1 and N=3 on
the same file (dynamic batch axis).
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from conftest import run_ort

from adm.config import ClassifierConfig, UNetConfig
from adm.export import (
    WEBGPU_OPS,
    check_ops,
    export_classifier_grad,
    export_unet,
    io_signature,
    op_counts,
)
from adm.presets import randomize_zero_init
from adm.unet import EncoderUNetModel, UNetModel

UNET_CASES = {
    # class-conditional, legacy order, heads from num_head_channels, learned sigma, BigGAN up/down
    "cond_legacy_headch_updown": dict(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                                      attention_resolutions=(2,), num_classes=11, num_head_channels=32,
                                      out_channels=6, use_new_attention_order=False, resblock_updown=True),
    # unconditional, new order, num_heads, fixed sigma, conv Down/Upsample, 3 levels, no scale-shift
    "uncond_new_heads_convresample": dict(image_size=32, model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1,
                                          attention_resolutions=(2, 4), num_classes=None, num_heads=2,
                                          num_head_channels=-1, out_channels=3, use_new_attention_order=True,
                                          resblock_updown=False, use_scale_shift_norm=False),
}

CLASSIFIER_CASES = {
    "updown_scaleshift": dict(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                              attention_resolutions=(2,), out_channels=10, num_head_channels=32),
    "convdown_noscaleshift": dict(image_size=32, model_channels=32, channel_mult=(1, 1, 2), num_res_blocks=1,
                                  attention_resolutions=(2, 4), out_channels=7, num_head_channels=32,
                                  resblock_updown=False, use_scale_shift_norm=False),
}


def _inputs(cfg, n, seed, num_labels):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, cfg.image_size, cfg.image_size, generator=g)
    t = torch.tensor([999.0, 0.0, 417.0][:n]) if n <= 3 else torch.rand(n, generator=g) * 999
    y = torch.randint(0, num_labels, (n,), generator=g)
    return x, t, y


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def _assert_graph_contract(path, inputs, outputs):
    check_ops(path)
    counts = op_counts(path)
    assert "GroupNormalization" not in counts
    assert not set(counts) - WEBGPU_OPS
    sig = io_signature(path)
    assert [i[0] for i in sig["inputs"]] == inputs
    assert [o[0] for o in sig["outputs"]] == outputs
    for name, elem, dims in sig["inputs"] + sig["outputs"]:
        assert dims[0] == "N", (name, dims)
        want = onnx.TensorProto.INT64 if name == "y" else onnx.TensorProto.FLOAT
        assert elem == want, (name, elem)
    assert onnx.load(str(path)).opset_import[0].version == 17


@pytest.fixture(scope="module")
def unet_models():
    out = {}
    for i, (name, kw) in enumerate(UNET_CASES.items()):
        torch.manual_seed(100 + i)
        out[name] = randomize_zero_init(UNetModel(UNetConfig(**kw)), seed=i).eval()
    return out


@pytest.mark.parametrize("case", list(UNET_CASES))
def test_unet_parity(case, unet_models, tmp_path, need_ort):
    model = unet_models[case]
    cfg = model.cfg
    path = tmp_path / "unet.onnx"
    # traced at batch 1 for one case (as convert does for big models), at batch 2 for the other
    export_unet(model, path, example_batch=1 if case.startswith("uncond") else 2)
    cond = cfg.num_classes is not None
    _assert_graph_contract(path, ["x", "timesteps", "y"] if cond else ["x", "timesteps"], ["model_output"])
    feeds, refs = [], []
    for n, seed in ((1, 1), (3, 2)):
        x, t, y = _inputs(cfg, n, seed, cfg.num_classes or 1)
        with torch.no_grad():
            refs.append(model(x, t, y if cond else None).numpy())
        f = {"x": x.numpy(), "timesteps": t.numpy()}
        if cond:
            f["y"] = y.numpy()
        feeds.append(f)
    outs = run_ort(path, feeds, tmp_path)
    for ref, out in zip(refs, outs):
        got = out["model_output"]
        assert got.shape == ref.shape
        assert np.abs(ref).max() > 1e-3  # non-trivial output
        assert _rel(got, ref) <= 1e-4


def test_unet_fp16_variant(unet_models, tmp_path, need_ort):
    model = unet_models["cond_legacy_headch_updown"]
    cfg = model.cfg
    p32, p16 = tmp_path / "unet.onnx", tmp_path / "unet.fp16.onnx"
    export_unet(model, p32)
    export_unet(model, p16, fp16=True)
    _assert_graph_contract(p16, ["x", "timesteps", "y"], ["model_output"])
    m16 = onnx.load(str(p16))
    # weights stored as fp16 (except the fp32 islands), I/O still float32
    n_half = sum(1 for t in m16.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16)
    assert n_half >= 20
    conv_w = [t for t in m16.graph.initializer if t.name.endswith("in_layers.2.weight__fp16")]
    assert conv_w, "conv weights should be fp16"
    # statistics and softmax computed in fp32: inputs of InstanceNormalization / Softmax are float32
    inferred = onnx.shape_inference.infer_shapes(m16)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.value_info}
    for node in inferred.graph.node:
        if node.op_type in ("InstanceNormalization", "Softmax"):
            assert types.get(node.input[0]) == onnx.TensorProto.FLOAT, node.name
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    x, t, y = _inputs(cfg, 3, 5, cfg.num_classes)
    feeds = [{"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()}]
    o32 = run_ort(p32, feeds, tmp_path)[0]["model_output"]
    o16 = run_ort(p16, feeds, tmp_path)[0]["model_output"]
    assert np.isfinite(o16).all()
    assert _rel(o16, o32) <= 5e-3


@pytest.mark.parametrize("case", list(CLASSIFIER_CASES))
def test_classifier_grad_parity(case, tmp_path, need_ort):
    kw = CLASSIFIER_CASES[case]
    torch.manual_seed(7)
    model = randomize_zero_init(EncoderUNetModel(ClassifierConfig(**kw)), seed=3).eval()
    cfg = model.cfg
    path = tmp_path / "classifier_grad.onnx"
    export_classifier_grad(model, path)
    _assert_graph_contract(path, ["x", "timesteps", "y"], ["grad", "logp", "logits", "features"])
    # the penultimate features: what the attention pool's c_proj reads (token 0 of the attention output)
    seen = []
    hook = model.out[2].c_proj.register_forward_hook(lambda mod, inp, out: seen.append(inp[0][:, :, 0]))
    feeds, refs = [], []
    for n, seed in ((1, 11), (3, 12)):
        x, t, y = _inputs(cfg, n, seed, cfg.out_channels)
        xg = x.clone().requires_grad_(True)
        logits = model(xg, t)
        logp = torch.log_softmax(logits, dim=-1)[torch.arange(n), y]
        (grad,) = torch.autograd.grad(logp.sum(), xg)
        refs.append((grad.numpy(), logp.detach().numpy(), logits.detach().numpy(), seen[-1].detach().numpy()))
        feeds.append({"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()})
    hook.remove()
    outs = run_ort(path, feeds, tmp_path)
    for (grad, logp, logits, features), out in zip(refs, outs):
        assert out["grad"].shape == grad.shape and out["logp"].shape == logp.shape
        assert np.abs(grad).max() > 1e-6
        # float32 round-off against float32 autograd (measured: grad 2.8e-6, logp 2.4e-7, logits 4.4e-7)
        assert _rel(out["grad"], grad) <= 2e-5
        assert np.abs(out["logp"] - logp).max() <= 1e-5
        assert _rel(out["logits"], logits) <= 1e-5
        assert out["features"].shape == features.shape == (len(logp), cfg.model_channels * cfg.channel_mult[-1])
        assert _rel(out["features"], features) <= 1e-5


def test_classifier_grad_label_out_of_range_is_zero():
    """A label outside the classifier's range (e.g. a U-Net's null label) selects nothing."""
    from adm.grad_graph import ClassifierGrad

    torch.manual_seed(0)
    model = randomize_zero_init(EncoderUNetModel(ClassifierConfig(**CLASSIFIER_CASES["updown_scaleshift"]))).eval()
    x = torch.randn(2, 3, 16, 16)
    grad, logp, _, _ = ClassifierGrad(model)(x, torch.tensor([10.0, 500.0]), torch.tensor([3, 10]))
    assert float(grad[1].abs().max()) == 0.0 and float(logp[1]) == 0.0
    assert float(grad[0].abs().max()) > 0.0


def test_classifier_grad_is_lean():
    """The gradient graph's GroupNorms, SiLUs and their backward run as few full-size kernels (adm.static_norm:
    about 13 per GroupNorm, against 21 for the explicit formulas), a stride-1 conv's input gradient is a Conv, and
    every weight is stored once (the Conv's flipped weight is computed by nodes from the same initializer)."""
    import torch.nn as nn
    from onnx import numpy_helper, shape_inference

    torch.manual_seed(7)
    model = randomize_zero_init(EncoderUNetModel(ClassifierConfig(**CLASSIFIER_CASES["updown_scaleshift"])), seed=3)
    proto = export_classifier_grad(model.eval(), None, example_batch=1)
    assert "ConvTranspose" not in op_counts(proto)
    stored = sum(numpy_helper.to_array(t).size for t in proto.graph.initializer)
    assert stored < 1.02 * sum(p.numel() for p in model.parameters())
    for vi in list(proto.graph.input) + list(proto.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = 1
    inferred = shape_inference.infer_shapes(proto)
    numel = {vi.name: int(np.prod([d.dim_value for d in vi.type.tensor_type.shape.dim])) for vi in inferred.graph.value_info}
    layout = {"Conv", "MatMul", "Gemm", "Reshape", "Transpose", "Slice", "Concat"}
    full = [n.op_type for n in proto.graph.node if n.op_type not in layout and numel.get(n.output[0], 0) >= 512]
    norms = sum(isinstance(m, nn.GroupNorm) for m in model.modules())
    assert len(full) <= 14 * norms, Counter(full)
