"""Drawing an eval row's samples with the Node sampler (tools/sample.ts, the browser's sampling loop on
onnxruntime-node), and reading back rows kept in a samples folder."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from .eval_plan import REPO, Plan
from .eval_rows import EvalError, fmt_scale


def tsx_command() -> List[str]:
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        raise EvalError(f"{tsx} is missing: run `npm install` (the eval samples with the Node sampler)")
    return [str(tsx), str(REPO / "tools" / "sample.ts")]


def sampler_guidance_args(mode: str, scale: float, cfg_scale: float) -> List[str]:
    """The sampler's guidance flags for one row (the mode always explicit: a pack may recommend another)."""
    if mode == "cfg":
        return ["--mode", "cfg", "--cfg-scale", repr(float(cfg_scale))]
    if mode == "both":
        return ["--mode", "both", "--scale", repr(float(scale)), "--cfg-scale", repr(float(cfg_scale))]
    args = ["--mode", "classifier", "--scale", repr(float(scale))]
    return args + (["--unconditional"] if mode == "uncond" else [])


def _json_or_none(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def run_sampler(plan: Plan, mode: str, scale: float, per_class: int, seed: int, batch: int, threads: int,
                save_dir: Path, on_progress, cfg_scale: float = 0.0, batch_range: Optional[Tuple[int, int]] = None) -> Dict:
    """One sampler run (all classes, per_class each; with batch_range only those batches of it); returns its JSON
    summary. on_progress(done, total) gets the sampler's step counter, read from its --progress-json lines."""
    n = per_class * len(plan.classes)
    cmd = tsx_command() + [
        "--pack", str(plan.pack_dir), "--class", ",".join(str(c.imagenet) for c in plan.classes),
        *sampler_guidance_args(mode, scale, cfg_scale), "--respacing", plan.respacing,
        "--ddim" if plan.ddim else "--no-ddim",
        "--seed", str(seed), "--batch", str(min(batch, n)), "--num-samples", str(n),
        "--save-samples", str(save_dir), "--threads", str(threads), "--progress-json"]
    if batch_range is not None:
        cmd += ["--batch-range", f"{batch_range[0]},{batch_range[1]}"]
    save_dir.parent.mkdir(parents=True, exist_ok=True)
    summary = None
    with open(save_dir.parent / f"{save_dir.name}.stderr.txt", "w+") as err:
        proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=subprocess.PIPE, stderr=err, text=True,
                                env=dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE")))
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                record = _json_or_none(line)
                if isinstance(record, dict) and isinstance(record.get("progress"), dict):
                    on_progress(int(record["progress"]["step"]), int(record["progress"]["total"]))
                elif record is not None:
                    summary = record  # the last line: the run's summary
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        tail = [ln.rstrip() for ln in err.read().replace("\r", "\n").splitlines() if ln.strip()][-30:]
    os.remove(err.name)
    if rc != 0 or summary is None:
        raise RuntimeError(f"sampler failed (exit {rc}) for {mode} scale {fmt_scale(scale)}:\n  "
                           + "\n  ".join(tail) + f"\n  command: {' '.join(cmd)}")
    with open(save_dir / "summary.json", "w") as f:  # marks the row's samples complete (--samples-dir)
        json.dump(summary, f)
    return summary


def kept_summary(save_dir: Path, plan: Plan, mode: str, scale: float, cfg_scale: float, n: int, seed: int,
                 batch: int) -> Optional[Dict]:
    """The sampler summary of a complete row kept in save_dir when its settings are this row's, else None. A kept row
    with more samples also serves when n is a whole number of its batches: batch b's noise is createGaussianRng(seed, b)
    and classes cycle by sample index, so its first n samples are what an n-sample run draws."""
    try:
        summary = json.loads((save_dir / "summary.json").read_text())
        st = summary["settings"]
        same = (summary["pack"] == plan.manifest["name"]
                and st["classes"] == ",".join(str(c.imagenet) for c in plan.classes)
                and st["mode"] == ("classifier" if mode in ("cond", "uncond") else mode)
                and float(st.get("scale") or 0) == (0.0 if mode == "cfg" else scale)
                and float(st.get("cfgScale") or 0) == (cfg_scale if mode in ("cfg", "both") else 0.0)
                and bool(st.get("unconditional")) == (mode == "uncond") and st.get("guidanceInterval") is None
                and st["respacing"] == plan.respacing and st["ddim"] == plan.ddim and st["seed"] == seed
                and st["batch"] == min(batch, n)
                and (st["numSamples"] == n or (st["numSamples"] > n and n % st["batch"] == 0))
                and (save_dir / "samples.json").is_file())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return summary if same else None


def load_samples(save_dir: Path, n: Optional[int] = None) -> Tuple[torch.Tensor, List[Dict]]:
    """The first n (default all) samples of a sampler run kept in save_dir, as uint8 N x 3 x H x W, and their records."""
    with open(save_dir / "samples.json") as f:
        info = json.load(f)
    recs = sorted(info["samples"], key=lambda s: s["index"])[:n]
    imgs = []
    for s in recs:
        with Image.open(save_dir / s["file"]) as im:
            imgs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    return x, recs
