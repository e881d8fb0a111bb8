"""Small guards shared by the command lines that write folders atomically (convert, make-pack, eval, judge).

`sigterm_as_exit`: those writers build their output in a hidden temp folder beside the destination and
remove it in an `except BaseException` / `finally` block, which covers Ctrl-C (KeyboardInterrupt) but not
SIGTERM, whose default action ends the process on the spot. While the context is active, the first
SIGTERM raises SystemExit(143) in the main thread instead, so the same cleanup runs; further SIGTERMs
during the cleanup are ignored. The exit status is 143 (128 + SIGTERM), as a shell reports a
SIGTERM-killed process.

`blocking_file`: the first existing ancestor of an output folder that is not a folder, if any, so the
CLIs can say "--out cannot be created below a file" instead of failing in mkdir with a traceback.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

SIGTERM_EXIT = 128 + int(signal.SIGTERM)


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
