"""The restricted unpickler of adm.checkpoint_io (rule 4 and the storage sizes of rule 5 there): globals limited to the
tensor rebuild functions, torch.Size, dtypes, Parameter and OrderedDict, BUILD only on OrderedDicts, no copyreg
extension opcodes, every storage and tensor checked against its record and the file size; then the nesting check
of what it returned. The checkpoint errors are defined here, the lowest module that raises them."""
from __future__ import annotations

import collections
import functools
import pickle
import types
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

# Containers nest at most this deep (the released checkpoints: 4); the page's reader (src/checkpoint) uses the same.
MAX_DEPTH = 1000
# Storage types a torch.save state dict holds (quantized storages would need functions outside the allow-list).
_PLAIN_STORAGES = {"DoubleStorage", "FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
                   "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "ComplexFloatStorage",
                   "ComplexDoubleStorage"}
PathLike = Union[str, Path]


class CheckpointError(ValueError):
    """The file cannot be read as a checkpoint (missing, not a regular file, empty, truncated, corrupt).
    `reason` is the one-line explanation without the path."""

    lead = "cannot load checkpoint"

    def __init__(self, path: PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.lead} {path}: {reason}")


class UnsafeCheckpointError(CheckpointError):
    """The file holds something other than weights and plain data (code, TorchScript, arbitrary objects)."""

    lead = "refusing checkpoint"


class Forbidden(pickle.UnpicklingError):
    """Raised inside the unpickler; load_checkpoint turns it into UnsafeCheckpointError."""


class Corrupt(pickle.UnpicklingError):
    """Raised inside the unpickler for numbers that do not add up; load_checkpoint turns it into CheckpointError."""


def _allowed_globals() -> Dict[str, Any]:
    allowed: Dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "torch.nn.parameter.Parameter": torch.nn.Parameter,
        "torch.Size": torch.Size,
        "torch.serialization._get_layout": torch.serialization._get_layout,
    }
    for fn in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter"):
        allowed[f"torch._utils.{fn}"] = getattr(torch._utils, fn)
    for name, value in vars(torch).items():
        if isinstance(value, torch.dtype):
            allowed[f"torch.{name}"] = value
    return allowed


_ALLOWED = _allowed_globals()
_REBUILDS = {"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2"}
_STORAGE_NAMES = torch.storage._dtype_to_storage_type_map()


def _forbidden_global(qualname: str) -> Forbidden:
    return Forbidden(f"its pickle references the Python object {qualname}; a checkpoint may only hold tensors, dtypes, "
                      "OrderedDicts and plain data (dicts, lists, tuples, strings, numbers), since unpickling other "
                      "objects can run code")


def _checked_rebuild(rebuild, file_size: int, *args):
    """A tensor may not claim more bytes than the whole file (a stride-0 tensor of 10^12 elements would)."""
    t = rebuild(*args)
    if t.numel() * t.element_size() > file_size:
        raise Corrupt(f"its pickle gives a tensor the shape {tuple(t.shape)}, more elements than the whole file "
                       "could hold")
    return t


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be narrowed
    dispatch = dict(pickle._Unpickler.dispatch)
    # Set per file by bound_pickle_module: zip record sizes ("data/0" -> bytes; None for legacy files), file size.
    records: Optional[Dict[str, int]] = None
    file_size = 0

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get(f"{module}.{name}")
        if obj is None:
            raise _forbidden_global(f"{module}.{name}")
        if f"{module}.{name}" in _REBUILDS:
            return functools.partial(_checked_rebuild, obj, self.file_size)
        return obj

    def _load_build(self):
        inst = self.stack[-2] if len(self.stack) >= 2 else None
        if type(inst) is not collections.OrderedDict:  # torch.save builds nothing else; a tensor's state can re-point it
            raise Forbidden(f"its pickle sets the state of a {type(inst).__name__} object; only OrderedDicts may be "
                             "built")
        pickle._Unpickler.load_build(self)

    def _load_binpersid(self):
        self._check_storage_id(self.stack[-1] if self.stack else None)
        pickle._Unpickler.load_binpersid(self)

    def _check_storage_id(self, pid) -> None:
        """A storage record must hold exactly numel x element size bytes (torch would read past a shorter one)."""
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], torch.serialization.StorageType)):
            raise Corrupt("its pickle has a persistent id that is not a torch.save storage reference")
        dtype, key, numel = pid[1].dtype, pid[2], pid[4]
        if _STORAGE_NAMES.get(dtype) not in _PLAIN_STORAGES:
            raise _forbidden_global(f"torch.{_STORAGE_NAMES.get(dtype, dtype)}")
        if not isinstance(numel, int) or numel < 0:
            raise Corrupt("its pickle gives a storage an invalid element count")
        nbytes = numel * torch._utils._element_size(dtype)
        name = str(dtype).replace("torch.", "")
        if self.records is None:
            if nbytes > self.file_size:
                raise Corrupt(f"its pickle describes a storage of {numel} {name} elements, more than the whole file holds")
            return
        size = self.records.get(f"data/{key}")
        if size is None:
            raise Corrupt(f"its pickle refers to a storage record data/{key}, which the archive does not have")
        if size != nbytes:
            raise Corrupt(f"the storage record data/{key} holds {size} bytes, but the pickle says {numel} {name} elements "
                           f"({nbytes} bytes)")

    def _load_ext(self):
        raise Forbidden("its pickle uses copyreg extension codes")

    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.BINPERSID[0]] = _load_binpersid
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _load_ext
    del _op


def bound_pickle_module(records: Optional[Dict[str, int]], file_size: int) -> types.SimpleNamespace:
    """A pickle module for torch.serialization whose unpickler knows this file's record sizes and size."""
    unpickler = type("_BoundUnpickler", (_RestrictedUnpickler,), {"records": records, "file_size": file_size})
    return types.SimpleNamespace(__name__="adm.checkpoint_io.restricted_pickle", Unpickler=unpickler,
                                 load=lambda file, **kwargs: unpickler(file, **kwargs).load())


def check_nesting(obj: Any, path: PathLike) -> None:
    """Refuse containers nested more than MAX_DEPTH deep or containing themselves (iterative: each container's
    depth is computed once, however often it is shared)."""
    def children(o):
        if isinstance(o, dict):
            return [*o.keys(), *o.values(), *getattr(o, "__dict__", {}).values()]  # an OrderedDict's _metadata
        return list(o) if isinstance(o, (list, tuple, set, frozenset)) else []

    depth: Dict[int, int] = {}  # id -> depth; -1 while on the current path (all objects stay alive meanwhile)
    stack: List[list] = []

    def enter(o) -> Optional[int]:
        if not isinstance(o, (dict, list, tuple, set, frozenset)):
            return 0
        known = depth.get(id(o))
        if known == -1:
            raise CheckpointError(path, "its pickle holds a container that contains itself, which torch.save never writes")
        if known is not None:
            return known
        depth[id(o)] = -1
        stack.append([o, children(o), 0, 0])
        if len(stack) > MAX_DEPTH:
            raise CheckpointError(path, f"its pickle nests containers more than {MAX_DEPTH} deep")
        return None

    if enter(obj) is not None:
        return
    while stack:
        top = stack[-1]
        if top[2] < len(top[1]):
            top[2] += 1
            d = enter(top[1][top[2] - 1])
            if d is not None:
                top[3] = max(top[3], d)
            continue
        stack.pop()
        d = top[3] + 1
        if d > MAX_DEPTH:
            raise CheckpointError(path, f"its pickle nests containers more than {MAX_DEPTH} deep")
        depth[id(top[0])] = d
        if stack:
            stack[-1][3] = max(stack[-1][3], d)
