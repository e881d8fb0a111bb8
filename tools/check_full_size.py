#!/usr/bin/env python3
"""Opt-in check: full-size official configurations through `adm.cli.convert`, with random weights.

The official checkpoints cannot be downloaded here, so this builds each released architecture with
random weights, saves it exactly as the official files are stored (a flat fp32 state dict), converts it
with `--preset` (strict key/shape loading, ONNX export, manifest) and lets convert's verification run
every graph once under onnxruntime-node against PyTorch. Too slow and memory-hungry for the unit
suite (minutes and several GB per model on 2 cores), hence a separate script:

    /usr/bin/python3 tools/check_full_size.py                       # imagenet64 (+ its classifier)
    /usr/bin/python3 tools/check_full_size.py imagenet128 imagenet256-uncond --no-classifier
    /usr/bin/python3 tools/check_full_size.py imagenet64 --fp16 --keep /tmp/packs
    /usr/bin/python3 tools/check_full_size.py imagenet64 --narrow --browser  # the whole pipeline, small

--browser then loads each converted pack in the built app in headless Chromium on the wasm EP and runs
one step (tools/fullsize_browser.ts): time to "Ready", first step, peak memory of the Chromium processes
(RSS and PSS sums), or the app's refusal with its reason, under "browser" in the preset's JSON line
(docs/benchmarks.md, "Full-size packs in Chromium"). --narrow converts the same flags with small widths
(narrowed()), for trying the pipeline in about a minute; its numbers say nothing about the full size.

Exit code 0 when every conversion (and its verification) succeeded, and with --browser every pack either
ran its step or was refused up front.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from adm.cli.convert import main as convert_main  # noqa: E402
from adm.flags import parse_classifier_flags, parse_model_flags  # noqa: E402
from adm.pack import read_pack  # noqa: E402
from adm.presets import CONVERT_PRESETS, build_model, get_preset, randomize_zero_init  # noqa: E402


# --narrow: small widths of the same flags (also tools/device/make_fullsize.py's CPU try-out).
NARROW_MODEL = dict(num_channels=64, num_res_blocks=1)
NARROW_CLASSIFIER = dict(classifier_width=64, classifier_depth=1)


def narrowed(flags: str, **repl: object) -> str:
    """`flags` with each `--key value` of `repl` replaced (or appended when absent)."""
    for k, v in repl.items():
        flags, n = re.subn(rf"--{k} \S+", f"--{k} {v}", flags)
        if not n:
            flags += f" --{k} {v}"
    return flags


def save_random(kind: str, cfg, path: Path, seed: int) -> int:
    torch.manual_seed(seed)
    model = build_model(kind, cfg, init="random")
    randomize_zero_init(model, seed=seed, std=0.02)
    n = sum(p.numel() for p in model.parameters())
    torch.save(model.state_dict(), path)
    del model
    return n


def check(name: str, work: Path, with_classifier: bool, fp16: bool, keep: Path | None, narrow: bool = False,
          browser: list | None = None) -> dict:
    """Converts preset `name` with random weights; `browser`: the fullsize_browser.ts command to run on the pack."""
    preset = get_preset(name)
    unet_cfg, cls_cfg = preset.unet, preset.classifier if with_classifier else None
    if narrow:  # the preset's flags with small widths, converted from flags instead of --preset
        mflags = narrowed(preset.extra["model_flags"], **NARROW_MODEL)
        unet_cfg = parse_model_flags(mflags).unet
        argv = ["--unet-flags", mflags, "--name", f"{name}-narrow", "--title", f"{name} narrowed, random weights"]
        if cls_cfg is not None:
            cflags = narrowed(preset.extra["classifier_flags"], **NARROW_CLASSIFIER)
            cls_cfg = parse_classifier_flags(cflags, image_size=unet_cfg.image_size).classifier
            argv += ["--classifier-flags", cflags]
    else:
        argv = ["--preset", name]
    t0 = time.time()
    unet_pt = work / f"{name}_unet.pt"
    n_unet = save_random("unet", unet_cfg, unet_pt, seed=1)
    argv += ["--unet", str(unet_pt)]
    n_cls = 0
    if cls_cfg is not None:
        cls_pt = work / f"{name}_classifier.pt"
        n_cls = save_random("classifier", cls_cfg, cls_pt, seed=2)
        argv += ["--classifier", str(cls_pt)]
    t_build = time.time() - t0
    out = (keep / name) if keep else work / f"{name}_pack"
    argv += ["--out", str(out), "--force"]
    if fp16:
        argv.append("--fp16")
    t1 = time.time()
    code = convert_main(argv)
    t_convert = time.time() - t1
    result = {"preset": name, "narrow": narrow, "exit_code": code, "unet_params": n_unet, "classifier_params": n_cls,
              "build_and_save_s": round(t_build, 1), "convert_s": round(t_convert, 1)}
    for p in work.glob(f"{name}_*.pt"):
        p.unlink()  # before the browser run: they are as big as the pack
    if code == 0:
        m = read_pack(out)
        result["files"] = {k: {"file": m[k]["file"], "dtype": m[k]["dtype"], "MiB": round(m[k]["bytes"] / 2**20, 1),
                               **({"externalMiB": round(sum(e["bytes"] for e in m[k]["externalData"]) / 2**20, 1)}
                                  if m[k].get("externalData") else {})}
                           for k in ("unet", "unetFp16", "classifierGrad") if k in m}
        if browser is not None:
            result["browser"] = run_browser(browser, out)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def browser_command(timeout_s: int) -> list:
    return [str(ROOT / "node_modules" / ".bin" / "tsx"), str(ROOT / "tools" / "fullsize_browser.ts"),
            "--ep", "wasm", "--steps", "1", "--timeout-s", str(timeout_s)]


def run_browser(cmd: list, pack: Path) -> dict:
    """The JSON line tools/fullsize_browser.ts prints; a crash of the script itself becomes {outcome: error}.
    Builds the app on the first call only (the command is changed in place to --no-build)."""
    timeout_s = int(cmd[cmd.index("--timeout-s") + 1]) * 2 + 600  # load + step, and the build
    try:
        r = subprocess.run(cmd + ["--pack", str(pack)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"outcome": "error", "error": f"fullsize_browser.ts did not finish within {timeout_s} s"}
    sys.stderr.write(r.stderr)
    lines = r.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"outcome": "error", "exit_code": r.returncode, "error": (r.stderr.strip().splitlines() or ["no output"])[-1]}
    if "--no-build" not in cmd:
        cmd.append("--no-build")  # it got as far as a result, so the build is there
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("presets", nargs="*", default=["imagenet64"], help=f"any of {', '.join(CONVERT_PRESETS)}")
    ap.add_argument("--no-classifier", action="store_true", help="convert the U-Net only")
    ap.add_argument("--fp16", action="store_true", help="also export and verify the fp16 U-Net")
    ap.add_argument("--keep", type=Path, help="keep the packs in this folder")
    ap.add_argument("--workdir", type=Path, help="where the temporary .pt files go (needs ~2x model size)")
    ap.add_argument("--narrow", action="store_true", help="the same flags with small widths: a quick try of the pipeline")
    ap.add_argument("--browser", action="store_true",
                    help="load each pack in headless Chromium (wasm EP) and run one step: tools/fullsize_browser.ts")
    ap.add_argument("--browser-timeout-s", type=int, default=1800, help="limit for the load and for the step")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    work = Path(tempfile.mkdtemp(prefix="adm-fullsize-", dir=args.workdir))
    browser = browser_command(args.browser_timeout_s) if args.browser else None
    ok = True
    try:
        for name in args.presets:
            r = check(name, work, not args.no_classifier, args.fp16, args.keep, args.narrow, browser)
            print(json.dumps(r), flush=True)
            ok = ok and r["exit_code"] == 0 and r.get("browser", {}).get("outcome", "ran") in ("ran", "refused")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
