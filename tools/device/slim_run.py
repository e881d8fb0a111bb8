"""What a GPU training run sends back (tools/device/train_pack.sh): the EMA weights of both networks, in parts that
fit the device tool's file limits, and the run folder make-pack needs, rebuilt from those parts.

    python3 tools/device/slim_run.py export RUN OUT [--part-mib 15]   # on the GPU machine
    python3 tools/device/slim_run.py join DIR RUN                      # here: DIR holds the parts and weights.json

`export` keeps of each checkpoint what make-pack reads (config, classes, EMA weights, step/seen/elapsed, the
classifier's val accuracy) and drops the live weights and the optimizer state; the EMA weights travel as float16
(the wide U-Net's float32 EMA alone, 86 MB, exceeds the 64 MiB one call brings back). make-pack loads them into
float32 networks: the pack's float16 graph is exactly what a float32 EMA would have given, its float32 graph
carries the float16 rounding (relative 2^-11 per weight).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

KEEP = ("kind", "config", "diffusion", "wnids", "step", "seen", "elapsed", "world_size", "init_from", "val_acc",
        "val_images", "val_acc_step", "train_args")
KINDS = ("unet", "classifier")
META = "weights.json"


def _load(path: Path) -> dict:
    from adm.checkpoint_io import load_checkpoint
    try:
        return load_checkpoint(path)
    except Exception:  # a torch whose private reader changed (the GPU machine's 2.x): its own safe loader
        return torch.load(path, map_location="cpu", weights_only=True)


def export(run: Path, out: Path, part_mib: float) -> dict:
    slim = {}
    for kind in KINDS:
        ck = _load(run / f"{kind}.pt")
        slim[kind] = {k: ck.get(k) for k in KEEP}
        slim[kind]["ema"] = {k: v.half() if v.is_floating_point() else v for k, v in ck["ema"].items()}
        slim[kind]["ema_dtype"] = "float16"
    buf = io.BytesIO()
    torch.save(slim, buf)
    data = buf.getvalue()
    size = max(1, int(part_mib * 1048576))
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, len(data), size):
        name = f"weights.part-{i // size:02d}"
        (out / name).write_bytes(data[i:i + size])
        parts.append(name)
    meta = dict(parts=parts, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                runs={k: dict(step=slim[k]["step"], seen=slim[k]["seen"], seconds=round(slim[k]["elapsed"], 1),
                              imagesPerSecond=round(slim[k]["seen"] / max(slim[k]["elapsed"], 1e-9), 1)) for k in KINDS})
    (out / META).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def join(folder: Path, run: Path) -> dict:
    meta = json.loads((folder / META).read_text())
    missing = [p for p in meta["parts"] if not (folder / p).is_file()]
    if missing:
        raise SystemExit(f"slim_run: {folder} lacks {', '.join(missing)}")
    data = b"".join((folder / p).read_bytes() for p in meta["parts"])
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise SystemExit(f"slim_run: the parts in {folder} do not add up to the exported weights (sha256 differs)")
    from adm.checkpoint_io import load_checkpoint
    tmp = run / ".weights.pt"
    run.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(data)
    try:
        slim = load_checkpoint(tmp)  # the same restricted reader as every checkpoint: weights and plain data only
    finally:
        tmp.unlink()
    for kind in KINDS:
        torch.save(slim[kind], run / f"{kind}.pt")
    return meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("run", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--part-mib", type=float, default=15.0)
    j = sub.add_parser("join")
    j.add_argument("folder", type=Path)
    j.add_argument("run", type=Path)
    a = p.parse_args(argv)
    meta = export(a.run, a.out, a.part_mib) if a.cmd == "export" else join(a.folder, a.run)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
