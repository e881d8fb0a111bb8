"""Train the class-conditional ADM U-Net or the noise-aware classifier on an ImageFolder.

    npm run train -- --data ../shared/data/imagenette-64 --out runs/imagenette64 --model unet --max-minutes 85
    npm run train -- --data ../shared/data/imagenette-64 --out runs/imagenette64 --model classifier --max-minutes 35

The paper's recipe scaled down to a 2-core CPU: cosine schedule, learned sigma with the hybrid
loss, EMA weights, random horizontal flips, label dropout to a null label (so the same U-Net also
samples unconditionally), and a classifier trained on q(x_t | x_0) at uniformly random t.
Runs are resumable (`<out>/<model>.pt` is rewritten atomically) and stop at a time or step budget.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict
from typing import Dict

import torch
import torch.nn.functional as F

from .config import ClassifierConfig, DiffusionConfig, UNetConfig
from .data import load_image_folder
from .diffusion import GaussianDiffusion
from .progress import Progress
from .unet import EncoderUNetModel, UNetModel

# Sized by measurement on the 2-core CPU (bf16 autocast): ~23 img/s for the U-Net at batch 32.
TRAIN_PRESETS: Dict[str, dict] = {
    "imagenette64": dict(
        unet=UNetConfig(image_size=64, model_channels=32, channel_mult=(1, 2, 4, 4), num_res_blocks=1,
                        attention_resolutions=(8,), num_head_channels=32, dropout=0.0, out_channels=6),
        classifier=ClassifierConfig(image_size=64, model_channels=32, channel_mult=(1, 2, 4, 4), num_res_blocks=1,
                                    attention_resolutions=(8,), num_head_channels=32),
        diffusion=DiffusionConfig(noise_schedule="cosine", diffusion_steps=1000, learn_sigma=True),
    ),
    # A few-second configuration for tests.
    "tiny": dict(
        unet=UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                        attention_resolutions=(2,), num_head_channels=32, dropout=0.0, out_channels=6),
        classifier=ClassifierConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                                    attention_resolutions=(2,), num_head_channels=32),
        diffusion=DiffusionConfig(noise_schedule="cosine", diffusion_steps=1000, learn_sigma=True),
    ),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="npm run train --", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="ImageFolder root with train/ (and val/) class folders")
    p.add_argument("--out", required=True, help="run directory (checkpoints, samples, log)")
    p.add_argument("--model", choices=["unet", "classifier"], required=True)
    p.add_argument("--preset", choices=sorted(TRAIN_PRESETS), default="imagenette64")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="default 3e-4 (unet) / 6e-4 (classifier)")
    p.add_argument("--weight-decay", type=float, default=None, help="default 0.0 (unet) / 0.05 (classifier)")
    p.add_argument("--ema-rate", type=float, default=0.999)
    p.add_argument("--label-dropout", type=float, default=0.15, help="U-Net: probability of the null label")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time (all resumes included)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast (CPU AMX/AVX512-BF16 or CUDA)")
    p.add_argument("--ckpt-every-min", type=float, default=5.0)
    p.add_argument("--sample-every-min", type=float, default=15.0)
    p.add_argument("--limit-per-class", type=int, default=None, help="use only this many images per class (tests)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.max_minutes is None and args.max_steps is None:
        p.error("give --max-minutes or --max-steps (a training budget)")
    if args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    return args


class Trainer:
    def __init__(self, args):
        self.args = args
        preset = TRAIN_PRESETS[args.preset]
        self.kind = args.model
        self.dcfg: DiffusionConfig = preset["diffusion"]
        self.device = torch.device(args.device)
        torch.manual_seed(args.seed)
        self.data = load_image_folder(args.data, "train", preset["unet"].image_size, limit_per_class=args.limit_per_class)
        n_cls = len(self.data.wnids)
        if self.kind == "unet":
            self.cfg = copy.deepcopy(preset["unet"])
            self.cfg.num_classes = n_cls + 1  # the last label is the null ("no class") label
            self.model = UNetModel(self.cfg)
        else:
            self.cfg = copy.deepcopy(preset["classifier"])
            self.cfg.out_channels = n_cls
            self.model = EncoderUNetModel(self.cfg)
        self.model.to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        lr = args.lr or (3e-4 if self.kind == "unet" else 6e-4)
        wd = args.weight_decay if args.weight_decay is not None else (0.0 if self.kind == "unet" else 0.05)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=wd)
        self.diffusion = GaussianDiffusion.from_config(self.dcfg.noise_schedule, self.dcfg.diffusion_steps,
                                                       learn_sigma=self.dcfg.learn_sigma)
        self.step, self.seen, self.elapsed = 0, 0, 0.0
        self.gen = torch.Generator().manual_seed(args.seed)
        os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
        self.ckpt_path = os.path.join(args.out, f"{self.kind}.pt")
        self.log_path = os.path.join(args.out, f"{self.kind}.log.jsonl")
        if os.path.exists(self.ckpt_path):
            self._resume()

    def _resume(self):
        ck = torch.load(self.ckpt_path, map_location=self.device)
        if ck["wnids"] != self.data.wnids:
            raise SystemExit(f"error: {self.ckpt_path} was trained on classes {ck['wnids']}, the data has {self.data.wnids}")
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.opt.load_state_dict(ck["opt"])
        self.step, self.seen, self.elapsed = ck["step"], ck["seen"], ck["elapsed"]
        self.gen.set_state(ck["rng"])
        print(f"resumed {self.kind} at step {self.step} ({self.elapsed / 60:.1f} min trained)", file=sys.stderr)

    def save(self):
        ck = dict(kind=self.kind, config=asdict(self.cfg), diffusion=asdict(self.dcfg), wnids=self.data.wnids,
                  model=self.model.state_dict(), ema=self.ema.state_dict(), opt=self.opt.state_dict(),
                  step=self.step, seen=self.seen, elapsed=self.elapsed, rng=self.gen.get_state(),
                  train_args=vars(self.args))
        tmp = self.ckpt_path + ".tmp"
        torch.save(ck, tmp)
        os.replace(tmp, self.ckpt_path)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.args.bf16)

    def train_step(self) -> Dict[str, float]:
        bs = self.args.batch_size
        idx = torch.randint(0, len(self.data.labels), (bs,), generator=self.gen)
        x0 = self.data.batch(idx, flip=True, generator=self.gen).to(self.device)
        y = self.data.labels[idx].to(self.device)
        t = torch.randint(0, self.diffusion.num_timesteps, (bs,), generator=self.gen).to(self.device)
        with self._autocast():
            if self.kind == "unet":
                drop = torch.rand(bs, generator=self.gen).to(self.device) < self.args.label_dropout
                y = torch.where(drop, torch.full_like(y, self.cfg.num_classes - 1), y)
                noise = torch.randn(x0.shape, generator=self.gen).to(self.device)
                terms = self.diffusion.training_losses(lambda a, b, **kw: self.model(a, b, **kw).float(), x0, t,
                                                       dict(y=y), noise=noise)
                loss = terms["loss"].mean()
                stats = {"loss": loss.item(), "mse": terms["mse"].mean().item(), "vb": terms["vb"].mean().item()}
            else:
                noise = torch.randn(x0.shape, generator=self.gen).to(self.device)
                logits = self.model(self.diffusion.q_sample(x0, t, noise), t).float()
                loss = F.cross_entropy(logits, y)
                acc = (logits.argmax(-1) == y).float().mean().item()
                stats = {"loss": loss.item(), "acc": acc}
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        # EMA with a warm-up so early checkpoints are usable in a short run.
        rate = min(self.args.ema_rate, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                pe.mul_(rate).add_(pm.detach(), alpha=1 - rate)
        self.step += 1
        self.seen += bs
        return stats

    def run(self):
        args = self.args
        budget_s = args.max_minutes * 60 if args.max_minutes is not None else math.inf
        bar = Progress(self.kind, total_s=budget_s, total_steps=args.max_steps)
        last_ckpt = last_sample = time.time()
        running: Dict[str, float] = {}
        with open(self.log_path, "a") as log:
            while self.elapsed < budget_s and (args.max_steps is None or self.step < args.max_steps):
                t0 = time.time()
                stats = self.train_step()
                self.elapsed += time.time() - t0
                for k, v in stats.items():
                    running[k] = v if k not in running else 0.98 * running[k] + 0.02 * v
                bar.update(self.step, self.elapsed, self.seen, running)
                if self.step % 25 == 0:
                    log.write(json.dumps(dict(step=self.step, seen=self.seen, elapsed=round(self.elapsed, 1), **stats)) + "\n")
                    log.flush()
                now = time.time()
                if now - last_ckpt > args.ckpt_every_min * 60:
                    self.save()
                    last_ckpt = now
                if self.kind == "unet" and now - last_sample > args.sample_every_min * 60:
                    self.sample_grid()
                    last_sample = time.time()
        bar.close()
        self.save()
        if self.kind == "unet":
            self.sample_grid()
        print(json.dumps(dict(model=self.kind, step=self.step, seen=self.seen, minutes=round(self.elapsed / 60, 1),
                              checkpoint=self.ckpt_path, **{k: round(v, 5) for k, v in running.items()})))

    @torch.no_grad()
    def sample_grid(self, steps: str = "ddim25"):
        """EMA samples, two per class then a row with the null label, saved as a PNG grid."""
        from .images import save_grid
        n_cls = self.cfg.num_classes - 1
        y = torch.cat([torch.arange(n_cls).repeat_interleave(2), torch.full((n_cls * 2,), n_cls)]).to(self.device)
        diff = GaussianDiffusion.from_config(self.dcfg.noise_schedule, self.dcfg.diffusion_steps, steps, self.dcfg.learn_sigma)
        g = torch.Generator().manual_seed(1234)
        x = torch.randn((len(y), 3, self.cfg.image_size, self.cfg.image_size), generator=g).to(self.device)
        for i in reversed(range(diff.num_timesteps)):
            t = torch.full((len(y),), i, dtype=torch.long, device=self.device)
            with self._autocast():
                out = self.ema(x, diff.model_timesteps(t), y).float()
            x = diff.ddim_sample(out, x, t, torch.zeros_like(x))["sample"]
        path = os.path.join(self.args.out, "samples", f"unet_step{self.step:07d}.png")
        save_grid(x.cpu(), path, nrow=n_cls * 2)
        return path


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        Trainer(args).run()
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
