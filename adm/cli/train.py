"""Train the class-conditional ADM U-Net or the noise-aware classifier on an ImageFolder.

    npm run train -- --data ../shared/data/imagenette-64 --out runs/imagenette64 --model unet --max-minutes 85
    npm run train -- --data ../shared/data/imagenette-64 --out runs/imagenette64 --model classifier --max-minutes 35

The paper's recipe scaled down to a 2-core CPU: cosine schedule, learned sigma with the hybrid
loss, EMA weights, random horizontal flips, label dropout to a null label (so the same U-Net also
samples unconditionally), and a classifier trained on q(x_t | x_0) at uniformly random t.
Runs are resumable (`<out>/<model>.pt` is rewritten atomically) and stop at a time or step budget.

The same module trains data-parallel under torchrun (README, "Training on several GPUs or machines"):
    npm run torchrun -- --standalone --nproc_per_node 2 -m adm.cli.train --data ... --out ... --model unet --max-minutes 60
--batch-size is the global batch; every rank draws the global batch's random choices from the seed
(adm.global_batch) and trains on its slice, so the weights do not depend on the number of processes.

This module is the command (flags, signals, exit codes: 2 for bad input, 1 when a rank fails under torchrun);
adm.train's Trainer trains.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch

from ..dist import DistError, launched, report_failure
from ..train_presets import TRAIN_PRESETS
from ..train import Trainer


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
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun each rank takes cuda:LOCAL_RANK)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast (CPU AMX/AVX512-BF16 or CUDA)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last memory format (default: on for CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (torch >= 2.0; CUDA mainly)")
    p.add_argument("--micro-batch", type=int, default=None, metavar="M",
                   help="compute the gradient in chunks of M samples summed in float64: runs with the same M agree to "
                        "the last bit for any number of processes (adm/grad_sync.py); 0 = one chunk per process "
                        "under DDP (default, except the tiny preset: 1)")
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
    if args.micro_batch is None:
        args.micro_batch = TRAIN_PRESETS[args.preset].get("micro_batch")
    elif args.micro_batch < 0:
        p.error("--micro-batch must be >= 0")
    args.micro_batch = args.micro_batch or None
    if args.crop_pad is None:
        args.crop_pad = 4 if args.model == "classifier" else 0
    if args.crop_pad < 0:
        p.error("--crop-pad must be >= 0")
    return args


def _stop_on_signals(trainer: "Trainer") -> None:
    """SIGTERM / Ctrl-C end the current step cleanly and save (a session can stop at any moment); under torchrun
    the request reaches every rank through Dist.agree. A second Ctrl-C interrupts at once, as usual, except within
    2 s of the first under a launcher, which forwards the terminal's SIGINT to its workers a second time."""
    first = []

    def request(signum, frame):
        echo = launched() and first and time.time() - first[0] < 2.0  # the launcher passing the same Ctrl-C on
        if trainer.stop_requested and signum == signal.SIGINT and not echo:
            raise KeyboardInterrupt
        first.append(time.time())
        trainer.stop_requested = True

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request)
        signal.signal(signal.SIGINT, request)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    tag = f"[rank {os.environ['RANK']}] " if launched() and os.environ.get("WORLD_SIZE", "1") != "1" else ""
    trainer = None
    try:
        trainer = Trainer(args)
        _stop_on_signals(trainer)
        trainer.run()
    except (FileNotFoundError, ValueError, DistError) as e:
        print(f"error: {tag}{e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if trainer is None or not trainer.dist.active:
            raise
        report_failure(trainer.dist, e, "training")  # a dead or unreachable rank, a timeout, diverged replicas
        return 1
    if trainer.dist.active:
        trainer.dist.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
