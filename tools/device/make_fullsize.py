#!/usr/bin/env python3
"""A full-size ImageNet 64x64 pack with random weights, for timing (what tools/check_full_size.py builds).

    python3 tools/device/make_fullsize.py --out /tmp/device-bench/fullsize [--narrow]

Writes OUT/weights/{unet,classifier}.pt (random state dicts: the released 64x64 flags of adm.presets,
torch.manual_seed 1 and 2 plus randomize_zero_init, exactly as check_full_size.save_random makes them) and
OUT/pack/ (adm.cli.convert with --fp16: unet.onnx, unet.fp16.onnx, classifier_grad.onnx, each with its external-data
file, and manifest.json) plus
OUT/pack/device_torch.json, which tells tools/device/torch_cuda.py to load the same state dicts.

--narrow: the same flags with 64 channels, 1 res block and a 64-wide, depth-1 classifier, for trying the
scripts on a CPU machine (seconds instead of minutes, ~130 MB instead of 1.4 GB). Not a benchmark.
The ONNX Runtime parity check of convert is skipped (--no-verify): the device run compares WebGPU with
PyTorch and ONNX Runtime's CPU EP itself.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import torch  # noqa: E402

from adm.cli.convert import main as convert_main  # noqa: E402
from adm.flags import parse_classifier_flags, parse_model_flags  # noqa: E402
from adm.presets import get_preset  # noqa: E402
from check_full_size import NARROW_CLASSIFIER, NARROW_MODEL, narrowed, save_random  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_cuda import legacy_onnx_export  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--preset", default="imagenet64")
    ap.add_argument("--narrow", action="store_true", help="a small variant of the same flags, for a CPU try-out")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    legacy_onnx_export()
    preset = get_preset(args.preset)
    mflags, cflags = preset.extra["model_flags"], preset.extra["classifier_flags"]
    if args.narrow:
        mflags = narrowed(mflags, **NARROW_MODEL)
        cflags = narrowed(cflags, **NARROW_CLASSIFIER)
    ucfg = parse_model_flags(mflags).unet
    ccfg = parse_classifier_flags(cflags, image_size=ucfg.image_size).classifier
    wdir = args.out / "weights"
    wdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    n_unet = save_random("unet", ucfg, wdir / "unet.pt", seed=1)
    n_cls = save_random("classifier", ccfg, wdir / "classifier.pt", seed=2)
    t1 = time.time()
    pack = args.out / "pack"
    code = convert_main(["--unet-flags", mflags, "--unet", str(wdir / "unet.pt"),
                         "--classifier-flags", cflags, "--classifier", str(wdir / "classifier.pt"),
                         "--out", str(pack), "--force", "--fp16", "--no-verify",
                         "--name", f"{args.preset}-random" + ("-narrow" if args.narrow else ""),
                         "--title", f"{args.preset} random weights (device benchmark)"])
    if code != 0:
        print(json.dumps({"make_fullsize": "convert failed", "exit_code": code}))
        return code
    (pack / "device_torch.json").write_text(json.dumps({
        "modelFlags": mflags, "classifierFlags": cflags,
        "unet": "../weights/unet.pt", "classifier": "../weights/classifier.pt"}, indent=1) + "\n")
    m = json.loads((pack / "manifest.json").read_text())
    print(json.dumps({"make_fullsize": str(pack), "preset": args.preset, "narrow": args.narrow,
                      "unet_params": n_unet, "classifier_params": n_cls,
                      "random_s": round(t1 - t0, 1), "convert_s": round(time.time() - t1, 1),
                      "files": {k: {"file": m[k]["file"], "MiB": round((m[k]["bytes"] + sum(
                          e["bytes"] for e in m[k].get("externalData", []))) / 2**20, 1)}
                                for k in ("unet", "unetFp16", "classifierGrad") if k in m}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
