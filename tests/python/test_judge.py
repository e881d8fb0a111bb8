"""adm.judge: the clean-image judge network, its training loop (adm.judge_train), checkpoint and CLI (adm.cli.judge).

Also holds the helpers test_eval.py imports: synthetic ImageFolders and tiny judges."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest
import torch
from PIL import Image

from adm.cli.judge import main
from adm.judge import JudgeConfig, JudgeNet, judge_images, load_judge
from adm.judge_train import TrainSettings, random_crop, run_training

IMAGENETTE_WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042",
                    "n03425413", "n03445777", "n03888257"]


def make_image_folder(root: Path, wnids: Sequence[str], size: int, n_train: int, n_val: int, seed: int = 0,
                      levels: Optional[Sequence[float]] = None, noise: float = 0.5) -> Path:
    """root/{train,val}/<wnid>/*.png: class k is a grey level (levels[k], in [-1, 1]) plus Gaussian pixel noise;
    without levels, a random per-class colour."""
    rng = np.random.default_rng(seed)
    for k, wnid in enumerate(wnids):
        base = (np.full(3, levels[k]) if levels is not None else rng.uniform(-0.6, 0.6, 3))
        for split, n in (("train", n_train), ("val", n_val)):
            d = root / split / wnid
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                x = base + noise * rng.standard_normal((size, size, 3))
                arr = ((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8)
                Image.fromarray(arr).save(d / f"img{i:03d}.png")
    return root


def train_tiny_judge(data: Path, out: Path, size: int, steps: int = 3, widths=(8, 16), lr: float = 0.1,
                     batch_size: int = 16) -> Path:
    run_training(str(data), str(out), TrainSettings(max_minutes=None, max_steps=steps, batch_size=batch_size, lr=lr,
                                                    widths=tuple(widths), bf16=False, warmup=0.0),
                 image_size=size, quiet=True)
    return out


def test_shapes_and_features():
    torch.manual_seed(0)
    net = JudgeNet(JudgeConfig(image_size=16, num_classes=5, widths=(8, 16, 24))).eval()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    logits, feats = net.logits_and_features(x)
    assert logits.shape == (3, 5) and feats.shape == (3, 24) and net.cfg.feature_dim == 24
    assert torch.allclose(net(x), logits)
    assert torch.allclose(net.head(feats), logits, atol=1e-6)


def test_judge_images_uint8_and_resize():
    torch.manual_seed(0)
    net = JudgeNet(JudgeConfig(image_size=16, num_classes=4, widths=(8, 16))).eval()
    u8 = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    l1, f1 = judge_images(net, u8, batch_size=2)
    l2, f2 = judge_images(net, u8.float() / 127.5 - 1)
    assert torch.allclose(l1, l2, atol=1e-5) and torch.allclose(f1, f2, atol=1e-5)
    l3, f3 = judge_images(net, torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8))  # upsampled to 16
    assert l3.shape == (2, 4) and f3.shape == (2, 16)
    l4, _ = judge_images(net, torch.zeros(0, 3, 16, 16, dtype=torch.uint8))
    assert l4.shape == (0, 4)


def test_random_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    assert torch.equal(random_crop(x, 0, g), x)
    y = random_crop(x, 2, g)
    assert y.shape == x.shape


def test_train_save_load(tmp_path):
    data = make_image_folder(tmp_path / "data", IMAGENETTE_WNIDS[:3], 16, n_train=4, n_val=2)
    path = train_tiny_judge(data, tmp_path / "j" / "judge.pt", 16, steps=2)
    net, wnids, info = load_judge(str(path))
    assert wnids == IMAGENETTE_WNIDS[:3]
    assert net.cfg.num_classes == 3 and net.cfg.image_size == 16 and not net.training
    assert info["steps"] == 2 and 0.0 <= info["val_accuracy"] <= 1.0 and info["val_images"] == 6
    assert set(info["val_per_class"]) == set(IMAGENETTE_WNIDS[:3])


def test_learns_an_easy_task(tmp_path):
    # grey levels far apart: a few dozen steps must separate them
    data = make_image_folder(tmp_path / "data", IMAGENETTE_WNIDS[:3], 8, n_train=12, n_val=6,
                             levels=[-0.6, 0.0, 0.6], noise=0.2)
    path = train_tiny_judge(data, tmp_path / "judge.pt", 8, steps=40, lr=0.05)
    assert load_judge(str(path))[2]["val_accuracy"] >= 0.9


def test_cli(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data", IMAGENETTE_WNIDS[:2], 16, n_train=3, n_val=2)
    out = tmp_path / "judge.pt"
    rc = main(["--data", str(data), "--out", str(out), "--max-steps", "2", "--image-size", "16", "--widths", "8,16",
               "--batch-size", "4", "--threads", "1", "--no-bf16"])
    assert rc == 0 and out.is_file()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and 0 <= summary["val_accuracy"] <= 1


def test_cli_errors(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "j.pt"), "--max-steps", "1"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "j.pt").exists()
    with pytest.raises(SystemExit) as e:
        main(["--data", str(tmp_path), "--widths", "8,x"])
    assert e.value.code == 2
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        load_judge(str(tmp_path / "bad.pt"))
    torch.save({"kind": "unet"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a judge"):
        load_judge(str(tmp_path / "other.pt"))
