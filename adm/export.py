"""ONNX export of the pack graphs (docs/pack-format.md): U-Net (fp32 and fp16) and classifier gradient.

    from adm.export import export_unet, export_classifier_grad
    export_unet(unet_model, "unet.onnx")                  # x, timesteps[, y] -> model_output
    export_unet(unet_model, "unet.fp16.onnx", fp16=True)   # same I/O, fp16 inside
    export_classifier_grad(classifier, "classifier_grad.onnx")  # x, timesteps, y -> grad, logp, logits

All graphs: opset 17, float32 at the edges, dynamic batch axis "N" on every input and output, no
Shape/int64 arithmetic, no GroupNormalization (GroupNorm is Reshape -> InstanceNormalization ->
Reshape -> Mul -> Add in the U-Net, explicit reductions in the gradient graph), and only the ops
in WEBGPU_OPS (kernels that onnxruntime-web's WebGPU and wasm EPs both have). The I/O names are
adm.pack's; the networks are traced through adm.static_unet / adm.grad_graph and the result goes
through adm.graph_passes.
"""
from __future__ import annotations

import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import onnx
import torch
import torch.nn as nn

from .grad_graph import ClassifierGrad
from .graph_fp16 import convert_to_fp16
from .graph_passes import cleanup
from .pack_format import (CLASSIFIER_FEATURES, CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS, UNET_OUTPUTS,
                          unet_inputs, upsampler_inputs)
from .static_unet import StaticUNet

OPSET = 17
PROTOBUF_LIMIT = 2**31 - 2**20  # a single .onnx file must stay under 2 GiB
BATCH_AXIS = "N"

# Ops our graphs may contain: each has a kernel in onnxruntime-web's WebGPU EP (JSEP and native) and
# in the wasm CPU EP at opset <= 17 (browser-diffusion-peers.md §8.2; Shape-free by construction).
WEBGPU_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Sqrt", "Reciprocal", "Exp", "Log", "Abs", "Relu", "Sigmoid", "Cos", "Sin",
    "Conv", "ConvTranspose", "MatMul", "Gemm", "Softmax", "InstanceNormalization",
    "ReduceMean", "ReduceMax", "ReduceSum", "ReduceSumSquare", "Reshape", "Transpose", "Slice", "Concat", "Gather",
    "Resize", "AveragePool", "Cast", "Pad", "Unsqueeze", "Squeeze", "Neg", "BatchNormalization",
})
FORBIDDEN_OPS = frozenset({"GroupNormalization", "Einsum", "Shape", "If", "Loop", "SequenceConstruct"})

PathLike = Union[str, Path]


# --- generic export --------------------------------------------------------------------------------------

def onnx_export(module: nn.Module, args: Tuple, path: Optional[PathLike], input_names: Sequence[str],
                output_names: Sequence[str], dynamic_batch: bool = True,
                static_inputs: Sequence[str] = ()) -> onnx.ModelProto:
    """Export `module(*args)` at opset 17 (fp32) with the given ordered names; batch axis 0 dynamic.
    `static_inputs` name further trailing inputs whose shapes are all fixed (adm.template_graph's weights).

    The graph is cleaned (Identity and no-op Cast removed), checked, and saved to `path` if given.
    Returns the ModelProto.
    """
    module = module.eval()
    axes = {n: {0: BATCH_AXIS} for n in list(input_names) + list(output_names)} if dynamic_batch else None
    input_names = list(input_names) + list(static_inputs)
    with tempfile.TemporaryDirectory(prefix="adm-onnx-") as tmp:
        # a file (not a buffer) so torch can fall back to external data for graphs over 2 GB
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(raw), input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=axes, opset_version=OPSET,
                              do_constant_folding=True)
        model = onnx.load(str(raw))  # also reads external data, if any
    model = cleanup(model)
    if model.ByteSize() < PROTOBUF_LIMIT:
        onnx.checker.check_model(model)
    if path is not None:
        save(model, path)
    return model


def external_data_file(path: PathLike) -> Path:
    """Where save(..., external_data=True) puts the weights: `<graph file>.data` beside the graph."""
    return Path(str(path) + ".data")


def save(model: onnx.ModelProto, path: PathLike, external_data: bool = False) -> List[Path]:
    """Save as one self-contained file, or with `external_data` as the graph plus ONE weights file
    (external_data_file(path); the graph names it by its plain file name, so a runtime finds it beside the graph).
    Returns the files written. A self-contained file fails clearly past protobuf's 2 GB. After an external-data
    save, `model`'s large tensors point at the data file (their bytes are no longer in the proto)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if external_data:
        data = external_data_file(path)
        if data.exists():
            data.unlink()  # onnx appends to an existing data file
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024, convert_attribute=False)
        return [Path(path), data] if data.exists() else [Path(path)]
    size = model.ByteSize()
    if size >= PROTOBUF_LIMIT:
        raise ValueError(f"ONNX graph is {size / 2**30:.2f} GiB: over protobuf's 2 GiB single-file limit "
                         "(save it with external data, or export it as fp16)")
    Path(path).write_bytes(model.SerializeToString())
    return [Path(path)]


def _example_inputs(image_size: int, in_channels: int, batch: int = 2, num_classes: Optional[int] = None):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, in_channels, image_size, image_size, generator=g)
    t = torch.linspace(0, 999, batch)
    y = torch.randint(0, num_classes or 1, (batch,), generator=g, dtype=torch.int64)
    return x, t, y


class UNetGraph(nn.Module):
    """x, timesteps (float32), y (int64, class-conditional only) -> model_output."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.net = StaticUNet(model)
        self.class_cond = self.net.class_cond

    def forward(self, x, timesteps, y=None):
        return self.net(x, timesteps.to(torch.float32), y)


def bilinear_matrix(out_size: int, in_size: int) -> torch.Tensor:
    """[out_size, in_size]: 1-D bilinear resampling with align_corners=False (PyTorch's F.interpolate, edges
    clamped), so that A @ v resamples v; two of them resample an image as A_h @ img @ A_w^T."""
    a = torch.zeros(out_size, in_size, dtype=torch.float64)
    ratio = in_size / out_size
    for i in range(out_size):
        src = max((i + 0.5) * ratio - 0.5, 0.0)
        i0 = min(int(src), in_size - 1)
        i1 = min(i0 + 1, in_size - 1)
        frac = src - i0
        a[i, i0] += 1.0 - frac
        a[i, i1] += frac
    return a.to(torch.float32)


class SuperResGraph(nn.Module):
    """x [N,3,H,W], timesteps, low_res [N,3,h,w], y (class-conditional only) -> model_output [N,C,H,W].

    guided-diffusion's SuperResModel: low_res is resized bilinearly (align_corners=False) to H x W and
    concatenated after x. The resize is two constant MatMuls (no Resize op, no Shape op, exact for any
    ratio); the rest is the static U-Net with its 6-channel first conv."""

    def __init__(self, model: nn.Module, low_res_size: int):
        super().__init__()
        self.net = StaticUNet(model)
        self.class_cond = self.net.class_cond
        size = model.cfg.image_size
        self.register_buffer("rows", bilinear_matrix(size, low_res_size), persistent=False)
        self.register_buffer("cols_t", bilinear_matrix(size, low_res_size).t().contiguous(), persistent=False)

    def forward(self, x, timesteps, low_res, y=None):
        up = torch.matmul(self.rows, torch.matmul(low_res, self.cols_t))
        return self.net(torch.cat([x, up], dim=1), timesteps.to(torch.float32), y)


class ClassifierGradGraph(nn.Module):
    """x, timesteps, y -> grad, logp, logits, features (features=False: without the last)."""

    def __init__(self, model: nn.Module, features: bool = True):
        super().__init__()
        self.net = ClassifierGrad(model, features)

    def forward(self, x, timesteps, y):
        return self.net(x, timesteps.to(torch.float32), y)


def graph_module(kind: str, model: nn.Module, example_batch: int = 2, low_res_size: Optional[int] = None,
                 features: bool = True) -> Tuple[nn.Module, Tuple, Tuple[str, ...], Tuple[str, ...]]:
    """What is traced for a pack graph: (module, example args, input names, output names). kind: 'unet' (a base
    U-Net), 'upsampler' (a SuperResModel; `low_res_size` its input size) or 'classifier' (the gradient graph)."""
    cfg = model.cfg
    if kind == "classifier":
        x, t, y = _example_inputs(cfg.image_size, cfg.in_channels, batch=example_batch, num_classes=cfg.out_channels)
        outputs = CLASSIFIER_GRAD_OUTPUTS + ((CLASSIFIER_FEATURES,) if features else ())
        return ClassifierGradGraph(model, features), (x, t, y), CLASSIFIER_GRAD_INPUTS, outputs
    x, t, y = _example_inputs(cfg.image_size, 3, batch=example_batch, num_classes=cfg.num_classes)
    if kind == "unet":
        if cfg.in_channels != 3:
            raise ValueError("a super-resolution model (6 input channels) is exported with export_upsampler")
        inputs = unet_inputs(model.num_classes is not None)
        return UNetGraph(model), ((x, t, y) if "y" in inputs else (x, t)), inputs, UNET_OUTPUTS
    if kind != "upsampler":
        raise ValueError(f"unknown graph kind {kind!r}")
    if cfg.in_channels != 6:
        raise ValueError(f"export_upsampler needs a super-resolution model (6 input channels), got {cfg.in_channels}")
    if low_res_size is None or not 0 < low_res_size <= cfg.image_size:
        raise ValueError(f"low-resolution size {low_res_size} must be in 1..{cfg.image_size}")
    inputs = upsampler_inputs(model.num_classes is not None)
    low = torch.randn(example_batch, 3, low_res_size, low_res_size, generator=torch.Generator().manual_seed(1))
    args = (x, t, low, y) if "y" in inputs else (x, t, low)
    return SuperResGraph(model, low_res_size), args, inputs, UNET_OUTPUTS


def _export(kind: str, model: nn.Module, path: Optional[PathLike], fp16: bool, example_batch: int,
            external_data: bool, low_res_size: Optional[int] = None) -> onnx.ModelProto:
    module, args, inputs, outputs = graph_module(kind, model, example_batch, low_res_size)
    proto = onnx_export(module, args, None, inputs, outputs)
    if fp16:
        proto = convert_to_fp16(proto)
    if path is not None:
        save(proto, path, external_data)
    return proto


def export_unet(model: nn.Module, path: Optional[PathLike], fp16: bool = False,
                example_batch: int = 2, external_data: bool = False) -> onnx.ModelProto:
    """Export the U-Net graph; `example_batch` only sizes the tracing input (the graph's batch is dynamic);
    `external_data`: weights in external_data_file(path) (see save)."""
    return _export("unet", model, path, fp16, example_batch, external_data)


def export_upsampler(model: nn.Module, path: Optional[PathLike], low_res_size: int, fp16: bool = False,
                     example_batch: int = 2, external_data: bool = False) -> onnx.ModelProto:
    """Export a SuperResModel (adm.superres): inputs x, timesteps, low_res[, y] -> model_output."""
    return _export("upsampler", model, path, fp16, example_batch, external_data, low_res_size)


def export_classifier_grad(model: nn.Module, path: Optional[PathLike], example_batch: int = 2,
                           features: bool = True) -> onnx.ModelProto:
    """The classifier-gradient graph; `features` adds the penultimate features output (packs made before it existed
    have the graph without it)."""
    module, args, inputs, outputs = graph_module("classifier", model, example_batch, features=features)
    return onnx_export(module, args, path, inputs, outputs)


def classifier_grad_exporter(outputs: Sequence[str]) -> Callable[[nn.Module, Optional[PathLike]], onnx.ModelProto]:
    """The export of a pack's gradient graph as its manifest lists its outputs (for reading its weights back with
    adm.onnx_weights: with or without the features output)."""
    return lambda model, path: export_classifier_grad(model, path, features=CLASSIFIER_FEATURES in outputs)


# --- graph inspection --------------------------------------------------------------------------------

def load(model_or_path: Union[onnx.ModelProto, PathLike]) -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    return onnx.load(str(model_or_path))


def op_counts(model_or_path) -> Counter:
    return Counter(n.op_type for n in load(model_or_path).graph.node)


def check_ops(model_or_path, allowed: Iterable[str] = WEBGPU_OPS) -> None:
    """Raise ValueError if the graph uses an op outside `allowed` or any opset other than 17."""
    m = load(model_or_path)
    ops = set(op_counts(m))
    bad = sorted(ops - set(allowed)) + sorted(ops & FORBIDDEN_OPS)
    if bad:
        raise ValueError(f"graph uses ops outside the WebGPU allow-list: {sorted(set(bad))}")
    for imp in m.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version != OPSET:
            raise ValueError(f"graph opset {imp.version}, expected {OPSET}")
        if imp.domain not in ("", "ai.onnx"):
            raise ValueError(f"graph imports non-standard domain {imp.domain!r}")


def io_signature(model_or_path) -> Dict[str, List[Tuple[str, int, List[Union[int, str]]]]]:
    """{'inputs': [(name, elem_type, dims)], 'outputs': [...]}, dims as ints or symbolic names."""
    m = load(model_or_path)

    def sig(vis):
        out = []
        for vi in vis:
            tt = vi.type.tensor_type
            dims = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
            out.append((vi.name, tt.elem_type, dims))
        return out

    return {"inputs": sig(m.graph.input), "outputs": sig(m.graph.output)}
