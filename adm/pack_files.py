"""Reading a pack's files without trusting the folder: the one way the toolkit reads a pack it did not just write.

    check_pack_file(pack_dir, spec, at)        # size and sha256 of one listed file (streamed, nothing kept)
    data = read_pack_file(pack_dir, spec, at)  # its bytes, checked the same way before they are returned
    proto = load_pack_graph(pack_dir, manifest, "unet")  # the ONNX graph with its external data, from memory

Only files the manifest lists are opened, by their plain names, relative to a descriptor of the pack folder. Each is
opened with O_NOFOLLOW (a symbolic link is refused, wherever it points) and O_NONBLOCK (a FIFO cannot stall the open),
must be a regular file on the opened descriptor (fstat, so nothing can be swapped in between the check and the
read), and must have exactly the recorded size and sha256. An ONNX graph's external-data references are resolved
here, against the graph's `externalData` list only: a reference to any other name (an unlisted file in the pack, a
path, a file outside) is refused, so onnx never opens a file by itself (docs/security.md).
"""
from __future__ import annotations

import hashlib
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Union

from .pack_format import ManifestError, plain_file_name

PathLike = Union[str, Path]
_CHUNK = 1 << 22
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class PackFileError(ManifestError):
    """A listed file is missing, not a regular file, a symbolic link, or has another size or sha256."""


def _need(ok: bool, at: str, what: str, value) -> None:
    if not ok:
        raise PackFileError(f"manifest.{at} must be {what} (got {value!r})")


@contextmanager
def open_listed(pack_dir: PathLike, name: str, at: Optional[str] = None) -> Iterator[tuple]:
    """(file object, stat) of the regular file `name` directly inside `pack_dir`, opened without following links.
    `at`: the manifest field that names the file, for messages."""
    field = f" (manifest.{at})" if at else ""
    if not plain_file_name(name):
        raise PackFileError(f"manifest.{at} must be a plain file name inside the pack (got {name[:100]!r})")
    try:
        dfd = os.open(pack_dir, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError as e:
        raise PackFileError(f"cannot open the pack folder {pack_dir}: {e.strerror}") from None
    try:
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=dfd)
        except FileNotFoundError:
            raise PackFileError(f"{pack_dir} has no file {name}{field}") from None
        except OSError as e:
            if stat.S_ISLNK(os.lstat(name, dir_fd=dfd).st_mode):
                raise PackFileError(f"{name} in {pack_dir} is a symbolic link{field}: a pack's files must be regular "
                                    "files inside the pack folder") from None
            raise PackFileError(f"cannot open {name} in {pack_dir}{field}: {e.strerror}") from None
    finally:
        os.close(dfd)
    f = os.fdopen(fd, "rb", buffering=0)
    with f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PackFileError(f"{name} in {pack_dir} is not a regular file{field}")
        yield f, st


def _read_checked(pack_dir: PathLike, spec: Mapping, at: str, keep: bool) -> bytearray:
    name, size, sha = spec["file"], spec["bytes"], spec["sha256"]
    with open_listed(pack_dir, name, f"{at}.file") as (f, st):
        _need(st.st_size == size, f"{at}.bytes", f"the file size ({st.st_size})", size)
        h = hashlib.sha256()
        buf = bytearray(size if keep else min(size, _CHUNK))
        view = memoryview(buf)
        got = 0
        while got < size:
            part = view[got:got + _CHUNK] if keep else view[:min(_CHUNK, size - got)]
            n = f.readinto(part)
            if not n:
                break
            h.update(part[:n])
            got += n
        _need(got == size and not f.read(1), f"{at}.bytes", f"the file size (it changed while read: {got}+)", size)
        digest = h.hexdigest()
        _need(digest == sha, f"{at}.sha256", f"the file's sha256 ({digest})", sha)
    return buf if keep else bytearray()


def check_pack_file(pack_dir: PathLike, spec: Mapping, at: str) -> None:
    """PackFileError unless the listed file `spec` ({file, bytes, sha256}) is a regular file of that size and digest.
    `at` names the manifest field in messages ("unet", "unet.externalData[0]")."""
    _read_checked(pack_dir, spec, at, keep=False)


def read_pack_file(pack_dir: PathLike, spec: Mapping, at: str) -> bytearray:
    """The bytes of the listed file `spec`, read once (into one buffer) and checked (size, sha256) before they are
    returned."""
    return _read_checked(pack_dir, spec, at, keep=True)


# --- ONNX graphs --------------------------------------------------------------------------------------------------

def all_tensors(proto) -> Iterator:
    """Every TensorProto of a model: initializers, sparse initializers, attribute tensors, in subgraphs, functions
    and training info too (anything that could carry an external-data reference)."""
    def graph(g):
        for t in g.initializer:
            yield t
        for s in g.sparse_initializer:
            yield s.values
            yield s.indices
        for n in g.node:
            yield from node(n)

    def node(n):
        for a in n.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("sparse_tensor"):
                yield a.sparse_tensor.values
                yield a.sparse_tensor.indices
            for s in a.sparse_tensors:
                yield s.values
                yield s.indices
            if a.HasField("g"):
                yield from graph(a.g)
            for g in a.graphs:
                yield from graph(g)

    yield from graph(proto.graph)
    for f in proto.functions:
        for n in f.node:
            yield from node(n)
    for ti in proto.training_info:
        yield from graph(ti.initialization)
        yield from graph(ti.algorithm)


def resolve_external_data(proto, data: Mapping[str, bytearray], graph_file: str) -> None:
    """Fills every external-data tensor of `proto` in place from `data` (listed file name -> its checked bytes) and
    marks it internal. PackFileError for a reference to any other location or a range outside its file."""
    from onnx import TensorProto

    for t in all_tensors(proto):
        if not t.external_data and t.data_location != TensorProto.EXTERNAL:
            continue
        info: Dict[str, str] = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if loc not in data:
            listed = ", ".join(sorted(data)) or "none"
            raise PackFileError(f"{graph_file}: tensor {t.name!r} takes its data from {loc[:100]!r}, which is not one "
                                f"of this graph's external-data files in the manifest ({listed})")
        blob = data[loc]
        try:
            offset = int(info.get("offset", "0"))
            length = int(info["length"]) if "length" in info else len(blob) - offset
        except ValueError:
            raise PackFileError(f"{graph_file}: tensor {t.name!r} has a malformed external-data offset or length") from None
        if offset < 0 or length < 0 or offset + length > len(blob):
            raise PackFileError(f"{graph_file}: tensor {t.name!r} reads bytes {offset}..{offset + length} of {loc}, "
                                f"which has {len(blob)}")
        t.raw_data = bytes(memoryview(blob)[offset:offset + length])
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


def load_pack_graph(pack_dir: PathLike, manifest: Mapping, key: str):
    """The onnx.ModelProto of graph `key` ("unet", "classifierGrad", ...) of a validated manifest: the graph file and
    its listed external-data files read and checked here, the external data filled in from memory."""
    import onnx

    g = manifest[key]
    raw = read_pack_file(pack_dir, g, key)
    try:
        proto = onnx.load_model_from_string(bytes(raw))
    except Exception as e:  # protobuf's DecodeError and friends
        raise PackFileError(f"{g['file']} is not a readable ONNX graph ({type(e).__name__})") from None
    data = {e["file"]: read_pack_file(pack_dir, e, f"{key}.externalData[{i}]")
            for i, e in enumerate(g.get("externalData") or [])}
    resolve_external_data(proto, data, g["file"])
    return proto
