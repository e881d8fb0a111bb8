"""The Trainer behind `npm run train` (adm/cli/train.py: usage, flags): the class-conditional ADM U-Net or the
noise-aware classifier on an ImageFolder, on one process or data-parallel under torchrun, resumable, to a time or step
budget."""
from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from .classifier_eval import noisy_accuracy
from .config import DiffusionConfig
from .data import load_image_folder
from .diffusion import GaussianDiffusion
from .dist import DistError, init as init_dist
from .global_batch import draw_batch, flip_and_crop
from .grad_sync import GradSync
from .progress import Progress
from .train_checkpoint import resume, write_checkpoint
from .train_init import new_network, start_from_pack
from .train_presets import TRAIN_PRESETS
from .train_samples import sample_grid

FIRST_CKPT_S = 60.0  # the first checkpoint after a start; then every --ckpt-every-min


class Trainer:
    def __init__(self, args):
        self.args = args
        preset = TRAIN_PRESETS[args.preset]
        self.kind = args.model
        self.dcfg: DiffusionConfig = preset["diffusion"]
        self.dist = init_dist(args.device)
        self.device = self.dist.device
        if args.batch_size < self.dist.world_size:
            raise DistError(f"--batch-size {args.batch_size} (the global batch) is smaller than the {self.dist.world_size} "
                            "ranks: every rank needs at least one image")
        if args.compile and not hasattr(torch, "compile"):
            raise DistError(f"--compile needs torch >= 2.0 (this is torch {torch.__version__})")
        self.channels_last = args.channels_last if args.channels_last is not None else self.device.type == "cuda"
        torch.manual_seed(args.seed)
        self.data = load_image_folder(args.data, "train", preset["unet"].image_size, limit_per_class=args.limit_per_class)
        if self.device.type == "cuda":  # the whole data set on the GPU (uint8): a batch is one gather, no copies
            self.data.images, self.data.labels = self.data.images.to(self.device), self.data.labels.to(self.device)
            torch.backends.cudnn.benchmark = True  # fixed shapes: the fastest convolutions are chosen once
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # the fp32 ops left
        self.cfg, self.model = new_network(preset, self.kind, len(self.data.wnids))
        # Rank 0's folder decides (on several machines only rank 0's need hold the checkpoint).
        resuming = self.dist.broadcast_object(os.path.exists(os.path.join(args.out, f"{self.kind}.pt")))
        # The pack this run started from and what that pack's network had been trained on (manifest `training`),
        # so a pack made from this run can state its totals.
        self.init_from: Optional[Dict] = start_from_pack(args, self.model, self.cfg, preset, self.data.wnids, resuming)
        self.model.to(self.device, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.val = None  # rank 0's (the only one that evaluates); has_val is the same on every rank
        self.has_val = self.dist.broadcast_object(self.kind == "classifier" and os.path.isdir(os.path.join(args.data, "val")))
        if self.has_val and self.dist.is_main:
            self.val = load_image_folder(args.data, "val", preset["unet"].image_size, wnids=self.data.wnids,
                                         limit_per_class=args.limit_per_class)
        self.val_acc: Dict[str, float] | None = None
        self.val_images = 0  # val images per t bucket behind val_acc
        self.val_acc_step = -1  # the step val_acc was measured at (a pack copies it only if it is the last)
        lr = args.lr or (3e-4 if self.kind == "unet" else 6e-4)
        wd = args.weight_decay if args.weight_decay is not None else (0.0 if self.kind == "unet" else 0.05)
        self.base_lr = lr
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=wd)
        self.diffusion = GaussianDiffusion.from_config(self.dcfg.noise_schedule, self.dcfg.diffusion_steps,
                                                       learn_sigma=self.dcfg.learn_sigma)
        self.step, self.seen, self.elapsed = 0, 0, 0.0
        self.stop_requested = False  # set by SIGTERM/SIGINT: finish the step, save, exit
        if self.dist.is_main:
            os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
        self.ckpt_path = os.path.join(args.out, f"{self.kind}.pt")
        self.log_path = os.path.join(args.out, f"{self.kind}.log.jsonl")
        if resuming:
            resume(self)
        # The forward pass goes through DDP (gradients averaged over ranks) and, asked for, torch.compile;
        # self.model stays the plain module that the optimizer, the EMA and the checkpoints use.
        self.sync = GradSync(self.dist, args.batch_size, args.micro_batch)
        self.net = self.dist.wrap(self.model) if self.sync.uses_ddp else self.model
        if args.compile:
            self.net = torch.compile(self.net)

    def budget_fraction(self) -> float:
        """How much of the training budget is spent: the larger of the time and step fractions."""
        fracs = [0.0]
        if self.args.max_minutes is not None:
            fracs.append(self.elapsed / (self.args.max_minutes * 60))
        if self.args.max_steps is not None:
            fracs.append(self.step / self.args.max_steps)
        return max(fracs)

    def save(self):
        """Rank 0 writes the checkpoint; every rank returns once it is on disk."""
        self.dist.check_replicas([self.model, self.ema])
        if self.dist.is_main:
            write_checkpoint(self)
        self.dist.barrier()

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.args.bf16)

    def train_step(self) -> Dict[str, float]:
        """One optimizer step on the global batch, of which this rank computes its part (adm.grad_sync). Returns
        this rank's sums of the step's statistics; summed over ranks (Dist.agree) and divided by --batch-size they
        are the global-batch means."""
        if self.args.anneal_lr:
            frac = min(1.0, self.budget_fraction())
            for group in self.opt.param_groups:
                group["lr"] = self.base_lr * (1 - frac)
        self.opt.zero_grad(set_to_none=True)
        sums = None
        for part in self.sync.parts():
            loss, part_sums = self._loss(part)
            loss.backward()
            self.sync.after_backward(self.model.parameters())
            sums = part_sums if sums is None else sums + part_sums
        self.sync.finish(self.model.parameters())
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        # EMA with a warm-up so early checkpoints are usable in a short run.
        rate = min(self.args.ema_rate, (1 + self.step) / (10 + self.step))
        with torch.no_grad():  # one fused update for all tensors (the same arithmetic as per tensor)
            ema, live = list(self.ema.parameters()), [p.detach() for p in self.model.parameters()]
            torch._foreach_mul_(ema, rate)
            torch._foreach_add_(ema, live, alpha=1 - rate)
        self.step += 1
        self.seen += self.args.batch_size
        names = ("loss", "mse", "vb") if self.kind == "unet" else ("loss", "acc")
        return dict(zip(names, sums.tolist()))  # one device sync per step

    def _loss(self, part: slice):
        """The loss of the global batch's samples `part` (summed, times GradSync.loss_scale) and their statistics."""
        bs = self.args.batch_size
        d = draw_batch(self.args.seed, self.step, bs, len(self.data.labels), self.diffusion.num_timesteps,
                       tuple(self.data.images.shape[1:]), part, self.args.crop_pad,
                       self.args.label_dropout if self.kind == "unet" else 0.0, self.device)
        idx = d.idx.to(self.data.images.device)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x0 = flip_and_crop(self.data.batch(idx, flip=False), d.flip, d.crop, self.args.crop_pad)
        x0 = x0.to(self.device).contiguous(memory_format=fmt)
        y = self.data.labels[idx].to(self.device)
        t = d.t.to(self.device)
        noise = d.noise.contiguous(memory_format=fmt)
        with self._autocast():
            if self.kind == "unet":
                y = torch.where(d.drop.to(self.device), torch.full_like(y, self.cfg.num_classes - 1), y)
                terms = self.diffusion.training_losses(lambda a, b, **kw: self.net(a, b, **kw).float(), x0, t,
                                                       dict(y=y), noise=noise, min_snr_gamma=self.args.min_snr_gamma)
                per_image = terms["loss"]
                sums = torch.stack([per_image.sum(), terms["mse"].sum(), terms["vb"].sum()])
            else:
                logits = self.net(self.diffusion.q_sample(x0, t, noise), t).float()
                per_image = F.cross_entropy(logits, y, reduction="none")
                sums = torch.stack([per_image.sum(), (logits.argmax(-1) == y).sum().float()])
        return per_image.sum() * self.sync.loss_scale, sums.detach()

    def run(self):
        args = self.args
        budget_s = args.max_minutes * 60 if args.max_minutes is not None else math.inf
        main = self.dist.is_main  # rank 0 alone writes the log, checkpoints and samples; the others wait for it
        bar = Progress(self.kind, total_s=budget_s, total_steps=args.max_steps, every_s=30.0 if main else math.inf)
        # Intervals run on rank 0's clock (Dist.agree), so every rank decides alike when to save, sample, stop.
        last_ckpt = last_sample = last_eval = self.dist.agree([], 0.0, time.time(), False)[2]
        # The first checkpoint of a start comes after FIRST_CKPT_S (a kill in the first minutes would otherwise lose
        # them all), the next ones every --ckpt-every-min.
        ckpt_after_s = min(FIRST_CKPT_S, args.ckpt_every_min * 60)
        running: Dict[str, float] = {}
        with open(self.log_path if main else os.devnull, "a") as log:
            while (self.elapsed < budget_s and (args.max_steps is None or self.step < args.max_steps)
                   and not self.stop_requested):
                t0 = time.time()
                sums = self.train_step()
                self.elapsed += time.time() - t0
                totals, self.elapsed, now, self.stop_requested = self.dist.agree(
                    list(sums.values()), self.elapsed, time.time(), self.stop_requested)
                stats = {k: v / args.batch_size for k, v in zip(sums, totals)}
                for k, v in stats.items():
                    running[k] = v if k not in running else 0.98 * running[k] + 0.02 * v
                if main:
                    bar.update(self.step, self.elapsed, self.seen, running)
                if self.step % 25 == 0:
                    log.write(json.dumps(dict(step=self.step, seen=self.seen, elapsed=round(self.elapsed, 1), **stats)) + "\n")
                    log.flush()
                if now - last_ckpt > ckpt_after_s:
                    self.save()
                    last_ckpt = now
                    ckpt_after_s = args.ckpt_every_min * 60
                if self.has_val and now - last_eval > args.eval_every_min * 60:
                    self.evaluate(log)
                    last_eval = now
                if self.kind == "unet" and now - last_sample > args.sample_every_min * 60:
                    self._main_only(self.sample_grid)
                    last_sample = now
            if main:
                bar.close()
            if self.stop_requested:
                if main:
                    print(f"stopped by a signal at step {self.step}: checkpoint saved, the same command resumes",
                          file=sys.stderr)
            elif self.has_val:
                self.evaluate(log)
        self.save()
        if self.kind == "unet" and not self.stop_requested:
            self._main_only(self.sample_grid)
        summary = dict(model=self.kind, step=self.step, seen=self.seen, minutes=round(self.elapsed / 60, 1),
                       checkpoint=self.ckpt_path, world_size=self.dist.world_size,
                       **{k: round(v, 5) for k, v in running.items()})
        if self.val_acc is not None:
            summary["val_acc"] = {k: round(v, 4) for k, v in self.val_acc.items()}
        if main:
            print(json.dumps(summary))

    def _main_only(self, fn) -> None:
        if self.dist.is_main:
            fn()
        self.dist.barrier()

    def evaluate(self, log) -> None:
        """EMA classifier's top-1 on noised val images per t bucket; logged and kept in the checkpoint (rank 0)."""
        if self.dist.is_main:
            self.val_images = min(self.args.eval_limit, len(self.val.labels))
            self.val_acc_step = self.step
            self.val_acc = noisy_accuracy(self.ema, self.val, self.diffusion, limit=self.args.eval_limit,
                                          autocast=self.args.bf16 and self.device.type == "cpu")
            log.write(json.dumps(dict(step=self.step, seen=self.seen, elapsed=round(self.elapsed, 1),
                                      val_acc={k: round(v, 4) for k, v in self.val_acc.items()})) + "\n")
            log.flush()
            print("\nval top-1 by t: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in self.val_acc.items()),
                  file=sys.stderr)
        self.dist.barrier()

    def sample_grid(self) -> str:
        path = os.path.join(self.args.out, "samples", f"unet_step{self.step:07d}.png")
        return sample_grid(self.ema, self.cfg, self.dcfg, self.device, self._autocast, path)
