"""The paper's fidelity/diversity trade-off on a pack, scored by an independent judge classifier.

    npm run eval -- --pack public/models/imagenette64 --data ../shared/data/imagenette-64 --scales 0,1,2,4,8
    npm run eval -- --pack ... --data ... --modes classifier,cfg,both --scales 0,1,2,4 --cfg-scales 0,1,3,5

For each mode and scale, the Node sampler (tools/sample.ts, the browser's sampling loop on
onnxruntime-node) draws --samples-per-class images for every class of the pack:
  cond        the class-conditional U-Net gets the class, the classifier gradient steers on top
              (one row per --scales value);
  classifier  the same as cond, under the guidance-mode name (give one of the two);
  uncond      the U-Net gets the pack's unconditionalLabel, only the classifier steers (the paper's
              "unconditional model + classifier guidance");
  cfg         classifier-free guidance (Ho & Salimans): the U-Net on the class and on the null label in
              one batch of 2N, no classifier (one row per --cfg-scales value);
  both        classifier-free and classifier guidance together (one row per non-zero pair of
              --both-scales x --both-cfg-scales, which default to --scales and --cfg-scales).
Every row uses the same seed, so the runs start from the same noise. Each row records msPerImage, the
sampler's time per image (CFG doubles the U-Net batch, classifier guidance adds the gradient graph):
compare modes at equal cost with it.

The judge (adm/judge.py: a small ResNet trained on clean train images only, never used for guidance)
scores the samples: accuracy on the requested class (fidelity), mean judge log p of the requested
class, the Fréchet distance between Gaussian fits of its penultimate features for the samples
and for the val images (diversity + quality), and the paper's other metrics on the same judge
(adm/eval_scores.py): precision and recall of its features against as many real val images (k = 3),
and the Inception-Score analogue of its softmax; every number has a 95% bootstrap interval (ci). The guidance classifier's own final log p (from the
sampler) is recorded beside them. Reference rows: the judge on real val images, and the FD of real
train images vs val, with as many images as one sample set (the floor at this sample size) and
with up to --ref-per-class per class.

Rows that sample the same thing (cfg w 0 and classifier scale 0) are sampled once. --samples-dir keeps each
row's samples in <dir>/<row tag>/ and reuses a row found there with the same sampler settings, so an
interrupted eval resumes and a new judge rescores without sampling again; a kept row with more samples serves a
smaller --samples-per-class that is whole sampler batches with its first samples (the same images; row firstOfKept).

Writes to --out (atomically: a temp folder renamed at the end): eval.json, eval.png (the plot),
tradeoff.png (precision and recall against the scale, IS against FD) and grids/<mode>_scale<S>.png, cfg_w<W>.png, both_scale<S>_w<W>.png (one row per class). JSON summary on stdout, progress on stderr.
Bad input exits with status 2 before any sampling.

Sampling scales out (adm/eval_shards.py): under torchrun every rank draws a part and rank 0 scores the whole;
on separate machines, `--shard I/N` draws part I into --out and `--merge DIR...` scores the parts. Either way
the report is the one-process report with the same seed, timings aside.
    npm run torchrun -- --standalone --nproc_per_node 4 -m adm.eval --pack ... --data ... --out ...
    npm run eval -- --pack P --data D --shard 0/2 --out s0     (and --shard 1/2 --out s1 elsewhere)
    npm run eval -- --pack P --data D --merge s0 s1 --out runs/eval/P
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from .cli_safety import OutputFolderError, check_output_folder, output_folder, sigterm_as_exit
from .data import IMAGENET_WNIDS_PATH, DataError, list_classes, load_image_folder
from .eval_scores import METRICS_NOTE, class_balanced_subset, set_scores
from .frechet import gaussian_fit
from .images import save_grid
from .judge import DEFAULT_JUDGE_PATH, TrainSettings, judge_images, load_judge, run_training
from .manifest import ManifestError, respacing_step_count
from .pack import read_pack
from .plot import GREY, color, line_chart, nice_ticks
from .tradeoff_plot import plot_tradeoff
from .progress import Progress

REPO = Path(__file__).resolve().parents[1]


def shown_path(p: Path) -> str:
    """A path as eval.json records it: relative to the repository when inside it or beside it (its results get
    published in docs/, which must not name a machine's folders), else as given."""
    full = Path(p).resolve()
    bases = [(REPO, "")] + ([(REPO.parent, "../")] if REPO.parent != REPO.parent.parent else [])
    for base, prefix in bases:
        try:
            return prefix + str(full.relative_to(base))
        except ValueError:
            continue
    return str(p)


MODES = ("cond", "uncond", "classifier", "cfg", "both")
MODE_TITLES = {"cond": "conditional U-Net + classifier", "uncond": "unconditional U-Net + classifier",
               "classifier": "classifier guidance", "cfg": "classifier-free guidance",
               "both": "classifier + classifier-free"}
CLASSIFIER_MODES = ("cond", "uncond", "classifier", "both")  # modes that call the classifier


class EvalError(Exception):
    """Bad input: reported as `error: ...` with exit status 2."""


# ---------------------------------------------------------------------------------------------- inputs

def default_classes_tsv() -> Path:
    """The default class list (--classes-tsv): the app's ImageNet class names (src/ui/data/imagenet-classes.json, in
    label order), whose wnids are the repo's adm/imagenet_wnids.txt."""
    return REPO / "src" / "ui" / "data" / "imagenet-classes.json"


def load_class_table(path: Path) -> Dict[int, Tuple[str, str]]:
    """ImageNet index -> (wnid, names) from `index<TAB>wnid<TAB>names` (header row allowed), a plain wnid list
    (one per line, index = line number) or a JSON list of names in label order (wnids from the repo's list)."""
    if not path.is_file():
        raise EvalError(f"--classes-tsv {path} does not exist")
    if path.suffix == ".json":
        wnids = load_class_table(Path(IMAGENET_WNIDS_PATH))
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EvalError(f"{path}: {e}") from None
        if not (isinstance(names, list) and len(names) == len(wnids) and all(isinstance(n, str) for n in names)):
            raise EvalError(f"{path}: expected a JSON list of {len(wnids)} class names in label order")
        return {i: (wnids[i][0], name) for i, name in enumerate(names)}
    table: Dict[int, Tuple[str, str]] = {}
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    if lines and "\t" not in lines[0] and re.fullmatch(r"n\d{8}", lines[0].strip()):
        return {i: (ln.strip(), ln.strip()) for i, ln in enumerate(lines)}
    for n, ln in enumerate(lines):
        parts = ln.split("\t")
        if n == 0 and parts[0].strip().lower() == "index":
            continue
        if len(parts) < 2 or not parts[0].strip().isdigit():
            raise EvalError(f"{path}:{n + 1}: expected `index<TAB>wnid<TAB>names`, got {ln[:80]!r}")
        table[int(parts[0])] = (parts[1].strip(), parts[2].strip() if len(parts) > 2 else parts[1].strip())
    if not table:
        raise EvalError(f"{path} lists no classes")
    return table


def parse_scales(text: str, flag: str = "--scales") -> List[float]:
    items = [s.strip() for s in text.split(",")]
    out = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise EvalError(f"{flag} must be a comma list of numbers, e.g. 0,1,2,4,8 (got {text!r})") from None
        if not math.isfinite(v) or v < 0:
            raise EvalError(f"{flag}: each scale must be a finite number >= 0 (got {s!r})")
        out.append(v)
    if len(set(out)) != len(out):
        raise EvalError(f"{flag} lists a scale twice ({text!r})")
    return sorted(out)


def _fmt_scale(s: float) -> str:
    return f"{s:g}"


def row_tag(mode: str, scale: float, cfg_scale: float) -> str:
    """File-name tag of a row: <mode>_scale<S> (classifier modes, as before), cfg_w<W>, both_scale<S>_w<W>."""
    if mode == "cfg":
        return f"cfg_w{_fmt_scale(cfg_scale)}"
    if mode == "both":
        return f"both_scale{_fmt_scale(scale)}_w{_fmt_scale(cfg_scale)}"
    return f"{mode}_scale{_fmt_scale(scale)}"


def row_label(mode: str, scale: float, cfg_scale: float) -> str:
    if mode == "cfg":
        return f"cfg w {_fmt_scale(cfg_scale)}"
    if mode == "both":
        return f"both s {_fmt_scale(scale)} w {_fmt_scale(cfg_scale)}"
    return f"{mode} scale {_fmt_scale(scale)}"


def respacing_steps(spec: str, diffusion_steps: int = 1000) -> int:
    """Number of sampling steps of a respacing string ("250", "ddim25", "10,10,10"), as the sampler counts them."""
    try:
        return respacing_step_count(diffusion_steps, spec)
    except ValueError as e:
        raise EvalError(f"--respacing {spec!r} is not a respacing like 250, ddim25 or 10,10,10: {e}") from None


@dataclass
class PackClass:
    label: int  # model label
    imagenet: int
    wnid: str
    name: str


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="npm run eval --", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", required=True, help="pack folder (manifest.json + ONNX files)")
    p.add_argument("--data", required=True, help="ImageFolder root with val/ (and train/) <wnid> folders")
    p.add_argument("--scales", default="0,1,2,4,8", help="classifier scales, comma list (default 0,1,2,4,8)")
    p.add_argument("--cfg-scales", default="0,1,3,5",
                   help="classifier-free scales w for --modes cfg and both, comma list (default 0,1,3,5)")
    p.add_argument("--both-scales", default=None,
                   help="classifier scales s of the --modes both rows (default: --scales)")
    p.add_argument("--both-cfg-scales", default=None,
                   help="classifier-free scales w of the --modes both rows (default: --cfg-scales)")
    p.add_argument("--modes", default=None, help="comma list of cond, uncond, classifier, cfg, both "
                   "(default: cond,uncond as far as the pack supports them)")
    p.add_argument("--unconditional", action="store_true", help="only the unconditional mode (= --modes uncond)")
    p.add_argument("--samples-per-class", type=int, default=10)
    p.add_argument("--respacing", default=None, help="timestep respacing (default: the pack's)")
    ddim = p.add_mutually_exclusive_group()
    ddim.add_argument("--ddim", dest="ddim", action="store_true", default=None)
    ddim.add_argument("--no-ddim", dest="ddim", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=25, help="sampler batch size")
    p.add_argument("--judge", default=None, help=f"judge checkpoint (default {DEFAULT_JUDGE_PATH}; trained there if missing)")
    p.add_argument("--judge-minutes", type=float, default=10.0, help="budget when the judge must be trained first")
    p.add_argument("--classes-tsv", default=None, help="ImageNet class list (index, wnid, names)")
    p.add_argument("--ref-per-class", type=int, default=100, help="train images per class for the large FD reference")
    p.add_argument("--out", default=None, help="output folder (default runs/eval/<pack name>); an existing one is "
                                                 "replaced if this toolkit wrote it")
    p.add_argument("--replace-any-folder", action="store_true",
                   help="replace --out even if this toolkit did not write it (its contents are deleted)")
    p.add_argument("--keep-samples", action="store_true", help="keep every sample PNG and samples.json under samples/")
    p.add_argument("--samples-dir", default=None, help="keep each row's samples in DIR/<row tag>/ and reuse rows "
                   "found there with the same sampler settings (resume, or rescore with another judge; a longer "
                   "kept row serves with its first whole batches)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates per interval (default 1000)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("ADM_TORCH_THREADS", "2")))
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="only draw part I of N (0 <= I < N) of the samples into --out, for --merge to score")
    p.add_argument("--merge", nargs="+", type=Path, default=None, metavar="DIR",
                   help="score the samples that --shard runs (all N of them) drew into these folders")
    args = p.parse_args(argv)
    if args.shard is not None and args.merge is not None:
        p.error("give --shard (draw a part) or --merge (score the parts), not both")
    if args.shard is not None:
        m = re.fullmatch(r"(\d+)/(\d+)", args.shard.strip())
        if not m or not int(m[1]) < int(m[2]):
            p.error(f"--shard must be I/N with 0 <= I < N, e.g. 0/4 (got {args.shard!r})")
        args.shard = (int(m[1]), int(m[2]))
    if args.samples_per_class < 1:
        p.error("--samples-per-class must be >= 1")
    if args.batch < 1 or args.threads < 1 or args.ref_per_class < 1 or args.bootstrap < 1:
        p.error("--batch, --threads, --ref-per-class and --bootstrap must be >= 1")
    if args.judge_minutes <= 0:
        p.error("--judge-minutes must be > 0")
    return args


@dataclass
class Plan:
    pack_dir: Path
    manifest: Dict
    classes: List[PackClass]
    classes_tsv: Path
    scales: List[float]
    modes: List[str]
    respacing: str
    steps: int
    ddim: bool
    out: Path
    judge_path: Path
    cfg_scales: List[float] = field(default_factory=list)
    # (mode, classifier scale, cfg scale) per row, in order
    runs: List[Tuple[str, float, float]] = field(default_factory=list)
    both_cfg_scales: Optional[List[float]] = None
    both_scales: Optional[List[float]] = None


def run_list(modes: Sequence[str], scales: Sequence[float], cfg_scales: Sequence[float],
             both_cfg_scales: Optional[Sequence[float]] = None,
             both_scales: Optional[Sequence[float]] = None) -> List[Tuple[str, float, float]]:
    """The rows of an eval: classifier modes per scale, cfg per cfg scale, both per non-zero (scale, cfg scale) with
    the scales from both_scales and both_cfg_scales (default scales and cfg_scales)."""
    runs: List[Tuple[str, float, float]] = []
    for md in modes:
        if md == "cfg":
            runs += [(md, 0.0, w) for w in cfg_scales]
        elif md == "both":
            both_w = cfg_scales if both_cfg_scales is None else both_cfg_scales
            both_s = scales if both_scales is None else both_scales
            runs += [(md, s, w) for s in both_s for w in both_w if s != 0 and w != 0]
        else:
            runs += [(md, s, 0.0) for s in scales]
    return runs


def plan_eval(args) -> Plan:
    """Checks every input that can be checked without the judge; raises EvalError."""
    pack_dir = Path(args.pack)
    try:
        m = read_pack(pack_dir)
    except ManifestError as e:
        raise EvalError(f"--pack: {e}") from None
    scales = parse_scales(args.scales)
    cfg_scales = parse_scales(args.cfg_scales, "--cfg-scales")
    both_cfg_scales = parse_scales(args.both_cfg_scales, "--both-cfg-scales") if args.both_cfg_scales else None
    both_scales = parse_scales(args.both_scales, "--both-scales") if args.both_scales else None
    can_uncond = (not m["classCond"]) or m.get("unconditionalLabel") is not None
    if args.unconditional and args.modes:
        raise EvalError("give --unconditional or --modes, not both")
    if args.unconditional:
        modes = ["uncond"]
    elif args.modes:
        modes = [s.strip() for s in args.modes.split(",") if s.strip()]
        bad = [s for s in modes if s not in MODES]
        if bad or not modes or len(set(modes)) != len(modes):
            raise EvalError(f"--modes must be a comma list of {', '.join(MODES)} (got {args.modes!r})")
        if "cond" in modes and "classifier" in modes:
            raise EvalError("--modes: cond and classifier are the same runs; give one of them")
    else:
        modes = [md for md in MODES if (md == "cond" and m["classCond"]) or (md == "uncond" and can_uncond)]
    if "cond" in modes and not m["classCond"]:
        raise EvalError(f"pack {m['name']} is not class-conditional: only --modes uncond applies")
    if "uncond" in modes and not can_uncond:
        raise EvalError(f"pack {m['name']} has no unconditionalLabel: its U-Net cannot sample unconditionally")
    if "classifier" in modes and not m["classCond"]:
        raise EvalError(f"pack {m['name']} is not class-conditional: use --modes uncond for classifier guidance")
    if any(md in ("cfg", "both") for md in modes) and not (m["classCond"] and m.get("unconditionalLabel") is not None):
        raise EvalError(f"pack {m['name']} has no unconditionalLabel: it cannot use classifier-free guidance "
                        "(--modes cfg, both)")
    if any(md in CLASSIFIER_MODES for md in modes) and any(s != 0 for s in scales) and "classifierGrad" not in m:
        raise EvalError(f"pack {m['name']} has no classifier gradient graph: it cannot be guided (use --scales 0)")
    runs = run_list(modes, scales, cfg_scales, both_cfg_scales, both_scales)
    if "both" in modes and not any(r[0] == "both" for r in runs):
        raise EvalError("--modes both needs a non-zero value in --scales (--both-scales) and in --cfg-scales "
                        "(--both-cfg-scales)")
    respacing = args.respacing or m["sampling"]["timestepRespacing"]
    steps = respacing_steps(respacing, m["diffusion"]["diffusionSteps"])
    ddim = m["sampling"]["useDdim"] if args.ddim is None else args.ddim

    tsv = Path(args.classes_tsv) if args.classes_tsv else default_classes_tsv()
    table = load_class_table(tsv)
    classes = []
    for label, idx in enumerate(m["labels"]):
        if idx not in table:
            raise EvalError(f"ImageNet class {idx} of pack {m['name']} is not in {tsv}")
        classes.append(PackClass(label, idx, *table[idx]))

    data = Path(args.data)
    for split in ("val", "train"):
        try:
            have = set(list_classes(str(data / split)))
        except (FileNotFoundError, ValueError) as e:
            raise EvalError(f"--data: {e}") from None
        missing = [c for c in classes if c.wnid not in have]
        if missing:
            desc = ", ".join(f"{c.wnid} ({c.imagenet} {c.name.split(',')[0]})" for c in missing[:6])
            raise EvalError(f"--data {data} has no {split}/ folders for {len(missing)} of the pack's classes: {desc}"
                            f"{' ...' if len(missing) > 6 else ''}")

    name = m["name"] + (f".shard-{args.shard[0]}-of-{args.shard[1]}" if args.shard else "")
    out = Path(args.out) if args.out else REPO / "runs" / "eval" / name
    try:
        check_output_folder(out, replace_any=args.replace_any_folder)
    except OutputFolderError as e:
        raise EvalError(f"--out {e}") from None
    judge_path = Path(args.judge) if args.judge else REPO / DEFAULT_JUDGE_PATH
    return Plan(pack_dir, m, classes, tsv, scales, modes, respacing, steps, ddim, out, judge_path, cfg_scales, runs,
                both_cfg_scales, both_scales)


# ---------------------------------------------------------------------------------------------- sampling

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
        raise RuntimeError(f"sampler failed (exit {rc}) for {mode} scale {_fmt_scale(scale)}:\n  "
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


def same_samples_key(mode: str, scale: float, cfg_scale: float) -> Tuple[bool, float, float]:
    """Rows with equal keys sample the same images: (null label, classifier scale, cfg scale) as the sampler
    runs them (cfg w = classifier s = 0 is the plain conditional U-Net)."""
    return (mode == "uncond", 0.0 if mode == "cfg" else scale, cfg_scale if mode in ("cfg", "both") else 0.0)


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


# ---------------------------------------------------------------------------------------------- scoring

def score(logits: torch.Tensor, target: torch.Tensor) -> Dict[str, float]:
    logp = torch.log_softmax(logits.double(), -1)
    return dict(judgeAccuracy=(logits.argmax(-1) == target).double().mean().item(),
                judgeLogp=logp[torch.arange(len(target)), target].mean().item())


def per_class_accuracy(logits: torch.Tensor, target: torch.Tensor, classes: Sequence[PackClass],
                       judge_index: Dict[str, int]) -> Dict[str, Optional[float]]:
    correct = logits.argmax(-1) == target
    out: Dict[str, Optional[float]] = {}
    for c in classes:
        sel = target == judge_index[c.wnid]
        out[c.wnid] = round(correct[sel].double().mean().item(), 4) if sel.any() else None
    return out


def _round(v: Optional[float], nd: int = 4) -> Optional[float]:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def interval_text(row: Dict) -> str:
    """'precision 0.61 [0.55, 0.67]  recall ...' for a row's paper metrics."""
    parts = []
    for key, name in (("precision", "precision"), ("recall", "recall"), ("inceptionScore", "IS"), ("fd", "FD"),
                      ("judgeAccuracy", "acc")):
        v, ci = row.get(key), (row.get("ci") or {}).get(key)
        if v is not None:
            parts.append(f"{name} {v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
    return "  ".join(parts)


def prepare_judge(args, plan: Plan):
    """Loads the judge (training one first when the path has none) and checks it knows the pack's classes."""
    if not plan.judge_path.exists():
        print(f"eval: no judge checkpoint at {plan.judge_path}: training one on {args.data}/train for "
              f"{args.judge_minutes:g} min (it is reused next time; `python -m adm.judge` trains one explicitly)",
              file=sys.stderr)
        try:
            run_training(args.data, str(plan.judge_path), TrainSettings(max_minutes=args.judge_minutes),
                         _native_size(Path(args.data)))
        except (FileNotFoundError, ValueError) as e:
            raise EvalError(f"training the judge failed: {e}") from None
    try:
        judge, judge_wnids, judge_info = load_judge(str(plan.judge_path))
    except (FileNotFoundError, ValueError) as e:
        raise EvalError(f"--judge: {e}") from None
    known = set(judge_wnids)
    unknown = [c for c in plan.classes if c.wnid not in known]
    if unknown:
        raise EvalError(f"judge {plan.judge_path} was trained on {len(judge_wnids)} classes without "
                        f"{', '.join(f'{c.wnid} ({c.imagenet})' for c in unknown[:6])}"
                        f"{' ...' if len(unknown) > 6 else ''}: it cannot score this pack")
    return judge, judge_wnids, judge_info


def evaluate(args, plan: Plan, judge_bundle, tmp: Path, drawn: Optional[Dict[str, Dict]] = None) -> Dict:
    """Sample every row (unless `drawn`: tag -> timing of samples already in tmp/samples/<tag>), score, report."""
    t_start = time.time()
    m = plan.manifest

    judge, judge_wnids, judge_info = judge_bundle
    judge_index = {w: i for i, w in enumerate(judge_wnids)}
    size = judge.cfg.image_size
    wnids = [c.wnid for c in plan.classes]

    # reference: real val images (FD target) and real train subsets (FD floors)
    print(f"eval: judge features of the val images ({size}x{size})...", file=sys.stderr)
    val = load_image_folder(args.data, "val", size, wnids=wnids)
    val_target = torch.tensor([judge_index[w] for w in wnids])[val.labels]
    val_logits, val_feats = judge_images(judge, val.images)
    val_fit = gaussian_fit(val_feats.numpy())
    n_set = args.samples_per_class * len(plan.classes)
    # precision/recall reference: as many real val images as one sample set, in the same class proportions
    real_pr = val_feats.numpy()[class_balanced_subset(val.labels.numpy(), args.samples_per_class)]
    reference: Dict[str, Dict] = {
        "note": ("val: real val images (the FD target), scored with their true class. trainSameSize/trainLarge: real "
                 "train images (seen by the judge in training, so their accuracy is optimistic); their FD vs val is the "
                 "floor for a set of that many real images (FD is biased upward at small N: compare a sample set with "
                 "trainSameSize), their precision/recall against the val reference what real images score."),
        "chance": 1.0 / len(plan.classes),
        "val": dict(images=len(val.labels), **{k: _round(v) for k, v in score(val_logits, val_target).items()},
                    inceptionScore=set_scores(val_logits, val_feats, val_target, None, None, 1, args.seed)[0]["inceptionScore"],
                    perClassAccuracy=per_class_accuracy(val_logits, val_target, plan.classes, judge_index)),
        "precisionRecallReference": dict(images=len(real_pr), perClass=args.samples_per_class, split="val"),
    }
    for key, per in (("trainSameSize", args.samples_per_class), ("trainLarge", args.ref_per_class)):
        tr = load_image_folder(args.data, "train", size, wnids=wnids, limit_per_class=per)
        tr_target = torch.tensor([judge_index[w] for w in wnids])[tr.labels]
        tr_logits, tr_feats = judge_images(judge, tr.images)
        values, ci = set_scores(tr_logits, tr_feats, tr_target, real_pr if key == "trainSameSize" else None, val_fit,
                                args.bootstrap, args.seed)
        reference[key] = dict(images=len(tr.labels), perClass=per, **values, ci=ci)

    # samples: one sampler run per row (mode, classifier scale, cfg scale)
    runs = plan.runs or run_list(plan.modes, plan.scales, plan.cfg_scales, plan.both_cfg_scales, plan.both_scales)
    per_run = math.ceil(n_set / min(args.batch, n_set)) * plan.steps
    bar = Progress("eval", total_steps=len(runs) * per_run)
    t_sampling = time.time()
    results = []
    sampled: Dict[Tuple[bool, float, float], Dict] = {}  # same_samples_key -> the row that sampled it
    (tmp / "grids").mkdir(parents=True, exist_ok=True)
    for r, (mode, scale, cfg_scale) in enumerate(runs):
        tag = row_tag(mode, scale, cfg_scale)
        grid = Path("grids") / f"{tag}.png"
        same = sampled.get(same_samples_key(mode, scale, cfg_scale))
        if same is not None:  # e.g. cfg w 0 after classifier scale 0: the same sampler run, scored once
            row = dict(same, mode=mode, scale=scale, cfgScale=cfg_scale, grid=str(grid), sameSamplesAs=same["tag"])
            shutil.copyfile(tmp / same["grid"], tmp / grid)
            results.append(row)
            continue
        # merged shards (`drawn`) are already in tmp/samples; --samples-dir keeps and reuses this process's own rows
        keep_dir = Path(args.samples_dir) / tag if args.samples_dir and drawn is None else None
        save_dir = keep_dir or tmp / "samples" / tag
        t0 = time.time()
        bar.name = f"eval {row_label(mode, scale, cfg_scale)} ({r + 1}/{len(runs)})"

        def progress(done, total, r=r):
            frac = done / max(1, total)
            bar.update(int((r + frac) * per_run), time.time() - t_sampling, int((r + frac) * n_set), {})

        n_row = args.samples_per_class * len(plan.classes)
        summary = drawn[tag] if drawn is not None else (
            kept_summary(keep_dir, plan, mode, scale, cfg_scale, n_row, args.seed, args.batch) if keep_dir else None)
        if summary is None:
            if keep_dir is not None and keep_dir.exists():
                shutil.rmtree(keep_dir)  # another run's or incomplete samples
            summary = run_sampler(plan, mode, scale, args.samples_per_class, args.seed, args.batch, args.threads,
                                  save_dir, progress, cfg_scale=cfg_scale)
        x, recs = load_samples(save_dir, n_row)
        target = torch.tensor([judge_index[plan.classes[s["label"]].wnid] for s in recs])
        logits, feats = judge_images(judge, x)
        row = dict(mode=mode, scale=scale, cfgScale=cfg_scale, numSamples=len(recs), tag=tag)
        kept_n = summary.get("settings", {}).get("numSamples", len(recs))
        if kept_n > len(recs):
            row["firstOfKept"] = kept_n  # the first numSamples of a longer kept run
        values, ci = set_scores(logits, feats, target, real_pr, val_fit, args.bootstrap, args.seed)
        row.update(values)
        row["ci"] = ci
        cls_logp = [s["logp"] for s in recs if s.get("logp") is not None]
        row["classifierLogp"] = _round(float(np.mean(cls_logp))) if cls_logp else None
        row["perClassAccuracy"] = per_class_accuracy(logits, target, plan.classes, judge_index)
        # grid: one row per class in the pack's label order, up to 16 samples each
        cols = min(args.samples_per_class, 16)
        order = [i for c in plan.classes for i in [j for j, s in enumerate(recs) if s["label"] == c.label][:cols]]
        save_grid(x[order].float() / 127.5 - 1.0, str(tmp / grid), nrow=cols)
        row.update(grid=str(grid), msPerStep=_round(summary.get("msPerStep"), 2),
                   msPerImage=_round(summary.get("msPerImage"), 2), seconds=round(time.time() - t0, 1))
        if keep_dir is not None:
            row["samples"] = shown_path(keep_dir)
        elif args.keep_samples:
            row["samples"] = str(Path("samples") / tag)
        else:
            shutil.rmtree(save_dir)
        sampled[same_samples_key(mode, scale, cfg_scale)] = row
        results.append(row)
        bar.close()  # ends the redrawn line on a terminal before the result line
        print(f"eval: {row_label(mode, scale, cfg_scale):22s}: judge acc {100 * row['judgeAccuracy']:5.1f}%  "
              f"judge log p {row['judgeLogp']:7.3f}  FD {row['fd'] if row['fd'] is not None else float('nan'):8.2f}  "
              f"classifier log p {row['classifierLogp'] if row['classifierLogp'] is not None else float('nan'):7.3f}  "
              f"{row['msPerImage'] if row['msPerImage'] is not None else float('nan'):8.1f} ms/image  "
              f"({row['seconds']}s)", file=sys.stderr)
        print(f"eval: {'':22s}  {interval_text(row)}", file=sys.stderr)
    if not args.keep_samples and (tmp / "samples").exists():
        shutil.rmtree(tmp / "samples")

    report = dict(
        pack=m["name"], packDir=shown_path(plan.pack_dir), packImageSize=m["imageSize"],
        data=shown_path(Path(args.data)), classesTsv=shown_path(plan.classes_tsv),
        classes=[dict(label=c.label, imagenet=c.imagenet, wnid=c.wnid, name=c.name) for c in plan.classes],
        judge=dict(path=shown_path(plan.judge_path), imageSize=size, featureDim=judge.cfg.feature_dim,
                   params=sum(p.numel() for p in judge.parameters()), classes=len(judge_wnids),
                   trainedValAccuracy=judge_info.get("val_accuracy"), resized=size != m["imageSize"]),
        settings=dict(scales=plan.scales, cfgScales=plan.cfg_scales, bothCfgScales=plan.both_cfg_scales, bothScales=plan.both_scales, modes=plan.modes, samplesPerClass=args.samples_per_class,
                      respacing=plan.respacing, steps=plan.steps, ddim=plan.ddim, seed=args.seed, batch=args.batch,
                      threads=args.threads, unconditionalLabel=m.get("unconditionalLabel")),
        reference=reference, results=results, plot="eval.png", tradeoffPlot="tradeoff.png", metrics=METRICS_NOTE,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        seconds=round(time.time() - t_start, 1),
    )
    plot_report(report, str(tmp / "eval.png"))
    plot_tradeoff(report, str(tmp / "tradeoff.png"))
    with open(tmp / "eval.json", "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    return report


def _native_size(data: Path) -> int:
    split = data / "train"
    for wnid in list_classes(str(split)):
        for f in sorted(os.listdir(split / wnid)):
            try:
                with Image.open(split / wnid / f) as im:
                    return max(im.size)
            except OSError:
                continue
    raise EvalError(f"no readable images under {split}")


# ---------------------------------------------------------------------------------------------- plot

def _curves(report: Dict) -> List[Tuple[str, List[Dict], str]]:
    """(name, rows, x key) per plotted curve: one per mode against its scale (cfg: against w), and for "both"
    one per cfg scale w against the classifier scale s."""
    curves = []
    for mode in report["settings"]["modes"]:
        rs = [r for r in report["results"] if r["mode"] == mode]
        if mode == "both":
            for w in sorted({r.get("cfgScale", 0.0) for r in rs}):
                curves.append((f"{MODE_TITLES[mode]}, w={_fmt_scale(w)}", [r for r in rs if r.get("cfgScale") == w], "scale"))
        else:
            curves.append((MODE_TITLES[mode], rs, "cfgScale" if mode == "cfg" else "scale"))
    return curves


def plot_report(report: Dict, path: str) -> str:
    curves = _curves(report)
    has_cfg = any(md in ("cfg", "both") for md in report["settings"]["modes"])
    values = set(report["settings"]["scales"]) if any(md != "cfg" for md in report["settings"]["modes"]) else set()
    values |= {r.get(key, 0.0) for _, rs, key in curves for r in rs}
    scales = sorted(values)
    pos = {s: i for i, s in enumerate(scales)}
    xticks = [(i, _fmt_scale(s)) for i, s in enumerate(scales)]
    xlabel = "guidance scale: classifier s, CFG w (categorical)" if has_cfg else "classifier scale (categorical)"
    ref = report["reference"]

    def series(key, mult=1.0, suffix=""):
        return [dict(name=name + suffix, x=[pos[r.get(xkey, 0.0)] for r in rs],
                     y=[None if r[key] is None else r[key] * mult for r in rs], color=color(i))
                for i, (name, rs, xkey) in enumerate(curves)]

    n = report["settings"]["samplesPerClass"]
    k = len(report["classes"])
    panels = [
        dict(title="Fidelity: judge accuracy on the requested class", xlabel=xlabel,
             ylabel="judge accuracy (%)", xticks=xticks, series=series("judgeAccuracy", 100.0), ymin=0.0,
             hlines=[dict(name=f"real val images ({100 * ref['val']['judgeAccuracy']:.1f}%)",
                          y=100 * ref["val"]["judgeAccuracy"], color=GREY),
                     dict(name=f"chance ({100 * ref['chance']:.0f}%)", y=100 * ref["chance"], color=(170, 170, 170))],
             ),
        dict(title="Judge-feature Fréchet distance to val (lower = better)", xlabel=xlabel,
             ylabel="Fréchet distance", xticks=xticks, series=series("fd"), ymin=0.0,
             hlines=[dict(name=f"real train, {n}/class (floor at this N)", y=ref["trainSameSize"]["fd"], color=GREY),
                     dict(name=f"real train, {ref['trainLarge']['perClass']}/class", y=ref["trainLarge"]["fd"],
                          color=(170, 170, 170))],
             ),
        dict(title="Mean log p(requested class | sample)", xlabel=xlabel, ylabel="log p",
             xticks=xticks, series=series("judgeLogp", suffix=": judge") + [
                 dict(s, name=s["name"].replace(": judge", ": guidance classifier"), color=color(i + 2))
                 for i, s in enumerate(series("classifierLogp", suffix=": judge"))],
             hlines=[dict(name="judge on real val images", y=ref["val"]["judgeLogp"], color=GREY)],
             ),
    ]
    title = f"Classifier guidance on pack {report['pack']}: fidelity vs diversity"
    if has_cfg:
        # The modes side by side: FD against accuracy, each point one scale, with the sampling cost per image.
        trade = []
        for i, (name, rs, xkey) in enumerate(curves):
            pts = sorted((r for r in rs if r["judgeAccuracy"] is not None), key=lambda r: r.get(xkey, 0.0))
            timed = [r for r in rs if r.get("msPerImage") is not None]
            ms = [r["msPerImage"] for r in timed if r.get(xkey, 0.0) != 0] or [r["msPerImage"] for r in timed]
            cost = f", {sum(ms) / len(ms):.0f} ms/image guided" if ms else ""
            trade.append(dict(name=name + cost, x=[100 * r["judgeAccuracy"] for r in pts], y=[r["fd"] for r in pts],
                              color=color(i)))
        acc = [v for s in trade for v in s["x"]] or [0.0, 100.0]
        panels.append(dict(title="Trade-off: Fréchet distance vs judge accuracy", xlabel="judge accuracy (%)",
                           ylabel="Fréchet distance", xticks=[(t, f"{t:g}") for t in nice_ticks(min(acc), max(acc))],
                           series=trade, ymin=0.0,
                           hlines=[dict(name="real train (floor at this N)", y=ref["trainSameSize"]["fd"], color=GREY)]))
        title = f"Classifier and classifier-free guidance on pack {report['pack']}: fidelity vs diversity"
    sub = (f"{n} samples/class x {k} classes per point, {report['settings']['respacing']} "
           f"{'DDIM' if report['settings']['ddim'] else 'DDPM'}, seed {report['settings']['seed']}; judge: "
           f"ResNet {report['judge']['params'] / 1e6:.2f}M params, {report['judge']['imageSize']}px, "
           f"{report['judge']['featureDim']}-d features")
    return line_chart(path, panels, title=title, subtitle=sub)


# ---------------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    from . import eval_shards as shards
    from .dist import Dist, DistError, init as init_dist, launched

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    d = Dist()
    try:
        # Ranks that finish their part early wait for the slowest at the gather: a long collective timeout.
        d = init_dist("cpu", float(os.environ.get("ADM_DIST_TIMEOUT_S", 3 * 3600))) if launched() else Dist()
        if d.active and (args.shard or args.merge):
            raise EvalError("under torchrun the ranks share the samples themselves: drop --shard / --merge")
        plan = plan_eval(args)
        part = args.shard or (d.rank, d.world_size)
        if not args.merge:
            tsx_command()
        # The judge is needed where the samples are scored: here, unless this draws a part only.
        judge_bundle = prepare_judge(args, plan) if not args.shard and not d.active else None
        parts = shards.read_shards(args.merge, shards.fingerprint(plan, args)) if args.merge else None
    except (EvalError, DistError) as e:
        print(f"error: {d.tag()}{e}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="adm-eval-part-")) if d.active else None
    try:
        if args.shard:
            with output_folder(plan.out, "eval", args.replace_any_folder) as tmp:
                rows = shards.draw_part(plan, args, shards.part_ranges(plan, args, *part), tmp)
                shards.write_shard(tmp, shards.fingerprint(plan, args), *part, rows)
            print(json.dumps(dict(out=str(plan.out), shard=list(part), rows=rows)))
            return 0
        if work is not None:  # torchrun: each rank draws its part, rank 0 gathers and scores
            rows = shards.draw_part(plan, args, shards.part_ranges(plan, args, *part), work)
            parts = shards.gather_parts(d, work, rows)
            if not d.is_main:
                return 0
            judge_bundle = prepare_judge(args, plan)
        with output_folder(plan.out, "eval", args.replace_any_folder) as tmp:
            drawn = shards.merge_rows(parts, plan, args, tmp) if parts is not None else None
            report = evaluate(args, plan, judge_bundle, tmp, drawn)
    except (EvalError, OutputFolderError, DataError) as e:
        print(f"error: {d.tag()}{e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {d.tag()}{e}", file=sys.stderr)
        return 1
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    summary = dict(out=str(plan.out), json=str(plan.out / "eval.json"), plot=str(plan.out / "eval.png"),
                   reference={k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items()
                                                                        if kk != "perClassAccuracy"})
                              for k, v in report["reference"].items() if k != "note"},
                   results=[{k: v for k, v in r.items() if k != "perClassAccuracy"} for r in report["results"]],
                   seconds=report["seconds"])
    print(json.dumps(summary))
    print(f"eval: wrote {plan.out}/eval.json and eval.png ({report['seconds']}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("eval"):  # SIGTERM removes the temp output folder (and stops the sampler) like Ctrl-C
        sys.exit(main())
