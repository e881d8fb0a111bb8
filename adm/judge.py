"""The judge: a small clean-image ResNet classifier used only to evaluate generated samples.

    bash scripts/py.sh -m adm.judge --data ../shared/data/imagenette-64 --out runs/judge/judge.pt --max-minutes 10

It is trained on the clean train split only (random flips and small random crops), never sees a
noisy image and shares nothing with the guidance classifier, so "the judge agrees with the requested
class" measures what guidance did to the image rather than what it did to the guidance classifier.
`adm.eval` scores samples with its accuracy and with a Fréchet distance in its penultimate
(global-pooled) features. The checkpoint stores the class wnids beside the weights.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint_io import load_checkpoint
from .cli_safety import blocking_file, sigterm_as_exit
from .data import ImageFolderData, load_image_folder
from .progress import Progress

DEFAULT_JUDGE_PATH = os.path.join("runs", "judge", "judge.pt")


@dataclass
class JudgeConfig:
    image_size: int = 64
    num_classes: int = 10
    widths: Tuple[int, ...] = (32, 64, 128, 256)  # one residual block per stage; stages 2.. halve the resolution
    stem_stride: int = 2

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]


class _Block(nn.Module):
    """Basic residual block (two 3x3 convs), projection shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn2.weight)  # each block starts as the identity
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)), inplace=True)
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.short is None else self.short(x)), inplace=True)


class JudgeNet(nn.Module):
    def __init__(self, cfg: JudgeConfig):
        super().__init__()
        self.cfg = cfg
        w = list(cfg.widths)
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, cfg.stem_stride, 1, bias=False), nn.BatchNorm2d(w[0]),
                                  nn.ReLU(inplace=True))
        blocks = [_Block(w[0], w[0], 1)]
        for cin, cout in zip(w[:-1], w[1:]):
            blocks.append(_Block(cin, cout, 2))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(w[-1], cfg.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the last stage, global-average-pooled, [N, widths[-1]]."""
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def logits_and_features(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f), f


def save_judge(path: str, model: JudgeNet, wnids: Sequence[str], info: Dict) -> None:
    ck = dict(kind="judge", config=asdict(model.cfg), wnids=list(wnids), model=model.state_dict(), info=info)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    try:
        torch.save(ck, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_judge(path: str) -> Tuple[JudgeNet, List[str], Dict]:
    """(model in eval mode, class wnids, info recorded at training). ValueError on a file that is no judge."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"judge checkpoint {path} does not exist")
    ck = load_checkpoint(path)  # CheckpointError (a ValueError): damaged, or holds more than weights and data
    if not isinstance(ck, dict) or ck.get("kind") != "judge":
        raise ValueError(f"{path} is not a judge checkpoint (train one with `python -m adm.judge`)")
    c = dict(ck["config"])
    c["widths"] = tuple(c["widths"])
    model = JudgeNet(JudgeConfig(**c))
    model.load_state_dict(ck["model"])
    model.eval().requires_grad_(False)
    return model, list(ck["wnids"]), dict(ck.get("info", {}))


@torch.no_grad()
def judge_images(model: JudgeNet, x: torch.Tensor, batch_size: int = 256) -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits and penultimate features (float32, eval mode) of images x ([N,3,H,W] uint8, or float in [-1,1]),
    resized to the judge's image size (bicubic, as the data loader does) when they differ."""
    model.eval()
    size = model.cfg.image_size
    logits, feats = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        xb = xb.float() / 127.5 - 1.0 if xb.dtype == torch.uint8 else xb.float()
        if xb.shape[-1] != size or xb.shape[-2] != size:
            xb = F.interpolate(xb, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
        lg, f = model.logits_and_features(xb.contiguous(memory_format=torch.channels_last))
        logits.append(lg.float())
        feats.append(f.float())
    if not logits:
        return torch.zeros(0, model.cfg.num_classes), torch.zeros(0, model.cfg.feature_dim)
    return torch.cat(logits), torch.cat(feats)


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


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m adm.judge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="ImageFolder root with train/ and val/ class folders")
    p.add_argument("--out", default=DEFAULT_JUDGE_PATH, help=f"checkpoint path (default {DEFAULT_JUDGE_PATH})")
    p.add_argument("--max-minutes", type=float, default=None, help="training time budget (default 10 without --max-steps)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--widths", default="32,64,128,256", help="channels per stage (comma list)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast for training")
    p.add_argument("--limit-per-class", type=int, default=None, help="use only this many train images per class (tests)")
    p.add_argument("--val-limit-per-class", type=int, default=None)
    p.add_argument("--threads", type=int, default=int(os.environ.get("ADM_TORCH_THREADS", "2")))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.max_minutes is None and args.max_steps is None:
        args.max_minutes = 10.0
    try:
        args.widths = tuple(int(v) for v in args.widths.split(","))
    except ValueError:
        p.error(f"--widths must be a comma list of integers (got {args.widths!r})")
    if not args.widths or min(args.widths) < 1:
        p.error("--widths must be positive")
    if args.batch_size < 1 or args.image_size < 4:
        p.error("--batch-size must be >= 1 and --image-size >= 4")
    if (args.max_minutes is not None and args.max_minutes <= 0) or (args.max_steps is not None and args.max_steps < 1):
        p.error("the training budget must be positive")
    return args


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


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = TrainSettings(max_minutes=args.max_minutes, max_steps=args.max_steps, batch_size=args.batch_size,
                             lr=args.lr, weight_decay=args.weight_decay, bf16=args.bf16, seed=args.seed,
                             widths=args.widths)
    try:
        summary = run_training(args.data, args.out, settings, args.image_size, args.limit_per_class,
                               args.val_limit_per_class)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"judge val accuracy {100 * summary['val_accuracy']:.1f}% after {summary['epochs']} epochs "
          f"({summary['train_minutes']} min training), saved to {args.out}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("judge"):  # SIGTERM stops training without leaving a half-written checkpoint
        sys.exit(main())
