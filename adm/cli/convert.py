"""`npm run convert`: guided-diffusion checkpoints into a browser pack (adm.convert; usage in its docstring).
Exit status 2 for bad input (one paragraph on stderr, nothing left in --out), 1 when the ONNX Runtime check fails."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import torch

from ..cli_safety import sigterm_as_exit
from ..convert import convert
from ..convert_input import ConvertError
from ..pack import OnnxRunError, VerificationError
from ..presets import CONVERT_PRESETS

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="npm run convert --",
        description="Convert guided-diffusion checkpoints into a browser model pack (docs/pack-format.md).")
    p.add_argument("--unet", required=True, help="diffusion model checkpoint (.pt, official format)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--unet-flags", help='the model\'s MODEL_FLAGS, e.g. "--attention_resolutions 32,16,8 '
                                          '--class_cond True ... --use_scale_shift_norm True"')
    src.add_argument("--preset", help=f"an official configuration instead of flags: {', '.join(CONVERT_PRESETS)}")
    p.add_argument("--classifier", help="noisy-classifier checkpoint (.pt); adds the guidance gradient graph")
    p.add_argument("--classifier-flags", help='classifier flags, e.g. "--classifier_depth 4" (defaults: '
                                              'classifier_defaults, image size from the U-Net flags)')
    p.add_argument("--upsampler", help="super-resolution checkpoint (.pt, e.g. 64_256_upsampler.pt): the cascade's "
                                       "second stage, taking the base model's samples as low_res")
    p.add_argument("--upsampler-flags", help='the upsampler\'s MODEL_FLAGS as released, e.g. "--attention_resolutions '
                                             '32,16,8 --class_cond True ... --large_size 256 --small_size 64 ..."')
    p.add_argument("--upsampler-respacing", help='the upsampler\'s recommended respacing (default: its flags\' '
                                                 'timestep_respacing, else "250")')
    p.add_argument("--upsampler-ddim", action="store_true", help="recommend DDIM for the upsampler (default: "
                                                                 "ancestral, as super_res_sample.py)")
    p.add_argument("--upsampler-fp16", action="store_true", help="store the upsampler in fp16 instead of fp32")
    p.add_argument("--out", required=True, help="pack folder to create")
    p.add_argument("--fp16", action="store_true", help="also write an fp16 U-Net (unet.fp16.onnx)")
    p.add_argument("--force", action="store_true",
                   help="replace a non-empty --out that is a pack or eval folder this toolkit wrote, or a symbolic "
                        "link (the link is replaced, its target left alone)")
    p.add_argument("--replace-any-folder", action="store_true",
                   help="with --force: replace --out even if this toolkit did not write it (its contents are deleted)")
    p.add_argument("--name", help="pack id (default: preset name or checkpoint file name)")
    p.add_argument("--title", help="pack title shown in the app")
    p.add_argument("--classifier-scale", type=float, help="recommended guidance scale (default: preset table)")
    p.add_argument("--respacing", help='recommended timestep respacing, e.g. "250" or "ddim25" (default: preset)')
    ddim = p.add_mutually_exclusive_group()
    ddim.add_argument("--use-ddim", dest="use_ddim", action="store_true", default=None)
    ddim.add_argument("--no-ddim", dest="use_ddim", action="store_false")
    p.add_argument("--license", help="licence note stored in the manifest")
    p.add_argument("--templates", help="a folder of graph templates with its index.json (default: public/templates); "
                                       "flags without a template there get one made on the spot")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime parity check")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    raw = list(sys.argv[1:] if argv is None else argv)
    # a flag-string value such as "--image_size=64" (no space) would look like an option to argparse
    argv, i = [], 0
    while i < len(raw):
        if raw[i] in ("--unet-flags", "--classifier-flags", "--upsampler-flags") and i + 1 < len(raw):
            argv.append(f"{raw[i]}={raw[i + 1]}")
            i += 2
        else:
            argv.append(raw[i])
            i += 1
    args = build_parser().parse_args(argv)
    try:
        convert(args)
    except ConvertError as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (VerificationError, OnnxRunError) as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return EXIT_INTERNAL
    except OSError as e:  # --out changed under us, or the disk filled up: nothing was published
        print(f"convert: error: could not write the pack: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("convert"):  # SIGTERM removes the partial pack like Ctrl-C does
        sys.exit(main())
