"""Scoring an eval (usage and method: adm/cli/eval.py, `npm run eval`): every row's samples drawn (or taken from a
merge of shards, adm.eval_shards) and scored by the judge (adm.judge) against real val and train images, then
eval.json, eval.png and tradeoff.png written into the output folder."""
from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from .data import list_classes, load_image_folder
from .eval_scores import METRICS_NOTE, class_balanced_subset, set_scores
from .frechet import gaussian_fit
from .images import save_grid
from .judge import judge_images, load_judge
from .judge_train import TrainSettings, run_training
from .tradeoff_plot import plot_tradeoff
from .progress import Progress
from .eval_plan import Plan, PackClass, shown_path
from .eval_plot import plot_report
from .eval_rows import EvalError, row_label, row_tag, run_list, same_samples_key
from .eval_sampler import kept_summary, load_samples, run_sampler


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
              f"{args.judge_minutes:g} min (it is reused next time; `python -m adm.cli.judge` trains one explicitly)",
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
