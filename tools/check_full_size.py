#!/usr/bin/env python3
"""Opt-in check: full-size official configurations through `adm.convert`, with random weights.

The official checkpoints cannot be downloaded here, so this builds each released architecture with
random weights, saves it exactly as the official files are stored (a flat fp32 state dict), converts it
with `--preset` (strict key/shape loading, ONNX export, manifest) and lets convert's verification run
every graph once under onnxruntime-node against PyTorch. Too slow and memory-hungry for the unit
suite (minutes and several GB per model on 2 cores), hence a separate script:

    /usr/bin/python3 tools/check_full_size.py                       # imagenet64 (+ its classifier)
    /usr/bin/python3 tools/check_full_size.py imagenet128 imagenet256-uncond --no-classifier
    /usr/bin/python3 tools/check_full_size.py imagenet64 --fp16 --keep /tmp/packs

Exit code 0 when every conversion (and its verification) succeeded.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from adm.convert import main as convert_main  # noqa: E402
from adm.pack import read_pack  # noqa: E402
from adm.presets import CONVERT_PRESETS, build_model, get_preset, randomize_zero_init  # noqa: E402


def save_random(kind: str, cfg, path: Path, seed: int) -> int:
    torch.manual_seed(seed)
    model = build_model(kind, cfg, init="random")
    randomize_zero_init(model, seed=seed, std=0.02)
    n = sum(p.numel() for p in model.parameters())
    torch.save(model.state_dict(), path)
    del model
    return n


def check(name: str, work: Path, with_classifier: bool, fp16: bool, keep: Path | None) -> dict:
    preset = get_preset(name)
    t0 = time.time()
    unet_pt = work / f"{name}_unet.pt"
    n_unet = save_random("unet", preset.unet, unet_pt, seed=1)
    argv = ["--preset", name, "--unet", str(unet_pt)]
    n_cls = 0
    if with_classifier and preset.classifier is not None:
        cls_pt = work / f"{name}_classifier.pt"
        n_cls = save_random("classifier", preset.classifier, cls_pt, seed=2)
        argv += ["--classifier", str(cls_pt)]
    t_build = time.time() - t0
    out = (keep / name) if keep else work / f"{name}_pack"
    argv += ["--out", str(out), "--force"]
    if fp16:
        argv.append("--fp16")
    t1 = time.time()
    code = convert_main(argv)
    t_convert = time.time() - t1
    result = {"preset": name, "exit_code": code, "unet_params": n_unet, "classifier_params": n_cls,
              "build_and_save_s": round(t_build, 1), "convert_s": round(t_convert, 1)}
    if code == 0:
        m = read_pack(out)
        result["files"] = {k: {"file": m[k]["file"], "dtype": m[k]["dtype"], "MiB": round(m[k]["bytes"] / 2**20, 1)}
                           for k in ("unet", "unetFp16", "classifierGrad") if k in m}
    for p in work.glob(f"{name}_*.pt"):
        p.unlink()
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("presets", nargs="*", default=["imagenet64"], help=f"any of {', '.join(CONVERT_PRESETS)}")
    ap.add_argument("--no-classifier", action="store_true", help="convert the U-Net only")
    ap.add_argument("--fp16", action="store_true", help="also export and verify the fp16 U-Net")
    ap.add_argument("--keep", type=Path, help="keep the packs in this folder")
    ap.add_argument("--workdir", type=Path, help="where the temporary .pt files go (needs ~2x model size)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    work = Path(tempfile.mkdtemp(prefix="adm-fullsize-", dir=args.workdir))
    ok = True
    try:
        for name in args.presets:
            r = check(name, work, not args.no_classifier, args.fp16, args.keep)
            print(json.dumps(r), flush=True)
            ok = ok and r["exit_code"] == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
