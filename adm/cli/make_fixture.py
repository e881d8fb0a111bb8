"""Test fixtures for the checkpoint-to-page path: random-weight checkpoints in the official format, for a narrowed
configuration, with their templates from the template CLI (and, with --convert, the pack `npm run convert` makes).

    npm run fixture -- --out DIR [--convert] [--seed 1]      # = /usr/bin/python3 -m adm.cli.make_fixture ...
    npm run fixture -- --fp16-cases FILE

DIR/unet.pt, DIR/classifier.pt   flat float32 state dicts saved with torch.save, keys as the released files have them
                                 (NARROW_UNET_FLAGS / NARROW_CLASSIFIER_FLAGS: 64x64, 32 channels, ~1-2 M parameters)
DIR/templates/                   index.json + narrow64_diffusion/ + narrow64_classifier/: the same layout as
                                 public/templates, the folders written by `npm run template -- --kind ... --flags ...`
DIR/pack/                        (--convert) `npm run convert -- --templates DIR/templates --fp16 ...` of the two files
DIR/fixture.json                 the flags, seeds, parameter counts and paths above

Deterministic: the same --seed gives byte-identical files. --fp16-cases writes float32 bit patterns that exercise
every rounding case of the fp16 cast (the exponent range, ties, subnormals, overflow) with numpy's float16 results,
as JSON {"float32Bits": [...], "float16Bits": [...]} for the page's tests.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ..cli_safety import output_folder, sigterm_as_exit
from ..presets import build_model, randomize_zero_init
from ..template_index import write_index
from .template import main as template_cli
from ..templates import spec_from_flags

# The released 64x64 flags, narrowed: one level of attention, two levels (U-Net), 32 channels, one block. The
# classifier's channel multipliers are fixed by image size (create_classifier), hence 64x64 for both.
NARROW_UNET_FLAGS = (
    "--attention_resolutions 32 --channel_mult 1,2 --class_cond True --diffusion_steps 1000 --image_size 64 "
    "--learn_sigma True --noise_schedule cosine --num_channels 32 --num_head_channels 32 --num_res_blocks 1 "
    "--resblock_updown True --use_new_attention_order True --use_fp16 True --use_scale_shift_norm True")
NARROW_CLASSIFIER_FLAGS = (
    "--image_size 64 --classifier_attention_resolutions 8 --classifier_depth 1 --classifier_width 32 "
    "--classifier_pool attention --classifier_resblock_updown True --classifier_use_scale_shift_norm True")
FOLDERS = {"unet": "narrow64_diffusion", "classifier": "narrow64_classifier"}
TITLES = {"unet": "Narrowed 64\u00d764 class-conditional U-Net (test fixture)",
          "classifier": "Narrowed 64\u00d764 noisy classifier (test fixture)"}


def random_checkpoint(slot: str, flags: str, path: Path, seed: int) -> int:
    """Save a random state dict for `flags` at `path` as the official files are saved; returns its parameter
    count. The zero-initialised layers get small random values too, so every weight matters."""
    spec = spec_from_flags(slot, flags)
    torch.manual_seed(seed)
    model = build_model(spec.model_kind, spec.cfg, init="random")
    randomize_zero_init(model, seed=seed, std=0.02)
    torch.save(model.state_dict(), path)
    return sum(p.numel() for p in model.parameters())


def fp16_cases() -> np.ndarray:
    """float32 bit patterns: every exponent with mantissas at and beside the fp16 rounding boundaries, both signs."""
    mants = np.array([0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x2FFF, 0x3000, 0x3001, 0x400000, 0x401000,
                      0x7FEFFF, 0x7FF000, 0x7FFFFF], dtype=np.uint32)
    exps = np.arange(0, 255, dtype=np.uint32)  # every finite exponent
    bits = ((exps[:, None] << 23) | mants[None, :]).ravel()
    return np.concatenate([bits, bits | np.uint32(0x80000000)])


def write_fp16_cases(path: Path) -> None:
    bits = fp16_cases()
    half = bits.view(np.float32).astype(np.float16).view(np.uint16)
    path.write_text(json.dumps({"float32Bits": bits.tolist(), "float16Bits": half.tolist()}) + "\n")


def make_fixture(out: Path, seed: int = 1, convert: bool = False) -> dict:
    with output_folder(out) as tmp:
        flags = {"unet": NARROW_UNET_FLAGS, "classifier": NARROW_CLASSIFIER_FLAGS}
        params = {slot: random_checkpoint(slot, f, tmp / f"{slot}.pt", seed + i)
                  for i, (slot, f) in enumerate(flags.items())}
        for slot, f in flags.items():  # npm run template -- --kind SLOT --flags F --out DIR
            code = template_cli(["--kind", slot, "--flags", f, "--title", TITLES[slot],
                                 "--out", str(tmp / "templates" / FOLDERS[slot])])
            if code != 0:
                raise SystemExit(code)
        write_index(tmp / "templates", list(FOLDERS.values()))
        info = {"seed": seed, "unetFlags": NARROW_UNET_FLAGS, "classifierFlags": NARROW_CLASSIFIER_FLAGS,
                "parameters": params, "unet": "unet.pt", "classifier": "classifier.pt", "templates": "templates"}
        if convert:
            from .convert import main as convert_main

            code = convert_main(["--unet", str(tmp / "unet.pt"), "--unet-flags", NARROW_UNET_FLAGS,
                                 "--classifier", str(tmp / "classifier.pt"), "--classifier-flags",
                                 NARROW_CLASSIFIER_FLAGS, "--templates", str(tmp / "templates"), "--fp16",
                                 "--name", "narrow64", "--title", "narrow 64x64 fixture (random weights)",
                                 "--out", str(tmp / "pack"), "--quiet"])
            if code != 0:
                raise SystemExit(code)
            info["pack"] = "pack"
        (tmp / "fixture.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv: Optional[List[str]] = None) -> int:
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    p = argparse.ArgumentParser(prog="python -m adm.cli.make_fixture", description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="fixture folder to write (replaced if it exists)")
    what.add_argument("--fp16-cases", type=Path, metavar="FILE", help="write the fp16 rounding cases as JSON")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--convert", action="store_true", help="also convert the pair into DIR/pack")
    args = p.parse_args(argv)
    if args.fp16_cases:
        write_fp16_cases(args.fp16_cases)
        return 0
    import warnings

    warnings.simplefilter("ignore")
    info = make_fixture(args.out.resolve(), args.seed, args.convert)
    print(json.dumps({"fixture": str(args.out), **info["parameters"]}))
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("make_fixture"):
        sys.exit(main())
