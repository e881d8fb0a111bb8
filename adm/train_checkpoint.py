"""A training run's checkpoint (<out>/<model>.pt): everything a run resumes from (weights, EMA, optimizer, counters,
the last val accuracy, the pack it started from) plus its flags, in plain tensors and containers so that reading it
runs no code (adm.checkpoint_io). Written by rank 0 alone, atomically; read by rank 0 and handed to the others."""
from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .checkpoint_io import load_checkpoint

if TYPE_CHECKING:
    from .train import Trainer


def write_checkpoint(trainer: "Trainer") -> None:
    """Rank 0's part of Trainer.save: the checkpoint written beside its place, then renamed over it."""
    args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(trainer.args).items()}
    ck = dict(kind=trainer.kind, config=asdict(trainer.cfg), diffusion=asdict(trainer.dcfg), wnids=trainer.data.wnids,
              model=trainer.model.state_dict(), ema=trainer.ema.state_dict(), opt=trainer.opt.state_dict(),
              step=trainer.step, seen=trainer.seen, elapsed=trainer.elapsed, world_size=trainer.dist.world_size,
              val_acc=trainer.val_acc, val_images=trainer.val_images, val_acc_step=trainer.val_acc_step,
              init_from=trainer.init_from, train_args=args)
    tmp = trainer.ckpt_path + ".tmp"
    try:
        torch.save(ck, tmp)
        os.replace(tmp, trainer.ckpt_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def resume(trainer: "Trainer") -> None:
    """Rank 0 reads the checkpoint and hands it to the others; its classes must be the data's."""
    ck = trainer.dist.broadcast_object(load_checkpoint(trainer.ckpt_path) if trainer.dist.is_main else None)
    if ck["wnids"] != trainer.data.wnids:
        raise SystemExit(f"error: {trainer.ckpt_path} was trained on classes {ck['wnids']}, "
                         f"the data has {trainer.data.wnids}")
    trainer.model.load_state_dict(ck["model"])
    trainer.ema.load_state_dict(ck["ema"])
    trainer.opt.load_state_dict(ck["opt"])
    trainer.step, trainer.seen, trainer.elapsed = ck["step"], ck["seen"], ck["elapsed"]
    trainer.val_acc = ck.get("val_acc")
    trainer.val_images = ck.get("val_images", 0)
    trainer.val_acc_step = ck.get("val_acc_step", -1)
    trainer.init_from = ck.get("init_from")
    if trainer.dist.is_main:
        was = ck.get("world_size", 1)
        ranks = f", {was} -> {trainer.dist.world_size} processes" if was != trainer.dist.world_size else ""
        print(f"resumed {trainer.kind} at step {trainer.step} ({trainer.elapsed / 60:.1f} min trained{ranks})",
              file=sys.stderr)
