"""Where a template's weights live: ONNX external data in checkpoint-key order, and short names for the rest.

    pieces = externalize(proto, keys, shapes, stored, "unet.onnx.data", 1 << 30, 64)  # weight inputs -> initializers
    compact_names(proto)                                                               # n0.., t0.., c0..

`pieces` is the externalData list of a template graph entry (adm.templates; docs/pack-format.md, "Templates").
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
DTYPE_NAMES = {FLOAT: "float32", HALF: "float16"}
ITEM_BYTES = {FLOAT: 4, HALF: 2}


def externalize(proto: onnx.ModelProto, keys: Sequence[str], shapes: Mapping[str, Sequence[int]],
                stored: Mapping[str, int], data_file: str, piece_bytes: int, align: int) -> List[Dict]:
    """Turn the weight inputs (named by key, `stored` giving each one's TensorProto type) into initializers whose
    bytes are ONNX external data, in checkpoint-key order: each at an `align`-aligned offset, a new file whenever the
    next tensor would pass `piece_bytes` (names: piece_name). A key the graph does not read is left out. Returns the
    data files: [{"file", "bytes", "tensors": [[key, offset, bytes, stored dtype name]]}]."""
    g = proto.graph
    used = {i for n in g.node for i in n.input}
    weights = [k for k in keys if k in used]
    pieces: List[Dict] = []
    end = 0
    for key in weights:
        n_bytes = int(np.prod(shapes[key])) * ITEM_BYTES[stored[key]]
        offset = -(-end // align) * align
        if not pieces or offset + n_bytes > piece_bytes:
            if n_bytes > piece_bytes:
                raise ValueError(f"{key} ({n_bytes} bytes) does not fit a {piece_bytes}-byte data file")
            pieces.append({"file": None, "bytes": 0, "tensors": []})
            offset = 0
        pieces[-1]["tensors"].append([key, offset, n_bytes, DTYPE_NAMES[stored[key]]])
        end = offset + n_bytes
        pieces[-1]["bytes"] = end
    for i, piece in enumerate(pieces):
        piece["file"] = piece_name(data_file, i, len(pieces))
    inits = []
    for piece in pieces:
        for key, offset, n_bytes, _ in piece["tensors"]:
            t = onnx.TensorProto(name=key, data_type=stored[key], dims=list(shapes[key]))
            t.data_location = onnx.TensorProto.EXTERNAL
            for k, v in (("location", piece["file"]), ("offset", str(offset)), ("length", str(n_bytes))):
                entry = t.external_data.add()
                entry.key, entry.value = k, v
            inits.append(t)
    weight_set = set(keys)
    kept_inputs = [i for i in g.input if i.name not in weight_set]
    del g.input[:]
    g.input.extend(kept_inputs)
    g.initializer.extend(inits)
    return pieces


def piece_name(data_file: str, index: int, count: int) -> str:
    """'unet.onnx.data' when one file holds the weights, else 'unet.onnx.0.data', 'unet.onnx.1.data', ..."""
    if count == 1:
        return data_file
    stem, dot, suffix = data_file.rpartition(".")
    return f"{stem}.{index}.{suffix}" if dot else f"{data_file}.{index}"


# --- compact names ------------------------------------------------------------------------------------------

def compact_names(proto: onnx.ModelProto) -> None:
    """Short names for what the exporter named by module path: nodes n0.., intermediate tensors t0.., inline
    constants c0..; graph inputs, outputs and the weight initializers (checkpoint keys) keep theirs. No doc strings."""
    g = proto.graph
    keep = {i.name for i in g.input} | {o.name for o in g.output} | {
        t.name for t in g.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
    names: Dict[str, str] = {}
    for i, t in enumerate(t for t in g.initializer if t.name not in keep):
        names[t.name] = f"c{i}"
    count = 0
    for n in g.node:
        for o in n.output:
            if o and o not in keep and o not in names:
                names[o] = f"t{count}"
                count += 1
    for t in g.initializer:
        t.name = names.get(t.name, t.name)
        t.doc_string = ""
    for i, n in enumerate(g.node):
        n.name = f"n{i}"
        n.doc_string = ""
        for j, name in enumerate(n.input):
            n.input[j] = names.get(name, name)
        for j, name in enumerate(n.output):
            n.output[j] = names.get(name, name)
    proto.doc_string = ""
    g.doc_string = ""
