"""Read `.pt` checkpoints without running code stored in them.

A `.pt` file is a pickle, and unpickling can call any importable function; a TorchScript archive runs its
own scripted code (e.g. a `__setstate__`) while `torch.load` hands it to `torch.jit.load`. The toolkit
only ever needs weights and plain metadata, so `load_checkpoint` accepts exactly that:

1. The path must name a regular file (checked on the opened descriptor, so a FIFO or a swapped file
   cannot slip in between the check and the read).
2. A zip archive (torch.save's format since 1.6) must have the layout of a plain `torch.save`: one
   top-level folder holding `data.pkl`, `data/<key>` tensor records and the small `version`/`byteorder`
   records. TorchScript archives (`constants.pkl`, `code/`, `*.py`, ...) and anything else are refused
   from the entry names alone, before torch sees the file. The listing is taken twice, by Python's
   `zipfile` and by torch's own archive reader, so both must agree that nothing else is inside.
3. Any other file must be a legacy (pre-1.6, non-zip) torch.save stream, i.e. start with a pickle
   PROTO opcode; tar-format and text files are refused.
4. The pickle is read by a restricted unpickler: globals are limited to the tensor rebuild functions,
   `torch.Size`, dtypes, `Parameter` and `OrderedDict`; BUILD may only touch tensors, parameters and
   OrderedDicts; the copyreg extension opcodes are refused. Everything else a checkpoint holds must be
   made of dicts, lists, tuples, strings, numbers, booleans and None.

Why not just `torch.load(..., weights_only=True)`: in torch 1.13 that unpickler does not implement the
BINFLOAT opcode, so it rejects every pickled Python float (training checkpoints store the optimizer's
lr/betas/eps and the elapsed time; judge checkpoints store accuracies), and it still dispatches
TorchScript archives to `torch.jit.load`. This module applies the same allow-list idea with the standard
library's pure-Python unpickler (all opcodes, globals and BUILD restricted) and does the archive checks
itself. The file is then read by the functions torch.load itself uses (torch.serialization._load for
archives, _legacy_load for legacy files) with the restricted unpickler and map_location="cpu"; torch 1.13's
torch.load cannot be given the unpickler because it ignores pickle_module unless weights_only=True.
"""
from __future__ import annotations

import collections
import copyreg
import io
import os
import pickle
import re
import stat
import types
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Union

import torch

__all__ = ["CheckpointError", "UnsafeCheckpointError", "load_checkpoint"]

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTO = 0x80

# Records of a plain torch.save archive, relative to its single top-level folder (torch 1.6 .. 2.x).
_PLAIN_RECORD = re.compile(r"(data\.pkl|version|byteorder|\.format_version|\.storage_alignment"
                           r"|\.data/version|\.data/serialization_id|data/[A-Za-z0-9_]+)")
# Records that only TorchScript (torch.jit.save) or torch.package archives have.
_SCRIPT_RECORD = re.compile(r"(constants\.pkl|attributes\.pkl|model\.json|code/.*|extra/.*|tensors/.*|\.data/.*\.py"
                            r"|.*\.py|.*\.debug_pkl|\.data/extern_modules)")

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


# --- the restricted unpickler ------------------------------------------------------------------------------

class _Forbidden(pickle.UnpicklingError):
    """Raised inside the unpickler; load_checkpoint turns it into UnsafeCheckpointError."""


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
_BUILD_TYPES = (torch.Tensor, torch.nn.Parameter, collections.OrderedDict)


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be narrowed
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get(f"{module}.{name}")
        if obj is None:
            raise _Forbidden(f"its pickle references the Python object {module}.{name}; a checkpoint may only hold "
                             "tensors, dtypes, OrderedDicts and plain data (dicts, lists, tuples, strings, numbers), "
                             "since unpickling other objects can run code")
        return obj

    def _load_build(self):
        inst = self.stack[-2] if len(self.stack) >= 2 else None
        if type(inst) not in _BUILD_TYPES:
            raise _Forbidden(f"its pickle sets the state of a {type(inst).__name__} object; only tensors, "
                             "parameters and OrderedDicts may be built")
        pickle._Unpickler.load_build(self)

    def _load_ext(self):
        raise _Forbidden("its pickle uses copyreg extension codes")

    dispatch[pickle.BUILD[0]] = _load_build
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _load_ext
    del _op


def _restricted_load(file, **kwargs):
    return _RestrictedUnpickler(file, **kwargs).load()


_RESTRICTED_PICKLE = types.SimpleNamespace(__name__="adm.checkpoint_io.restricted_pickle",
                                           Unpickler=_RestrictedUnpickler, load=_restricted_load)


# --- archive checks ---------------------------------------------------------------------------------------

def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_records(path: PathLike, records: List[str], source: str) -> None:
    """`records`: entry names relative to the archive's top-level folder."""
    script = sorted({r for r in records if _SCRIPT_RECORD.fullmatch(r)})
    if script:
        raise UnsafeCheckpointError(
            path, f"it is a TorchScript (torch.jit.save) or torch.package archive (it contains "
                  f"{', '.join(script[:3])}{', ...' if len(script) > 3 else ''}); such archives run their stored "
                  "code when loaded. Save the weights with torch.save(model.state_dict(), path) instead")
    other = sorted({r for r in records if not _PLAIN_RECORD.fullmatch(r)})
    if other:
        raise UnsafeCheckpointError(
            path, f"the zip archive holds {', '.join(repr(r) for r in other[:3])}{', ...' if len(other) > 3 else ''}"
                  f" ({source}), which is not part of a plain torch.save file (data.pkl, data/<n>, version)")
    if len(records) != len(set(records)):
        raise UnsafeCheckpointError(path, f"the zip archive lists an entry twice ({source})")
    if "data.pkl" not in records:
        raise CheckpointError(path, "the zip archive has no data.pkl: it is not a file written by torch.save")


def _check_zip(path: PathLike, f) -> None:
    try:
        with zipfile.ZipFile(f) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise CheckpointError(path, f"it starts like a zip archive but is not a complete one (truncated or corrupt "
                                    f"download?): {_one_line(e)}") from None
    if not names:
        raise CheckpointError(path, "the zip archive is empty")
    prefixes = {n.split("/", 1)[0] if "/" in n else None for n in names}
    if len(prefixes) != 1 or None in prefixes or "" in prefixes:
        raise UnsafeCheckpointError(path, "the zip archive does not keep all its entries in one top-level folder as "
                                          "torch.save does")
    prefix = next(iter(prefixes))
    _check_records(path, [n[len(prefix) + 1:] for n in names], "zipfile listing")
    # torch's own reader decides what torch.load sees: its listing must pass too.
    f.seek(0)
    try:
        records = torch._C.PyTorchFileReader(f).get_all_records()
    except Exception as e:  # noqa: BLE001 - any failure of the reader means a damaged archive
        raise CheckpointError(path, f"torch cannot open the zip archive: {_one_line(e)}") from None
    _check_records(path, list(records), "torch archive reader")


# --- loading ---------------------------------------------------------------------------------------------

def _check_extension_registry(path: PathLike) -> None:
    if copyreg._extension_registry or copyreg._inverted_registry or copyreg._extension_cache:
        raise UnsafeCheckpointError(path, "copyreg extension codes are registered in this process; refusing to "
                                          "unpickle")


def _torch_load(path: PathLike, f, is_zip: bool):
    # torch.serialization._load/_legacy_load are what torch.load runs after its format checks; they are called
    # directly because torch 1.13's torch.load ignores pickle_module unless weights_only is set (and then it
    # forces its own unpickler, which rejects floats).
    ser = torch.serialization
    try:
        if is_zip:
            with ser._open_zipfile_reader(f) as zf:
                return ser._load(zf, "cpu", _RESTRICTED_PICKLE, encoding="utf-8")
        return ser._legacy_load(f, "cpu", _RESTRICTED_PICKLE, encoding="utf-8")
    except _Forbidden as e:
        raise UnsafeCheckpointError(path, str(e)) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated data, bad records, bad pickle: all "corrupt"
        raise CheckpointError(path, f"torch could not read it ({type(e).__name__}: {_one_line(e)})") from None


def load_checkpoint(path: PathLike) -> Any:
    """Load a torch.save file onto the CPU without executing code from it.

    Raises CheckpointError (a ValueError) for missing, non-regular, empty or damaged files and
    UnsafeCheckpointError (a CheckpointError) for TorchScript archives, unexpected archive entries and
    pickles that reference anything beyond tensors and plain data."""
    try:
        fd = os.open(str(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckpointError(path, "the file does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(path, "it is a folder, not a file") from None
    except OSError as e:
        raise CheckpointError(path, f"cannot open it: {e.strerror or e}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise CheckpointError(path, "it is a folder, not a file" if stat.S_ISDIR(st.st_mode)
                              else "it is not a regular file (a pipe, socket or device?)")
    with os.fdopen(fd, "rb") as f:
        if st.st_size == 0:
            raise CheckpointError(path, "the file is empty (0 bytes)")
        head = f.read(4)
        f.seek(0)
        _check_extension_registry(path)
        if head == ZIP_MAGIC:
            _check_zip(path, f)
            f.seek(0)
            return _torch_load(path, f, True)
        if head[:1] != bytes([PICKLE_PROTO]):
            raise CheckpointError(path, "it is neither a zip archive written by torch.save nor a legacy torch.save "
                                        "pickle (wrong kind of file?)")
        # Legacy (non-zip) format. Read from memory: torch only tries its tar-archive reader on real files.
        data = f.read()
    return _torch_load(path, io.BytesIO(data), False)
