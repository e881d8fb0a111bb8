"""Guards shared by the command lines that write folders atomically (convert, make-pack, make_tiny_pack, eval).

`output_folder`: the one way they publish a folder. It yields an empty hidden folder beside the destination
(`.NAME.partial-XXXX`); when the block ends normally that folder replaces the destination by a rename (an
existing destination is first moved aside and removed afterwards), and when the block raises it is removed and
the destination is left as it was.

`sigterm_as_exit`: that removal runs in an `except BaseException` block, which covers Ctrl-C
(KeyboardInterrupt) but not SIGTERM, whose default action ends the process on the spot. While the context is
active, the first SIGTERM raises SystemExit(143) in the main thread instead, so the same cleanup runs; further
SIGTERMs during the cleanup are ignored. The exit status is 143 (128 + SIGTERM), as a shell reports a
SIGTERM-killed process.

`check_output_folder` / `blocking_file`: refuse, before any work, an output folder that cannot be created
because a file stands in its place or above it, or in a place that cannot be written (one line instead of a
traceback from mkdir after the work), or that is not empty when replacing it was not asked for.

What may be replaced (docs/security.md, "Output folders"). Every folder published here carries a marker file,
MARKER_NAME (`{"writtenBy": ..., "kind": "pack" | "eval"}`). An existing non-empty destination is replaced only
when it is one of ours: it has the marker, or, written before markers existed, it is recognisably a pack (a valid
manifest.json and nothing but the files that manifest lists) or an eval folder (eval.json, eval.png, grids/,
samples/ and nothing else). Anything else is refused unless the caller passes `replace_any` (the command lines'
`--replace-any-folder`). A destination that is a symbolic link is never followed: the link itself is replaced (it
is renamed aside and removed like a folder would be), and the folder it points to is left as it was.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

SIGTERM_EXIT = 128 + int(signal.SIGTERM)
MARKER_NAME = ".adm-output.json"
WRITTEN_BY = "adm (the guided-diffusion-web toolkit)"
_LEGACY_EVAL = {"eval.json", "eval.png", "grids", "samples"}


class OutputFolderError(FileExistsError):
    """An output folder that cannot be written (the message starts with the folder's path)."""


@contextmanager
def sigterm_as_exit(prog: str) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield  # handlers can only be set from the main thread; an ignored SIGTERM stays ignored
        return
    hit = []

    def on_sigterm(signum, frame):
        if hit:
            return  # already stopping: let the cleanup finish
        hit.append(signum)
        raise SystemExit(SIGTERM_EXIT)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except SystemExit:
        if hit:
            print(f"{prog}: stopped by SIGTERM; partial output removed", file=sys.stderr, flush=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def blocking_file(out: Path) -> Optional[Path]:
    """The nearest existing ancestor of `out` (or `out` itself) that exists but is not a folder, else None."""
    for p in (out, *out.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def _regular(p: Path) -> bool:
    """A regular file that is not a symbolic link."""
    try:
        return os.stat(p, follow_symlinks=False).st_mode & 0o170000 == 0o100000
    except OSError:
        return False


def _has_marker(folder: Path) -> bool:
    from .json_limits import JsonLimitError, loads_bounded

    m = folder / MARKER_NAME
    if not _regular(m) or m.stat().st_size > 4096:
        return False
    try:
        value = loads_bounded(m.read_bytes(), 4096, 4)
    except (OSError, JsonLimitError):
        return False
    return isinstance(value, dict) and value.get("writtenBy") == WRITTEN_BY


def _unexpected(folder: Path, allowed: set) -> str:
    """The entries of `folder` outside `allowed` (or, but for an eval's grids/ and samples/, not regular files), as
    a short list; "" when there are none."""
    extra = [n for n in sorted(os.listdir(folder))
             if n not in allowed or (n not in ("grids", "samples") and not _regular(folder / n))]
    return ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")


def foreign_reason(folder: Path) -> Optional[str]:
    """None when `folder` is an output folder of this toolkit (see the module docstring), else why it is not."""
    if _has_marker(folder):
        return None
    if _regular(folder / "manifest.json"):
        from .manifest import ManifestError, read_manifest

        try:
            m = read_manifest(folder, check_files=False)
        except ManifestError:
            return f"its manifest.json is not a valid pack manifest and it has no {MARKER_NAME} marker"
        graphs = [m[k] for k in ("unet", "unetFp16", "classifierGrad", "upsampler") if k in m]
        listed = {"manifest.json", MARKER_NAME} | {g["file"] for g in graphs} | \
                 {e["file"] for g in graphs for e in g.get("externalData") or []} | \
                 ({m["referenceFeatures"]["file"]} if "referenceFeatures" in m else set())
        extra = _unexpected(folder, listed)
        return f"it holds entries its manifest does not list ({extra})" if extra else None
    if _regular(folder / "eval.json"):
        extra = _unexpected(folder, _LEGACY_EVAL | {MARKER_NAME})
        return f"it holds entries an eval does not write ({extra})" if extra else None
    n = len(os.listdir(folder))
    return f"it has {n} entr{'y' if n == 1 else 'ies'} and no {MARKER_NAME} marker, so no pack or eval of this toolkit"


def _refuse_foreign(out: Path, reason: str) -> None:
    raise OutputFolderError(f"{out} is not a folder this toolkit wrote: {reason}. --force replaces only packs and eval "
                            "folders written by this toolkit; choose another folder, empty it yourself, or pass "
                            "--replace-any-folder to delete everything in it")


def check_output_folder(out: Path, replace: bool = True, replace_any: bool = False) -> None:
    """OutputFolderError unless `out` can become an output folder: a non-empty one (or a symbolic link) only with
    `replace`, and a non-empty folder this toolkit did not write only with `replace_any` too."""
    out = Path(out)
    if out.is_symlink():
        if not replace:
            raise OutputFolderError(f"{out} is a symbolic link (to {os.readlink(out)}); pass --force to replace the "
                                    "link itself (the folder it points to is not touched), or give that folder's path")
    else:
        if out.exists() and not out.is_dir():
            raise OutputFolderError(f"{out} exists and is not a folder")
        blocker = blocking_file(out)
        if blocker is not None:
            raise OutputFolderError(f"{out} cannot be created: {blocker} is a file, not a folder")
        if out.is_dir() and any(out.iterdir()):
            if not replace:
                raise OutputFolderError(f"{out} already exists and is not empty; choose another folder or pass --force "
                                        "to replace it")
            reason = None if replace_any else foreign_reason(out)
            if reason:
                _refuse_foreign(out, reason)
    _probe_writable(out)


def _probe_writable(out: Path) -> None:
    """Creates and removes a folder where `out`'s temporary folder will go, so an unwritable place fails now."""
    at = Path(os.path.abspath(out)).parent
    while not at.exists() and at != at.parent:
        at = at.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".adm-probe-", dir=at))
    except OSError as e:
        raise OutputFolderError(f"{out} cannot be written: {e.strerror} in {at}") from None


@contextmanager
def output_folder(out: Path, kind: str = "pack", replace_any: bool = False) -> Iterator[Path]:
    """Yields the hidden folder to fill (holding the marker already); on success it becomes `out` (replacing an
    existing one as check_output_folder allows), on an exception it is removed. `out` is never resolved: a symbolic
    link there is replaced, not followed."""
    out = Path(os.path.abspath(out))
    check_output_folder(out, replace=True, replace_any=replace_any)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        (tmp / MARKER_NAME).write_text(json.dumps({"writtenBy": WRITTEN_BY, "kind": kind}) + "\n")
        yield tmp
        _rename_into_place(tmp, out, replace_any)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _rename_into_place(tmp: Path, out: Path, replace_any: bool) -> None:
    if not os.path.lexists(out):
        os.rename(tmp, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old = aside / out.name
    os.rename(out, old)  # rename moves a symbolic link itself, never its target
    # Checked again on what was moved aside: the folder may have changed since check_output_folder looked.
    if old.is_symlink():
        reason = None
    elif not old.is_dir():
        reason = "it is not a folder"
    else:
        reason = None if replace_any or not any(old.iterdir()) else foreign_reason(old)
    try:
        if reason:
            _refuse_foreign(out, reason)
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)  # the previous folder back where it was
        os.rmdir(aside)
        raise
    shutil.rmtree(aside, ignore_errors=True)  # a link inside is unlinked, not followed
