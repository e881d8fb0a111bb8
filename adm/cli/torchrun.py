"""`torchrun` for this project: PyTorch's own launcher (torch.distributed.run), taking the same arguments.

    npm run torchrun -- --standalone --nproc_per_node 2 -m adm.cli.train --data ... --out ... --model unet --max-minutes 60
    python3 -m adm.cli.torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 -m adm.cli.train ...

Why not plain `torchrun` everywhere: torch 1.13's launcher (Debian's, the one scripts/py.sh runs) turns
--redirects and --tee (default "0") into flags with `for s in Std: if s == v`, and on Python 3.11 iterating
an IntFlag no longer yields its zero member NONE (nor the alias ALL), so it hands None on and crashes in
`to_map` before starting any worker. This module replaces that parser with `Std(int(v))` when, and only
when, the installed one is broken, then runs torch.distributed.run unchanged; on a current torch it changes
nothing. (Plain torchrun on torch 1.13 + Python 3.11 works too given `--redirects 1 --tee 1`.)
"""
from __future__ import annotations

import re
import sys


def _parse_std(cls, vm: str):
    if re.fullmatch(r"[0-3]", vm):
        return cls(int(vm))
    if re.fullmatch(r"[0-9]+:[0-3](,[0-9]+:[0-3])*", vm):
        return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} is neither a mask 0..3 nor a mapping like 0:1,1:2 (--redirects / --tee)")


def repair_std_parser() -> bool:
    """Fix Std.from_str if it drops the zero flag; True when it was broken."""
    from torch.distributed.elastic.multiprocessing.api import Std

    if Std.from_str("0") is not None and Std.from_str("3") is not None:
        return False
    Std.from_str = classmethod(_parse_std)
    return True


def main(argv=None) -> int:
    repair_std_parser()
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main as torchrun_main

    try:
        torchrun_main(argv if argv is not None else sys.argv[1:])
    except SignalException as e:  # the launcher passed the signal on to its workers (adm.train saves and stops)
        sig = int(getattr(e, "sigval", 15))
        print(f"torchrun: stopped by signal {sig}; the workers were asked to stop", file=sys.stderr)
        return 128 + sig
    return 0


if __name__ == "__main__":
    sys.exit(main())
