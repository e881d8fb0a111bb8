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
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from .checkpoint_io import load_checkpoint
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
    p.add_argument("--init-from", type=Path, default=None, metavar="PACK",
                   help="start a new run from a pack's fp32 weights (unet.onnx or classifier_grad.onnx); "
                        "ignored when the run already has a checkpoint (that resumes instead)")
    p.add_argument("--init-trunk-from", type=Path, default=None, metavar="PACK",
                   help="classifier only: start its trunk (time embedding, encoder, middle block) from the "
                        "pack's U-Net, whose encoder sees the same noisy x_t")
    p.add_argument("--crop-pad", type=int, default=None,
                   help="random crops: reflect-pad by this many pixels and crop back (default 4 classifier, 0 unet)")
    p.add_argument("--anneal-lr", action="store_true",
                   help="decay the learning rate linearly to 0 at the budget's end (--max-minutes or --max-steps, "
                        "whichever comes first; the paper's classifier recipe)")
    p.add_argument("--min-snr-gamma", type=float, default=None, metavar="GAMMA",
                   help="U-Net: Min-SNR-gamma weighting of the eps MSE (Hang et al. 2023; 5 is their choice); "
                        "the variance's VLB term is unchanged")
    p.add_argument("--eval-every-min", type=float, default=10.0,
                   help="classifier: top-1 on val images noised to q(x_t|x_0) per t bucket, this often")
    p.add_argument("--eval-limit", type=int, default=400, help="classifier: val images per t bucket in that check")
    args = p.parse_args(argv)
    if args.max_minutes is None and args.max_steps is None:
        p.error("give --max-minutes or --max-steps (a training budget)")
    if args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    if args.init_trunk_from is not None and args.model != "classifier":
        p.error("--init-trunk-from is for --model classifier (it copies a U-Net's encoder into the classifier)")
    if args.init_from is not None and args.init_trunk_from is not None:
        p.error("give either --init-from or --init-trunk-from, not both")
    if args.min_snr_gamma is not None and (args.model != "unet" or args.min_snr_gamma <= 0):
        p.error("--min-snr-gamma is a positive number, for --model unet")
    if args.crop_pad is None:
        args.crop_pad = 4 if args.model == "classifier" else 0
    if args.crop_pad < 0:
        p.error("--crop-pad must be >= 0")
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
        # The pack this run started from and what that pack's network had been trained on (manifest `training`),
        # so a pack made from this run can state its totals.
        self.init_from: Optional[Dict] = None
        resuming = os.path.exists(os.path.join(args.out, f"{self.kind}.pt"))
        if resuming and (args.init_from or args.init_trunk_from):
            print(f"note: {args.out} already has a {self.kind} checkpoint: resuming it, not initialising from a pack",
                  file=sys.stderr)
        elif args.init_from:
            self._init_from_pack(args.init_from)
        elif args.init_trunk_from:
            self._init_trunk_from_pack(args.init_trunk_from)
        self.model.to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.val = None
        if self.kind == "classifier" and os.path.isdir(os.path.join(args.data, "val")):
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
        self.gen = torch.Generator().manual_seed(args.seed)
        os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
        self.ckpt_path = os.path.join(args.out, f"{self.kind}.pt")
        self.log_path = os.path.join(args.out, f"{self.kind}.log.jsonl")
        if os.path.exists(self.ckpt_path):
            self._resume()

    def _pack_manifest(self, pack: Path) -> dict:
        from .data import imagenet_index_of_wnids
        from .pack import read_pack
        m = read_pack(pack)
        labels = imagenet_index_of_wnids(self.data.wnids)
        if m["labels"] != labels:
            raise ValueError(f"{pack} was trained on ImageNet labels {m['labels']}, the data's classes are {labels}")
        if m.get("imageSize") != self.cfg.image_size:
            raise ValueError(f"{pack} is {m.get('imageSize')} px, this preset trains {self.cfg.image_size} px")
        return m

    def _init_from_pack(self, pack: Path):
        from .export import classifier_grad_exporter, export_unet
        from .onnx_weights import load_onnx_weights
        m = self._pack_manifest(pack)
        if self.kind == "unet":
            if m.get("unconditionalLabel") != self.cfg.num_classes - 1:
                raise ValueError(f"{pack} has no null label at {self.cfg.num_classes - 1}: cannot continue its U-Net")
            load_onnx_weights(self.model, pack / m["unet"]["file"], export_unet)
        else:
            load_onnx_weights(self.model, pack / m["classifierGrad"]["file"],
                              classifier_grad_exporter(m["classifierGrad"]["outputs"]))
        self.init_from = dict(pack=m["name"], prior=(m.get("training") or {}).get(self.kind))
        print(f"initialised the {self.kind} from {pack}", file=sys.stderr)

    def _init_trunk_from_pack(self, pack: Path):
        from .export import export_unet
        from .onnx_weights import load_onnx_weights
        m = self._pack_manifest(pack)
        preset = TRAIN_PRESETS[self.args.preset]
        ucfg = copy.deepcopy(preset["unet"])
        ucfg.num_classes = len(self.data.wnids) + 1 if m.get("unconditionalLabel") is not None else len(self.data.wnids)
        unet = load_onnx_weights(UNetModel(ucfg), pack / m["unet"]["file"], export_unet)
        src = unet.state_dict()
        own = self.model.state_dict()
        shared = {k: v for k, v in src.items()
                  if k.split(".")[0] in ("time_embed", "input_blocks", "middle_block") and k in own
                  and own[k].shape == v.shape}
        if not shared:
            raise ValueError(f"no classifier weight matches {pack}'s U-Net encoder (different architecture)")
        self.model.load_state_dict(shared, strict=False)
        self.init_from = dict(pack=m["name"], prior=None, trunk=True)  # a start, not a continuation
        print(f"initialised {len(shared)} of {len(own)} classifier tensors from {pack}'s U-Net encoder", file=sys.stderr)

    def budget_fraction(self) -> float:
        """How much of the training budget is spent: the larger of the time and step fractions."""
        fracs = [0.0]
        if self.args.max_minutes is not None:
            fracs.append(self.elapsed / (self.args.max_minutes * 60))
        if self.args.max_steps is not None:
            fracs.append(self.step / self.args.max_steps)
        return max(fracs)

    def _resume(self):
        ck = load_checkpoint(self.ckpt_path)  # plain tensors and containers only: a checkpoint runs no code
        if ck["wnids"] != self.data.wnids:
            raise SystemExit(f"error: {self.ckpt_path} was trained on classes {ck['wnids']}, the data has {self.data.wnids}")
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.opt.load_state_dict(ck["opt"])
        self.step, self.seen, self.elapsed = ck["step"], ck["seen"], ck["elapsed"]
        self.gen.set_state(ck["rng"])
        self.val_acc = ck.get("val_acc")
        self.val_images = ck.get("val_images", 0)
        self.val_acc_step = ck.get("val_acc_step", -1)
        self.init_from = ck.get("init_from")
        print(f"resumed {self.kind} at step {self.step} ({self.elapsed / 60:.1f} min trained)", file=sys.stderr)

    def save(self):
        ck = dict(kind=self.kind, config=asdict(self.cfg), diffusion=asdict(self.dcfg), wnids=self.data.wnids,
                  model=self.model.state_dict(), ema=self.ema.state_dict(), opt=self.opt.state_dict(),
                  step=self.step, seen=self.seen, elapsed=self.elapsed, rng=self.gen.get_state(),
                  val_acc=self.val_acc, val_images=self.val_images, val_acc_step=self.val_acc_step,
                  init_from=self.init_from, train_args={k: (str(v) if isinstance(v, Path) else v)
                                                    for k, v in vars(self.args).items()})
        tmp = self.ckpt_path + ".tmp"
        try:
            torch.save(ck, tmp)
            os.replace(tmp, self.ckpt_path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.args.bf16)

    def train_step(self) -> Dict[str, float]:
        bs = self.args.batch_size
        idx = torch.randint(0, len(self.data.labels), (bs,), generator=self.gen)
        x0 = self.data.batch(idx, flip=True, generator=self.gen)
        if self.args.crop_pad:
            x0 = random_crop(x0, self.args.crop_pad, self.gen)
        x0 = x0.to(self.device)
        y = self.data.labels[idx].to(self.device)
        t = torch.randint(0, self.diffusion.num_timesteps, (bs,), generator=self.gen).to(self.device)
        with self._autocast():
            if self.kind == "unet":
                drop = torch.rand(bs, generator=self.gen).to(self.device) < self.args.label_dropout
                y = torch.where(drop, torch.full_like(y, self.cfg.num_classes - 1), y)
                noise = torch.randn(x0.shape, generator=self.gen).to(self.device)
                terms = self.diffusion.training_losses(lambda a, b, **kw: self.model(a, b, **kw).float(), x0, t,
                                                       dict(y=y), noise=noise, min_snr_gamma=self.args.min_snr_gamma)
                loss = terms["loss"].mean()
                stats = {"loss": loss.item(), "mse": terms["mse"].mean().item(), "vb": terms["vb"].mean().item()}
            else:
                noise = torch.randn(x0.shape, generator=self.gen).to(self.device)
                logits = self.model(self.diffusion.q_sample(x0, t, noise), t).float()
                loss = F.cross_entropy(logits, y)
                acc = (logits.argmax(-1) == y).float().mean().item()
                stats = {"loss": loss.item(), "acc": acc}
        if self.args.anneal_lr:
            frac = min(1.0, self.budget_fraction())
            for group in self.opt.param_groups:
                group["lr"] = self.base_lr * (1 - frac)
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
        last_ckpt = last_sample = last_eval = time.time()
        running: Dict[str, float] = {}
        with open(self.log_path, "a") as log:
            while (self.elapsed < budget_s and (args.max_steps is None or self.step < args.max_steps)
                   and not self.stop_requested):
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
                if self.val is not None and now - last_eval > args.eval_every_min * 60:
                    self.evaluate(log)
                    last_eval = time.time()
                if self.kind == "unet" and now - last_sample > args.sample_every_min * 60:
                    self.sample_grid()
                    last_sample = time.time()
            bar.close()
            if self.stop_requested:
                print(f"stopped by a signal at step {self.step}: checkpoint saved, the same command resumes",
                      file=sys.stderr)
            elif self.val is not None:
                self.evaluate(log)
        self.save()
        if self.kind == "unet" and not self.stop_requested:
            self.sample_grid()
        summary = dict(model=self.kind, step=self.step, seen=self.seen, minutes=round(self.elapsed / 60, 1),
                       checkpoint=self.ckpt_path, **{k: round(v, 5) for k, v in running.items()})
        if self.val_acc is not None:
            summary["val_acc"] = {k: round(v, 4) for k, v in self.val_acc.items()}
        print(json.dumps(summary))

    def evaluate(self, log) -> Dict[str, float]:
        """EMA classifier's top-1 on noised val images per t bucket; logged and kept in the checkpoint."""
        from .classifier_eval import noisy_accuracy
        self.val_images = min(self.args.eval_limit, len(self.val.labels))
        self.val_acc_step = self.step
        self.val_acc = noisy_accuracy(self.ema, self.val, self.diffusion, limit=self.args.eval_limit,
                                      autocast=self.args.bf16 and self.device.type == "cpu")
        log.write(json.dumps(dict(step=self.step, seen=self.seen, elapsed=round(self.elapsed, 1),
                                  val_acc={k: round(v, 4) for k, v in self.val_acc.items()})) + "\n")
        log.flush()
        print("\nval top-1 by t: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in self.val_acc.items()), file=sys.stderr)
        return self.val_acc

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


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Reflect-pad by `pad` and crop each image back at a random offset (the classifier's random crops)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    off = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    return torch.stack([padded[i, :, oy:oy + h, ox:ox + w] for i, (oy, ox) in enumerate(off.tolist())])


def _stop_on_signals(trainer: "Trainer") -> None:
    """SIGTERM / Ctrl-C end the current step cleanly and save (a session can stop at any moment).
    A second Ctrl-C interrupts at once, as usual."""
    def request(signum, frame):
        if trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request)
        signal.signal(signal.SIGINT, request)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        trainer = Trainer(args)
        _stop_on_signals(trainer)
        trainer.run()
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
