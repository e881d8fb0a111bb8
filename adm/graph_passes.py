"""ONNX graph passes applied to the exported pack graphs (adm.export).

    cleanup(model)           Constant nodes -> initializers, small constant subgraphs folded, Identity / no-op
                             Cast / all-zero Pad removed, stride-1 ConvTranspose as Conv, unused initializers dropped
    convert_to_fp16(model)   fp32 graph -> fp16 weights and compute with fp32 islands, float32 at the edges
                             (adm.graph_fp16, built on the helpers here)

Both work on an onnx.ModelProto in place of torch's own passes, so the result holds only ops that
onnxruntime-web's WebGPU and wasm EPs both run (adm.export.WEBGPU_OPS).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper


# --- cleanup -----------------------------------------------------------------------------------------

def cleanup(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constants -> initializers; remove Identity, Casts to the type a tensor already has and all-zero
    Pads; stride-1 ConvTranspose as Conv (_conv_transpose_as_conv); drop unused initializers."""
    g = model.graph
    constants_to_initializers(g)
    _fold_constants(g)
    init_values = {t.name: t for t in g.initializer}

    def zero_pad(node) -> bool:
        if node.op_type != "Pad" or node_attr(node, "mode", b"constant") not in (b"constant", "constant"):
            return False
        pads = init_values.get(node.input[1]) if len(node.input) > 1 else None
        return pads is not None and not numpy_helper.to_array(pads).any()

    graph_outputs = {o.name for o in g.output}
    types = elem_types(model)
    rename: Dict[str, str] = {}

    def src(name: str) -> str:
        while name in rename:
            name = rename[name]
        return name

    keep = []
    for node in g.node:
        for i, name in enumerate(node.input):
            if name:
                node.input[i] = src(name)
        removable = node.op_type == "Identity" or zero_pad(node) or (
            node.op_type == "Cast" and types.get(node.input[0]) == node_attr(node, "to"))
        if removable and node.output[0] not in graph_outputs:
            rename[node.output[0]] = node.input[0]
            continue
        keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    # after folding (the weight's flip stays a node, never a second copy) and after the Identity nodes that
    # torch puts between a shared weight and its second user are gone (the weight is then an initializer input)
    _conv_transpose_as_conv(g)
    used = {i for n in g.node for i in n.input} | graph_outputs
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.value_info[:]
    return model


def _fold_constants(g: onnx.GraphProto) -> None:
    """Evaluate small all-constant subgraphs torch's folding leaves behind (e.g. Pad's pads list)."""
    protos = {t.name: t for t in g.initializer}
    values: Dict[str, np.ndarray] = {}
    small = 1 << 16  # only shape-sized tensors are worth folding (and weights must not be copied)

    def value(name: str) -> Optional[np.ndarray]:
        if name in values:
            return values[name]
        t = protos.get(name)
        if t is None or int(np.prod(t.dims)) > small:
            return None
        values[name] = numpy_helper.to_array(t)
        return values[name]

    def slice_(x, starts, ends, axes=None, steps=None):
        axes = range(len(starts)) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        idx = [slice(None)] * x.ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            idx[int(ax)] = slice(int(st), int(en), int(sp))
        return x[tuple(idx)]

    folders = {
        "ConstantOfShape": lambda n, a: np.full(tuple(int(d) for d in a[0]),
                                                numpy_helper.to_array(node_attr(n, "value")).reshape(-1)[0]
                                                if node_attr(n, "value") is not None else np.float32(0)),
        "Concat": lambda n, a: np.concatenate(a, axis=node_attr(n, "axis")),
        "Reshape": lambda n, a: a[0].reshape(tuple(int(d) if d != 0 else a[0].shape[i] for i, d in enumerate(a[1]))),
        "Transpose": lambda n, a: np.transpose(a[0], node_attr(n, "perm")),
        "Slice": lambda n, a: slice_(*a),
        "Unsqueeze": lambda n, a: np.expand_dims(a[0], tuple(int(v) for v in a[1])),
        "Squeeze": lambda n, a: np.squeeze(a[0], tuple(int(v) for v in a[1])) if len(a) > 1 else np.squeeze(a[0]),
        "Cast": lambda n, a: a[0].astype(onnx.helper.tensor_dtype_to_np_dtype(node_attr(n, "to"))),
    }
    keep = []
    for n in g.node:
        fn = folders.get(n.op_type)
        args = [value(i) for i in n.input if i] if fn is not None and len(n.output) == 1 else [None]
        if all(a is not None for a in args):
            try:
                out = np.asarray(fn(n, args))
            except Exception:  # leave anything unexpected to the runtime
                keep.append(n)
                continue
            values[n.output[0]] = out
            g.initializer.append(numpy_helper.from_array(out, n.output[0]))
            continue
        keep.append(n)
    del g.node[:]
    g.node.extend(keep)


def _conv_transpose_as_conv(g: onnx.GraphProto) -> None:
    """A stride-1 ConvTranspose (a conv's input gradient in the classifier-gradient graph) becomes the Conv it
    equals: the same weight with its two channel axes swapped and its kernel flipped, `pads` k-1-p.

    onnxruntime's CPU EP runs Conv with its blocked NCHWc kernels but ConvTranspose as a plain GEMM + col2im,
    several times slower at the same FLOPs. The weight stays the one initializer it is (no flipped copy in the
    file): Transpose and a reversing Slice read it, and onnxruntime folds them once when the session starts."""
    inits = {t.name: t for t in g.initializer}
    out = []
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type == "ConvTranspose" and len(n.input) > 1 else None
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        k = list(w.dims[2:]) if w is not None else []
        plain = (w is not None and len(w.dims) == 4 and attrs.get("group", 1) == 1
                 and set(attrs) <= {"dilations", "group", "kernel_shape", "pads", "strides"}
                 and all(v == 1 for v in attrs.get("strides", [1, 1]) + attrs.get("dilations", [1, 1])))
        pads = attrs.get("pads", [0, 0, 0, 0]) if plain else []
        if not plain or any(p > kk - 1 for p, kk in zip(pads, k + k)):
            out.append(n)
            continue
        # one flip per node, even for a weight torch shares between convs (equal values): the graph's structure
        # must not depend on the weights' values (adm.onnx_weights matches graphs node by node)
        flipped = _flip_weight(g, out, n.name, w.name, k)
        out.append(helper.make_node("Conv", [n.input[0], flipped] + list(n.input[2:]), list(n.output),
                                    name=n.name + "_as_conv", kernel_shape=k,
                                    pads=[kk - 1 - p for p, kk in zip(pads, k + k)]))
    del g.node[:]
    g.node.extend(out)


def _flip_weight(g: onnx.GraphProto, out: List[onnx.NodeProto], prefix: str, name: str, k: List[int]) -> str:
    """Nodes computing W[:, :, ::-1, ::-1] with W's first two axes swapped; returns the result's name."""
    swapped = prefix + "_weight_swapped"
    out.append(helper.make_node("Transpose", [name], [swapped], name=swapped, perm=[1, 0, 2, 3]))
    if k == [1, 1]:
        return swapped
    consts = {"starts": [-1, -1], "ends": [-(2**63), -(2**63)], "axes": [2, 3], "steps": [-1, -1]}
    for key, v in consts.items():
        if not any(t.name == "flip__" + key for t in g.initializer):
            g.initializer.append(numpy_helper.from_array(np.array(v, dtype=np.int64), "flip__" + key))
    res = prefix + "_weight_flipped"
    out.append(helper.make_node("Slice", [swapped] + ["flip__" + key for key in consts], [res], name=res))
    return res


def node_attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def elem_types(model: onnx.ModelProto) -> Dict[str, int]:
    """Element type of every tensor, by shape inference on a weightless copy (works past 2 GB)."""
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    lg = light.graph
    lg.node.extend(model.graph.node)
    lg.input.extend(model.graph.input)
    lg.output.extend(model.graph.output)
    for t in model.graph.initializer:
        lg.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    inferred = onnx.shape_inference.infer_shapes(light)
    g = inferred.graph
    types = {}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        types[vi.name] = vi.type.tensor_type.elem_type
    for t in g.initializer:
        types[t.name] = t.data_type
    for n in g.node:
        if n.op_type == "Constant":
            v = node_attr(n, "value")
            if v is not None:
                types[n.output[0]] = v.data_type
    return types


def constants_to_initializers(g: onnx.GraphProto) -> None:
    keep = []
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            g.initializer.append(t)
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
