"""Read a pack's ONNX weights back into a PyTorch state dict (the inverse of adm.export).

    model = UNetModel(cfg)
    load_onnx_weights(model, load_pack_graph(pack_dir, manifest, "unet"), export_unet)  # a pack's graph, checked

A pack's graph comes through adm.pack_files.load_pack_graph (listed files only, size and sha256 checked, external
data filled in from memory). A path is read as one self-contained file: external-data references are refused, so
onnx never opens another file on the graph's say-so.

Graphs made from templates (npm run convert) name every weight by its checkpoint key and hold it as external data
beside the graph, which onnx.load reads. In other exports most parameters keep their module path as the
initializer name (`net.model.input_blocks.1.0...`).
GroupNorm scales and shifts do not: the exporter folds them into anonymous `onnx::Mul_N` /
`onnx::Add_N` constants, and it merges parameters with equal values (such as fresh zero-initialised
convs) into one initializer. To map those, a template of the same architecture is exported with every
parameter set to its own marker value; the template's anonymous initializers then say which parameter
each name holds, and the same names are read from the real graph. Both graphs come from the same
exporter, so names line up; anything that does not line up is an error, never a silent skip.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Union

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

PREFIX = "net.model."
PathLike = Union[str, Path]


class OnnxWeightsError(ValueError):
    """The ONNX file does not hold the weights of this architecture."""


def _initializers(proto: onnx.ModelProto) -> Dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}


def _marker(index: int) -> float:
    # Distinct, exactly representable in float32 and far from any value an exporter would invent.
    return 1000.0 + index * 0.5


def _first_use(proto: onnx.ModelProto) -> Dict[str, tuple]:
    """initializer name -> (node index, input slot) of its first consumer."""
    uses: Dict[str, tuple] = {}
    for i, node in enumerate(proto.graph.node):
        for slot, name in enumerate(node.input):
            uses.setdefault(name, (i, slot))
    return uses


def _anonymous_map(model: nn.Module, export_fn: Callable[[nn.Module, None], onnx.ModelProto],
                   wanted: Dict[str, torch.Tensor], real: onnx.ModelProto) -> Dict[str, str]:
    """parameter name -> initializer name in `real`, for the parameters the exporter renamed.

    Found by position: the template's marker values say which parameter an anonymous constant holds,
    and the node that first reads it (same index and input slot in `real`, whose graph has the same
    structure) names the constant in `real`. Names alone would not do: an exporter may merge equal
    constants, which freshly initialised GroupNorms are."""
    template = type(model)(model.cfg).eval()
    by_marker: Dict[float, str] = {}
    with torch.no_grad():
        for i, (name, p) in enumerate(template.state_dict().items()):
            if name in wanted:
                p.fill_(_marker(i))
                by_marker[_marker(i)] = name
    tproto = export_fn(template, None)
    if [n.op_type for n in tproto.graph.node] != [n.op_type for n in real.graph.node]:
        raise OnnxWeightsError("the graph's structure differs from this architecture's export")
    uses = _first_use(tproto)
    found: Dict[str, str] = {}
    for init_name, arr in _initializers(tproto).items():
        if arr.size == 0 or init_name not in uses:
            continue
        first = float(arr.reshape(-1)[0])
        name = by_marker.get(first)
        if name is None or name in found or arr.size != wanted[name].numel() or not np.all(arr == first):
            continue
        node_i, slot = uses[init_name]
        found[name] = real.graph.node[node_i].input[slot]
    return found


def _graph(source: Union[PathLike, onnx.ModelProto]) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    proto = onnx.load(str(source), load_external_data=False)
    from .pack_files import all_tensors

    if any(t.external_data for t in all_tensors(proto)):
        raise OnnxWeightsError(f"{source} keeps weights in external-data files: read it from its pack "
                               "(adm.pack_files.load_pack_graph), which checks them against the manifest")
    return proto


def onnx_state_dict(model: nn.Module, onnx_path: Union[PathLike, onnx.ModelProto],
                    export_fn: Callable[[nn.Module, None], onnx.ModelProto]) -> Dict[str, torch.Tensor]:
    """The state dict of `model`'s architecture as stored in `onnx_path` (a self-contained .onnx file, or a graph
    from load_pack_graph; fp32 graphs only)."""
    proto = _graph(onnx_path)
    if isinstance(onnx_path, onnx.ModelProto):
        onnx_path = "the pack's graph"  # only used in messages
    inits = _initializers(proto)
    target = model.state_dict()
    out: Dict[str, torch.Tensor] = {}
    for name, ref in target.items():
        # packs built from templates (adm.templates, npm run convert) name each weight by its checkpoint key
        arr = inits.get(PREFIX + name, inits.get(name))
        if arr is not None:
            out[name] = _as_param(arr, ref, name, onnx_path)
    missing = {k: v for k, v in target.items() if k not in out}
    if missing:
        for name, init_name in _anonymous_map(model, export_fn, missing, proto).items():
            if init_name in inits:
                out[name] = _as_param(inits[init_name], target[name], name, onnx_path)
    still = [k for k in target if k not in out]
    if still:
        raise OnnxWeightsError(
            f"{onnx_path} lacks {len(still)} of {len(target)} weights of this architecture (first: {still[:3]}); "
            "was it exported by this toolkit from a model with the same configuration?")
    return out


def _as_param(arr: np.ndarray, ref: torch.Tensor, name: str, path: PathLike) -> torch.Tensor:
    if arr.dtype != np.float32 and ref.is_floating_point():
        raise OnnxWeightsError(f"{path}: {name} is {arr.dtype}; read the fp32 graph (unet.onnx), not the fp16 one")
    if arr.size != ref.numel():
        raise OnnxWeightsError(f"{path}: {name} has shape {tuple(arr.shape)}, this architecture needs {tuple(ref.shape)}")
    return torch.from_numpy(arr.copy()).reshape(ref.shape).to(ref.dtype)


def load_onnx_weights(model: nn.Module, onnx_path: Union[PathLike, onnx.ModelProto],
                      export_fn: Callable[[nn.Module, None], onnx.ModelProto]) -> nn.Module:
    model.load_state_dict(onnx_state_dict(model, onnx_path, export_fn))
    return model
