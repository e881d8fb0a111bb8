"""Training the judge (adm.judge): SGD on the clean train split with flips and small random crops, to a time or
step budget, then its accuracy on val; run_training is `python -m adm.cli.judge` without the flags."""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from .cli_safety import blocking_file
from .data import ImageFolderData, load_image_folder
from .progress import Progress
from .judge import JudgeConfig, JudgeNet, judge_images, save_judge


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image random translation by up to `pad` pixels (reflection padding), same size out."""
    if pad <= 0:
        return x
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    off = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    return torch.stack([xp[i, :, off[i, 0]:off[i, 0] + h, off[i, 1]:off[i, 1] + w] for i in range(n)])


def accuracy(model: JudgeNet, data: ImageFolderData, batch_size: int = 256) -> Tuple[float, List[float]]:
    logits, _ = judge_images(model, data.images, batch_size)
    correct = (logits.argmax(-1) == data.labels).float()
    per_class = [correct[data.labels == k].mean().item() if (data.labels == k).any() else float("nan")
                 for k in range(len(data.wnids))]
    return correct.mean().item(), per_class


@dataclass
class TrainSettings:
    max_minutes: Optional[float] = 10.0
    max_steps: Optional[int] = None
    batch_size: int = 64
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup: float = 0.03  # fraction of the budget with a linear lr warm-up
    crop_pad: Optional[int] = None  # default image_size // 16
    bf16: bool = True
    seed: int = 0
    widths: Tuple[int, ...] = field(default_factory=lambda: (32, 64, 128, 256))


def train_judge(train: ImageFolderData, settings: TrainSettings, progress_name: str = "judge",
                quiet: bool = False) -> Tuple[JudgeNet, Dict]:
    """SGD (Nesterov) with a warm-up + cosine lr schedule over the time/step budget, label smoothing, flips and
    random crops. The schedule follows the fraction of the budget used, so a time budget still anneals to 0."""
    s = settings
    if s.max_minutes is None and s.max_steps is None:
        raise ValueError("the judge needs a training budget (max_minutes or max_steps)")
    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    size = train.images.shape[-1]
    cfg = JudgeConfig(image_size=size, num_classes=len(train.wnids), widths=tuple(s.widths))
    model = JudgeNet(cfg).to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([dict(params=decay, weight_decay=s.weight_decay), dict(params=no_decay, weight_decay=0.0)],
                          lr=s.lr, momentum=0.9, nesterov=True)
    pad = s.crop_pad if s.crop_pad is not None else max(1, size // 16)
    budget_s = s.max_minutes * 60 if s.max_minutes is not None else math.inf
    bar = Progress(progress_name, total_s=budget_s, total_steps=s.max_steps)
    n = len(train.labels)
    bs = min(s.batch_size, n)
    step, seen, elapsed, frac = 0, 0, 0.0, 0.0
    perm, pos = torch.randperm(n, generator=gen), 0
    running: Dict[str, float] = {}
    model.train()
    while frac < 1.0:
        t0 = time.time()
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + bs]
        pos += bs
        x = random_crop(train.batch(idx, flip=True, generator=gen), pad, gen)
        x = x.contiguous(memory_format=torch.channels_last)
        y = train.labels[idx]
        lr = s.lr * (min(1.0, frac / s.warmup) if s.warmup > 0 and frac < s.warmup
                     else 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - s.warmup) / max(1e-8, 1 - s.warmup)))))
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16):
            logits = model(x).float()
        loss = F.cross_entropy(logits, y, label_smoothing=s.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seen += bs
        elapsed += time.time() - t0
        frac = max(elapsed / budget_s, step / s.max_steps if s.max_steps else 0.0)
        stats = {"loss": loss.item(), "acc": (logits.argmax(-1) == y).float().mean().item()}
        for k, v in stats.items():
            running[k] = v if k not in running else 0.98 * running[k] + 0.02 * v
        if not quiet:
            bar.update(step, elapsed, seen, dict(running, lr=lr))
    if not quiet:
        bar.close()
    model.eval()
    info = dict(steps=step, seen=seen, epochs=round(seen / n, 2), train_minutes=round(elapsed / 60, 2),
                train_images=n, image_size=size, settings={k: (list(v) if isinstance(v, tuple) else v)
                                                         for k, v in asdict(s).items()},
                params=sum(p.numel() for p in model.parameters()))
    return model, info


def run_training(data_root: str, out: str, settings: TrainSettings, image_size: int = 64,
                 limit_per_class: Optional[int] = None, val_limit_per_class: Optional[int] = None,
                 quiet: bool = False) -> Dict:
    """Load the data, train, measure val accuracy, save the checkpoint; returns the summary dict."""
    t_start = time.time()
    blocker = blocking_file(Path(os.path.abspath(out)))
    if blocker is not None:
        raise ValueError(f"the judge checkpoint {out} cannot be written: {blocker} is a file, not a folder")
    train = load_image_folder(data_root, "train", image_size, limit_per_class=limit_per_class)
    val = load_image_folder(data_root, "val", image_size, wnids=train.wnids, limit_per_class=val_limit_per_class)
    if not quiet:
        print(f"judge: {len(train.labels)} train / {len(val.labels)} val images, {len(train.wnids)} classes, "
              f"{image_size}x{image_size}", file=sys.stderr)
    model, info = train_judge(train, settings, quiet=quiet)
    val_acc, per_class = accuracy(model, val)
    info.update(val_accuracy=round(val_acc, 4), val_images=len(val.labels),
                val_per_class={w: round(a, 4) for w, a in zip(val.wnids, per_class)},
                data=os.path.abspath(data_root), wall_minutes=round((time.time() - t_start) / 60, 2))
    save_judge(out, model, train.wnids, info)
    return dict(judge=out, val_accuracy=info["val_accuracy"], steps=info["steps"], epochs=info["epochs"],
                train_minutes=info["train_minutes"], wall_minutes=info["wall_minutes"], params=info["params"])
