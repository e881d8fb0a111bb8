"""Weight-free pack graphs: the pack's graphs traced with every checkpoint tensor as a graph input named by its key.

    proto = trace_weight_free("unet", model)             # fp32; the weights are trailing graph inputs
    half, stored = fp16_variant(proto, keys)             # adm.graph_fp16's fp16 graph; {key: stored type}

adm.template_layout then turns the weight inputs into initializers held as ONNX external data.

The exporter never sees a weight value: the model's parameters are swapped for graph inputs while it is traced,
so torch's constant folding cannot fold a weight (a GroupNorm scale into an anonymous Mul constant, a transposed
copy) and its de-duplication cannot merge two equal ones. Whatever a weight goes through on its way to an op
(Reshape, Transpose, a Cast) stays a node in the graph; ONNX Runtime folds those at session creation. The graph
therefore depends on the architecture alone (tests/python/test_templates.py exports two random initialisations
and compares bytes). Non-weight constants (timestep frequencies, resize matrices) stay inline.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import helper

from .export import graph_module, onnx_export
from .graph_fp16 import convert_to_fp16
from .template_layout import FLOAT, HALF

# Where a weight's layout is changed on its way to the op that reads it; such nodes change no value, so the weight
# can be stored in the precision of its readers and pass through them.
LAYOUT_OPS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze"})
# Weights read in fp32 from this many elements up are stored as fp16 and widened by a Cast, as
# adm.graph_fp16.convert_to_fp16 stores the embedding MLPs (its store_fp16_min).
STORE_FP16_MIN = 4096


@contextlib.contextmanager
def _parameters_replaced(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Within the block `model`'s parameter KEY reads tensors[KEY] (a plain attribute over the parameter)."""
    saved = []
    try:
        for key, value in tensors.items():
            path, _, name = key.rpartition(".")
            module = model.get_submodule(path)
            saved.append((module, name, module._parameters.pop(name)))
            object.__setattr__(module, name, value)
        yield
    finally:
        for module, name, param in reversed(saved):
            object.__delattr__(module, name)
            module._parameters[name] = param


class _WeightsAsInputs(nn.Module):
    """graph(*activations, *weights): `graph` run with `model`'s parameters taken from the trailing arguments."""

    def __init__(self, graph: nn.Module, model: nn.Module, keys: Sequence[str], n_activations: int):
        super().__init__()
        self.graph = graph
        self.model = model
        self.keys = list(keys)
        self.n = n_activations

    def forward(self, *args):
        with _parameters_replaced(self.model, dict(zip(self.keys, args[self.n:]))):
            return self.graph(*args[:self.n])


def weight_keys(model: nn.Module) -> List[str]:
    """The checkpoint keys, in state-dict order (= the released files' order). ADM networks have no buffers."""
    keys = list(model.state_dict())
    params = [k for k, _ in model.named_parameters()]
    if keys != params:
        raise ValueError(f"{type(model).__name__} has state-dict entries that are not parameters: "
                         f"{sorted(set(keys) - set(params))[:3]}")
    return keys


def _trace_value(p: torch.Tensor) -> torch.Tensor:
    """What a parameter feeds the trace: its own values, or for a meta-device parameter (shapes only) zeros that
    take no memory (one element, broadcast; the ops copy what they need)."""
    if p.device.type == "meta":
        return torch.zeros((), dtype=p.dtype).expand(p.shape)
    return p.detach()


def trace_weight_free(kind: str, model: nn.Module, low_res_size: Optional[int] = None,
                      example_batch: int = 1) -> onnx.ModelProto:
    """The fp32 pack graph of `kind` ('unet' | 'upsampler' | 'classifier'; adm.export.graph_module) with each
    checkpoint key as a graph input after the pack's own inputs. The parameters' values only feed the trace; a
    model built on the meta device (adm.presets.build_model(..., init="meta")) is traced with zeros."""
    module, args, inputs, outputs = graph_module(kind, model, example_batch, low_res_size)
    keys = weight_keys(model)
    params = dict(model.named_parameters())
    wrapped = _WeightsAsInputs(module, model, keys, len(args))
    return onnx_export(wrapped, tuple(args) + tuple(_trace_value(params[k]) for k in keys), None, inputs, outputs,
                       static_inputs=keys)


# --- fp16 ------------------------------------------------------------------------------------------------

def _consumers(g: onnx.GraphProto) -> Dict[str, List[Tuple[onnx.NodeProto, int]]]:
    out: Dict[str, List[Tuple[onnx.NodeProto, int]]] = {}
    for n in g.node:
        for slot, name in enumerate(n.input):
            if name:
                out.setdefault(name, []).append((n, slot))
    return out


def _cast_to(node: onnx.NodeProto) -> Optional[int]:
    if node.op_type != "Cast":
        return None
    return next(a.i for a in node.attribute if a.name == "to")


def _toposort(g: onnx.GraphProto) -> None:
    """Reorder g.node so every node follows the producers of its inputs (stable otherwise)."""
    produced = {o: i for i, n in enumerate(g.node) for o in n.output}
    nodes = list(g.node)
    done = [False] * len(nodes)
    order: List[onnx.NodeProto] = []

    def visit(i: int) -> None:
        stack = [(i, False)]
        while stack:
            j, expanded = stack.pop()
            if done[j]:
                continue
            if expanded:
                done[j] = True
                order.append(nodes[j])
                continue
            stack.append((j, True))
            for name in reversed(nodes[j].input):
                p = produced.get(name)
                if p is not None and not done[p]:
                    stack.append((p, False))

    for i in range(len(nodes)):
        visit(i)
    del g.node[:]
    g.node.extend(order)


def _store_weights_fp16(model: onnx.ModelProto, keys: Sequence[str]) -> Dict[str, int]:
    """After convert_to_fp16 (weights still fp32 graph inputs, Cast to fp16 where fp16 ops read them): choose
    each weight's stored type and rewire. fp16 when every reader wants fp16 (the Casts go), or when it is large
    (readers that want fp32 get a Cast up); fp32 otherwise. Returns {key: TensorProto type}."""
    g = model.graph
    constants = {t.name for t in g.initializer}
    consumers = _consumers(g)
    rename: Dict[str, str] = {}
    dropped = set()
    new_nodes: List[onnx.NodeProto] = []
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in g.input}
    stored: Dict[str, int] = {}
    for key in keys:
        # the weight, and the layout nodes that only move it (their other inputs are constant shapes / perms)
        tree, leaves, frontier = [key], [], [key]
        while frontier:
            name = frontier.pop()
            for node, slot in consumers.get(name, []):
                if (node.op_type in LAYOUT_OPS and slot == 0 and len(node.output) == 1
                        and all(i in constants for i in node.input[1:] if i)):
                    tree.append(node.output[0])
                    frontier.append(node.output[0])
                else:
                    leaves.append((name, node, slot))
        half_reads = [leaf for leaf in leaves if _cast_to(leaf[1]) == HALF]
        fp32_reads = [leaf for leaf in leaves if _cast_to(leaf[1]) != HALF]
        large = int(np.prod(shapes[key])) >= STORE_FP16_MIN
        if not ((half_reads and not fp32_reads) or (large and leaves)):
            stored[key] = FLOAT
            continue
        stored[key] = HALF
        for name, cast, _ in half_reads:
            dropped.add(id(cast))
            rename[cast.output[0]] = name
        widened: Dict[str, str] = {}
        for name, node, slot in fp32_reads:
            if name not in widened:
                widened[name] = name + "__f32"
                new_nodes.append(helper.make_node("Cast", [name], [widened[name]], to=FLOAT))
            node.input[slot] = widened[name]
    nodes = [n for n in g.node if id(n) not in dropped] + new_nodes
    for n in nodes:
        for i, name in enumerate(n.input):
            n.input[i] = rename.get(name, name)
    del g.node[:]
    g.node.extend(nodes)
    for inp in g.input:
        if inp.name in stored:
            inp.type.tensor_type.elem_type = stored[inp.name]
    _toposort(g)
    return stored


def fp16_variant(proto: onnx.ModelProto, keys: Sequence[str]) -> Tuple[onnx.ModelProto, Dict[str, int]]:
    """adm.graph_fp16.convert_to_fp16 of a trace_weight_free graph, with each weight stored as fp16 or fp32
    (see _store_weights_fp16). Returns (graph, {key: stored TensorProto type})."""
    half = convert_to_fp16(proto)
    stored = _store_weights_fp16(half, keys)
    onnx.checker.check_model(half)
    return half, stored
