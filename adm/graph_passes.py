"""ONNX graph passes applied to the exported pack graphs (adm.export).

    cleanup(model)           Constant nodes -> initializers, small constant subgraphs folded, Identity / no-op
                             Cast / all-zero Pad removed, stride-1 ConvTranspose as Conv, unused initializers dropped
    convert_to_fp16(model)   fp32 graph -> fp16 weights and compute with fp32 islands, float32 at the edges

Both work on an onnx.ModelProto in place of torch's own passes, so the result holds only ops that
onnxruntime-web's WebGPU and wasm EPs both run (adm.export.WEBGPU_OPS).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


# --- cleanup -----------------------------------------------------------------------------------------

def cleanup(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constants -> initializers; remove Identity, Casts to the type a tensor already has and all-zero
    Pads; stride-1 ConvTranspose as Conv (_conv_transpose_as_conv); drop unused initializers."""
    g = model.graph
    _constants_to_initializers(g)
    _fold_constants(g)
    init_values = {t.name: t for t in g.initializer}

    def zero_pad(node) -> bool:
        if node.op_type != "Pad" or _attr(node, "mode", b"constant") not in (b"constant", "constant"):
            return False
        pads = init_values.get(node.input[1]) if len(node.input) > 1 else None
        return pads is not None and not numpy_helper.to_array(pads).any()

    graph_outputs = {o.name for o in g.output}
    types = _elem_types(model)
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
            node.op_type == "Cast" and types.get(node.input[0]) == _attr(node, "to"))
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
                                                numpy_helper.to_array(_attr(n, "value")).reshape(-1)[0]
                                                if _attr(n, "value") is not None else np.float32(0)),
        "Concat": lambda n, a: np.concatenate(a, axis=_attr(n, "axis")),
        "Reshape": lambda n, a: a[0].reshape(tuple(int(d) if d != 0 else a[0].shape[i] for i, d in enumerate(a[1]))),
        "Transpose": lambda n, a: np.transpose(a[0], _attr(n, "perm")),
        "Slice": lambda n, a: slice_(*a),
        "Unsqueeze": lambda n, a: np.expand_dims(a[0], tuple(int(v) for v in a[1])),
        "Squeeze": lambda n, a: np.squeeze(a[0], tuple(int(v) for v in a[1])) if len(a) > 1 else np.squeeze(a[0]),
        "Cast": lambda n, a: a[0].astype(onnx.helper.tensor_dtype_to_np_dtype(_attr(n, "to"))),
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


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _elem_types(model: onnx.ModelProto) -> Dict[str, int]:
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
            v = _attr(n, "value")
            if v is not None:
                types[n.output[0]] = v.data_type
    return types


# --- fp16 -----------------------------------------------------------------------------------------------

FP32_OPS = frozenset({"Softmax", "InstanceNormalization", "ReduceMean", "ReduceSum", "ReduceMax"})


def convert_to_fp16(model: onnx.ModelProto, keep_fp32_from: Sequence[str] = (),
                    store_fp16_min: int = 4096) -> onnx.ModelProto:
    """fp32 graph -> fp16 weights and compute, float32 inputs/outputs, with fp32 islands.

    Kept in float32:
      * everything that does not depend on the image input `x` (timestep sinusoid, time MLP, class
        embedding: cheap, and t·freq in fp16 would lose whole radians at t≈1000);
      * each GroupNorm (the Reshape -> InstanceNormalization -> Reshape -> Mul -> Add pattern): its
        statistics and affine run in fp32 and the result is cast back, as guided-diffusion's
        GroupNorm32 does;
      * Softmax (attention weights) and any reduction.
    Casts are inserted where precisions meet. Weights of fp16 nodes are stored as fp16; weights of
    fp32 nodes with at least `store_fp16_min` elements (the embedding MLPs) are stored as fp16 too and
    widened by a Cast (ONNX Runtime folds it at session creation), so the file is about half the size;
    small fp32 tensors (frequencies, GroupNorm affine, biases) stay fp32.
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    _constants_to_initializers(g)
    inits = {t.name: t for t in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    consumers: Dict[str, List[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    # nodes downstream of the image input
    image_inputs = {g.input[0].name} | set(keep_fp32_from)
    feature = set()
    reach = set(image_inputs)
    for n in g.node:  # graph is topologically sorted
        if any(i in reach for i in n.input):
            feature.add(id(n))
            reach.update(n.output)

    fp32_nodes = set()
    for n in g.node:
        if id(n) not in feature or n.op_type in FP32_OPS:
            fp32_nodes.add(id(n))
        if n.op_type == "InstanceNormalization":
            # the surrounding GroupNorm pattern
            p = producers.get(n.input[0])
            if p is not None and p.op_type == "Reshape":
                fp32_nodes.add(id(p))
            cur = n
            for want in ("Reshape", "Mul", "Add"):
                nxt = consumers.get(cur.output[0], [])
                if len(nxt) != 1 or nxt[0].op_type != want:
                    break
                cur = nxt[0]
                fp32_nodes.add(id(cur))

    types = _elem_types(model)
    FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
    # inputs of some ops must stay float32 whatever the data precision
    fixed_fp32_inputs = {"Resize": (1, 2)}
    dtype: Dict[str, int] = {vi.name: vi.type.tensor_type.elem_type for vi in g.input}
    cast_cache: Dict[Tuple[str, int], str] = {}
    half_inits: Dict[str, str] = {}
    new_nodes: List[onnx.NodeProto] = []
    new_inits: List[onnx.TensorProto] = []

    def half_init(name: str) -> str:
        if name not in half_inits:
            arr = numpy_helper.to_array(inits[name]).astype(np.float16)
            hn = name + "__fp16"
            new_inits.append(numpy_helper.from_array(arr, hn))
            half_inits[name] = hn
        return half_inits[name]

    def as_dtype(name: str, want: int) -> str:
        if name in inits:
            if inits[name].data_type != FLOAT:
                return name
            if want == HALF:
                return half_init(name)
            n_el = int(np.prod(inits[name].dims)) if len(inits[name].dims) else 1
            if n_el >= store_fp16_min:
                # large fp32-compute weight (embedding MLPs): stored as fp16, widened at load time
                key = (name, FLOAT)
                if key not in cast_cache:
                    out = name + "__widened"
                    new_nodes.append(helper.make_node("Cast", [half_init(name)], [out], to=FLOAT, name=out + "_cast"))
                    cast_cache[key] = out
                return cast_cache[key]
            return name
        have = dtype.get(name, types.get(name))
        if have not in (FLOAT, HALF) or have == want:
            return name
        key = (name, want)
        if key not in cast_cache:
            out = f"{name}__to{'16' if want == HALF else '32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=want, name=out + "_cast"))
            dtype[out] = want
            cast_cache[key] = out
        return cast_cache[key]

    for n in g.node:
        want = FLOAT if id(n) in fp32_nodes else HALF
        fixed = fixed_fp32_inputs.get(n.op_type, ())
        for i, name in enumerate(n.input):
            if not name:
                continue
            n.input[i] = as_dtype(name, FLOAT if i in fixed else want)
        if n.op_type == "Cast" and _attr(n, "to") in (FLOAT, HALF):
            for a in n.attribute:
                if a.name == "to":
                    a.i = want
        new_nodes.append(n)
        for o in n.output:
            t = types.get(o)
            dtype[o] = want if t in (FLOAT, HALF) else t

    # graph outputs back to float32
    for out in g.output:
        if dtype.get(out.name) == HALF:
            inner = out.name + "__fp16out"
            for n in new_nodes:
                for i, name in enumerate(n.output):
                    if name == out.name:
                        n.output[i] = inner
                for i, name in enumerate(n.input):
                    if name == out.name:
                        n.input[i] = inner
            new_nodes.append(helper.make_node("Cast", [inner], [out.name], to=FLOAT, name=out.name + "_cast"))

    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(new_inits)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.value_info[:]
    onnx.checker.check_model(m)
    return m


def _constants_to_initializers(g: onnx.GraphProto) -> None:
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
