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
because a file stands in its place or above it (one line instead of a traceback from mkdir), or that is not
empty when replacing it was not asked for.
"""
from __future__ import annotations

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


def check_output_folder(out: Path, replace: bool = True) -> None:
    """OutputFolderError unless `out` can become an output folder; a non-empty one only with `replace`."""
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out} exists and is not a folder")
    blocker = blocking_file(out)
    if blocker is not None:
        raise OutputFolderError(f"{out} cannot be created: {blocker} is a file, not a folder")
    if not replace and out.is_dir() and any(out.iterdir()):
        raise OutputFolderError(f"{out} already exists and is not empty; choose another folder or pass --force to "
                                "replace it")


@contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """Yields the hidden folder to fill; on success it becomes `out` (replacing any), on an exception it is removed."""
    out = Path(out)
    check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
        _rename_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _rename_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, aside / out.name)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(aside / out.name, out)  # the previous folder back where it was
        os.rmdir(aside)
        raise
    shutil.rmtree(aside, ignore_errors=True)
