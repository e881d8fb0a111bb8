"""Filling a template's external-data files from a checkpoint: the bytes the page writes, written in Python.

    items = write_data_files(graph, state_dict, folder)   # -> [{"file", "bytes", "sha256"}], one per data file

A data file is `bytes` long; each of its tensors [key, offset, bytes, dtype] (adm.templates) holds the checkpoint
tensor's values in C order, little-endian: float32 as stored in the checkpoint, or float16 rounded to nearest even
(numpy's astype(float16); float32_to_float16_bits spells the rounding out bit by bit). Every other byte is zero.
Only finite values are filled (convert refuses a checkpoint with NaN or infinity before this).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List, Mapping, Union

import numpy as np
import torch

PathLike = Union[str, Path]
_ZEROS = bytes(1 << 16)


def float32_to_float16_bits(bits: np.ndarray) -> np.ndarray:
    """IEEE binary32 bit patterns -> binary16 bit patterns, rounding to nearest, ties to even (what numpy's
    astype(float16) does for finite values). Overflow gives infinity; below half the smallest subnormal, zero."""
    f = bits.astype(np.int64) & 0xFFFFFFFF
    sign = (f >> 16) & 0x8000
    exp = ((f >> 23) & 0xFF) - 127  # unbiased exponent
    mant = (f & 0x7FFFFF) | 0x800000  # with the implicit leading 1 (finite, non-zero values)
    # how many low bits of the 24-bit significand drop out: 13 for normal halves, more below 2^-14
    drop = np.where(exp >= -14, 13, np.minimum(-1 - exp, 25))
    kept = mant >> drop
    rest = mant & ((np.int64(1) << drop) - 1)
    half = np.int64(1) << (drop - 1)
    kept = kept + ((rest > half) | ((rest == half) & ((kept & 1) == 1)))
    # normal: exponent field (exp + 15) on top of the 10 kept fraction bits (a carry out of the fraction increments
    # the exponent, and past 65504 lands exactly on infinity); subnormal: the kept bits are the fraction
    normal = ((exp + 14) << 10) + kept  # kept still holds the leading 1, worth one exponent step
    out = np.where(exp >= -14, np.minimum(normal, 0x7C00), kept)
    out = np.where(exp > 15, 0x7C00, out)
    raw_exp = (f >> 23) & 0xFF
    out = np.where(raw_exp == 0, 0, out)  # float32 zeros and subnormals (< 2^-126) round to zero
    nan = (raw_exp == 0xFF) & ((f & 0x7FFFFF) != 0)
    out = np.where(raw_exp == 0xFF, np.where(nan, 0x7E00, 0x7C00), out)
    return (sign | out).astype(np.uint16)


def tensor_bytes(value: Union[torch.Tensor, np.ndarray], dtype: str) -> bytes:
    """A checkpoint tensor as its template entry stores it (dtype "float32" or "float16")."""
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    a = np.ascontiguousarray(a, dtype="<f4")
    if dtype == "float16":
        with np.errstate(over="ignore"):  # beyond 65504 is infinity in fp16, as numpy rounds it
            return a.astype("<f2").tobytes()
    if dtype == "float32":
        return a.tobytes()
    raise ValueError(f"unknown stored dtype {dtype!r}")


def write_data_files(graph: Dict, tensors: Mapping[str, Union[torch.Tensor, np.ndarray]],
                     folder: PathLike) -> List[Dict]:
    """Write the external-data files of one template graph entry into `folder` from `tensors` (checkpoint key ->
    tensor); returns the manifest's externalData items. KeyError / ValueError when a tensor is missing or its
    size differs from the template's."""
    items = []
    for piece in graph["externalData"]:
        path = Path(folder) / piece["file"]
        h = hashlib.sha256()
        pos = 0
        with open(path, "wb") as f:
            def put(b: bytes) -> None:
                f.write(b)
                h.update(b)

            for key, offset, n_bytes, dtype in piece["tensors"]:
                while pos < offset:
                    gap = _ZEROS[:min(len(_ZEROS), offset - pos)]
                    put(gap)
                    pos += len(gap)
                data = tensor_bytes(tensors[key], dtype)
                if len(data) != n_bytes:
                    raise ValueError(f"{key}: {len(data)} bytes as {dtype}, the template expects {n_bytes}")
                put(data)
                pos += n_bytes
            if pos != piece["bytes"]:
                raise ValueError(f"{piece['file']}: filled {pos} bytes, the template says {piece['bytes']}")
        items.append({"file": piece["file"], "bytes": pos, "sha256": h.hexdigest()})
    return items
