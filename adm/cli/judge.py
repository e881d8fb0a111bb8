"""`python -m adm.cli.judge`: train the judge of adm.judge (usage in its docstring); exit status 2 for bad input."""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from ..cli_safety import sigterm_as_exit
from ..judge import __doc__ as USAGE, DEFAULT_JUDGE_PATH
from ..judge_train import TrainSettings, run_training


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m adm.cli.judge", description=USAGE,
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
