"""The judge: a small clean-image ResNet classifier used only to evaluate generated samples.

    bash scripts/py.sh -m adm.cli.judge --data ../shared/data/imagenette-64 --out runs/judge/judge.pt --max-minutes 10

It is trained on the clean train split only (random flips and small random crops), never sees a
noisy image and shares nothing with the guidance classifier, so "the judge agrees with the requested
class" measures what guidance did to the image rather than what it did to the guidance classifier.
`adm.eval` scores samples with its accuracy and with a Fréchet distance in its penultimate
(global-pooled) features. The checkpoint stores the class wnids beside the weights; adm.judge_train trains it.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint_io import load_checkpoint


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
        raise ValueError(f"{path} is not a judge checkpoint (train one with `python -m adm.cli.judge`)")
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
