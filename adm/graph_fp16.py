"""convert_to_fp16 (adm.graph_passes lists the passes): an fp32 pack graph to fp16 weights and compute, with fp32
islands where fp16 loses too much, float32 inputs and outputs."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph_passes import constants_to_initializers, elem_types, node_attr


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
    constants_to_initializers(g)
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

    types = elem_types(model)
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
        if n.op_type == "Cast" and node_attr(n, "to") in (FLOAT, HALF):
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
