"""`python -m adm.cli.make_tiny_pack`: the tiny random-weight test packs of adm.tiny_pack (usage in its docstring)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from ..tiny_pack import __doc__ as USAGE, make_pack


def main(argv=None) -> int:
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    p = argparse.ArgumentParser(prog="python -m adm.cli.make_tiny_pack", description=USAGE.split("\n")[0])
    p.add_argument("--out", help="pack folder (replaced; default public/models/tiny16, or tiny16up with --cascade)")
    p.add_argument("--cascade", action="store_true", help="add a 16 -> 32 upsampler (the cascade test pack)")
    p.add_argument("--external-data", action="store_true", help="write every graph with an external-data file")
    p.add_argument("--replace-any-folder", action="store_true",
                   help="replace --out even if this toolkit did not write it (its contents are deleted)")
    args = p.parse_args(argv)
    out_arg = args.out or ("public/models/tiny16up" if args.cascade else "public/models/tiny16")
    try:
        out = make_pack(Path(out_arg), args.cascade, 0 if args.external_data else None, args.replace_any_folder)
    except OSError as e:  # adm.cli_safety.OutputFolderError (--out below a file, not ours, unwritable), disk full
        print(f"make_tiny_pack: error: {e}", file=sys.stderr)
        return 2
    total = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({total / 1024:.0f} KiB): " + ", ".join(sorted(f.name for f in out.iterdir())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    from ..cli_safety import sigterm_as_exit

    with sigterm_as_exit("make_tiny_pack"):  # SIGTERM removes the partial pack like Ctrl-C does
        sys.exit(main())
