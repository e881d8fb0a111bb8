"""`npm run make-pack`: a training run into a browser pack (adm.make_pack; its docstring is this command's help)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from ..cli_safety import sigterm_as_exit
from ..pack_format import GUIDANCE_MODES
from ..reference_features import DEFAULT_PER_LABEL
from ..make_pack import __doc__ as USAGE, make_pack


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="npm run make-pack --", description=USAGE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, type=Path, help="training run folder with unet.pt and classifier.pt")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--scale", type=float, default=4.0, help="recommended classifier scale")
    p.add_argument("--respacing", default="ddim25")
    p.add_argument("--ddim", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--guidance-mode", choices=GUIDANCE_MODES, default=None,
                   help="the app's default guidance mode for this pack (default: classifier)")
    p.add_argument("--cfg-scale", type=float, default=None, help="recommended classifier-free scale w")
    p.add_argument("--data", type=Path, default=None,
                   help="ImageFolder with val/: measure the classifier's top-1 on noised val images for the manifest "
                        "(default: copy the training run's measurement when it is of the final weights)")
    p.add_argument("--reference-per-class", type=int, default=DEFAULT_PER_LABEL,
                   help="with --data: the classifier's features at t = 0 of this many val images per class go into the "
                        f"pack for the app's precision/recall (manifest referenceFeatures; default {DEFAULT_PER_LABEL}, "
                        "0: none)")
    p.add_argument("--source", default=None, help="the manifest's source text (default: a summary of the run)")
    p.add_argument("--force", action="store_true",
                   help="replace --out if it is a pack or eval folder this toolkit wrote, or a symbolic link (the "
                        "link is replaced, its target left alone)")
    p.add_argument("--replace-any-folder", action="store_true",
                   help="with --force: replace --out even if it is a folder this toolkit did not write (its contents "
                        "are deleted)")
    a = p.parse_args(argv)
    if a.reference_per_class < 0:
        p.error("--reference-per-class must be >= 0")
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    try:
        out = make_pack(a.run, a.out, a.scale, a.respacing, a.ddim, a.force, a.guidance_mode, a.cfg_scale, a.data,
                        replace_any=a.replace_any_folder, reference_per_label=a.reference_per_class, source=a.source)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"make-pack: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the disk filled up while the pack was written: nothing was published
        print(f"make-pack: error: could not write the pack: {e}", file=sys.stderr)
        return 2
    total = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("make-pack"):  # SIGTERM removes the partial pack like Ctrl-C does
        sys.exit(main())
