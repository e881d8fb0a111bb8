"""Data-parallel plumbing for the training and eval CLIs: one process, or many under `torchrun`.

A process started by torchrun (or `python -m adm.cli.torchrun`, the same launcher with a Python 3.11 fix) finds
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment; `init` then joins the process
group: NCCL when the device is CUDA (each rank on cuda:LOCAL_RANK), gloo on the CPU. Without those variables
it is one process and every method here is a no-op, so the CLIs run one code path.

Collectives time out (`timeout_s`, default ADM_DIST_TIMEOUT_S or 30 minutes, torch's own default: long enough for
rank 0's sampling and evaluation, during which the others wait) instead of waiting forever for a rank that hangs;
a rank that dies is noticed at once (its connections close, and the launcher stops the others). NCCL's
asynchronous error handling is switched on so its timeouts raise too. Rank 0 alone
writes files; `barrier` makes the others wait for it. `agree` is the per-step handshake: every rank continues
with rank 0's clock (so time budgets and checkpoint intervals are decided once) and stops when any rank was
asked to (a SIGTERM that reached one launcher stops the whole job at the same step).
"""
from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import torch
import torch.distributed as tdist
import torch.nn as nn

LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT_S = 1800.0


class DistError(RuntimeError):
    """A distributed setup that cannot work (reported as a one-line error)."""


def launched() -> bool:
    """True in a process started by torchrun (the launcher's variables are set)."""
    return all(k in os.environ for k in LAUNCH_ENV)


def shard_bounds(n: int, rank: int, world_size: int) -> Tuple[int, int]:
    """[lo, hi) of rank's share of n items: contiguous, disjoint, covering 0..n, sizes differing by at most 1."""
    return rank * n // world_size, (rank + 1) * n // world_size


def timeout_from_env() -> float:
    raw = os.environ.get("ADM_DIST_TIMEOUT_S")
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise DistError(f"ADM_DIST_TIMEOUT_S must be a number of seconds (got {raw!r})") from None
    if not value > 0:
        raise DistError(f"ADM_DIST_TIMEOUT_S must be > 0 (got {raw!r})")
    return value


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = ""  # "" = one process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return bool(self.backend)

    def shard(self, n: int) -> slice:
        lo, hi = shard_bounds(n, self.rank, self.world_size)
        return slice(lo, hi)

    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def barrier(self) -> None:
        if self.active:
            if self.backend == "nccl":  # a barrier is an all-reduce on the rank's own GPU
                tdist.all_reduce(torch.zeros(1, device=self.device))
            else:
                tdist.barrier()

    def agree(self, sums: Sequence[float], elapsed: float, now: float, stop: bool) -> Tuple[List[float], float, float, bool]:
        """One small all-reduce per step: `sums` summed over ranks, rank 0's `elapsed` and `now`, any rank's stop."""
        if not self.active:
            return list(sums), elapsed, now, stop
        main = 1.0 if self.is_main else 0.0
        # float64: a Unix time keeps microseconds; the sums are per-step statistics.
        v = torch.tensor([*sums, elapsed * main, now * main, float(stop)], dtype=torch.float64, device=self._comm_device())
        tdist.all_reduce(v)
        out = v.tolist()
        k = len(sums)
        return out[:k], out[k], out[k + 1], out[k + 2] > 0

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (a checkpoint read where only rank 0 may have the file)."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        tdist.broadcast_object_list(box, src=0, device=self._comm_device() if self.backend == "nccl" else None)
        return box[0]

    def check_replicas(self, modules: Sequence[nn.Module]) -> None:
        """Raise if the ranks' copies of `modules` differ (they must stay identical: same all-reduced gradients,
        same optimizer steps, same EMA). Compares a float64 sum per tensor, the largest against the smallest."""
        if not self.active:
            return
        sums = [t.detach().double().sum() for m in modules for t in m.state_dict().values() if t.is_floating_point()]
        lo = torch.stack(sums).to(self._comm_device())
        hi = lo.clone()
        tdist.all_reduce(lo, op=tdist.ReduceOp.MIN)
        tdist.all_reduce(hi, op=tdist.ReduceOp.MAX)
        gap = ((hi - lo).abs() / hi.abs().clamp_min(1e-30)).max().item()
        if gap > 1e-9:
            raise RuntimeError(f"the ranks' weights differ (relative gap {gap:.2e}): replicas diverged")

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to call for the forward pass: DistributedDataParallel over `model` when there are ranks.
        Gradients are averaged over ranks; the training loss is scaled so that average is the global-batch mean."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None,
                                       broadcast_buffers=False)

    def close(self) -> None:
        if self.active and tdist.is_initialized():
            tdist.destroy_process_group()
        self.backend = ""

    def tag(self) -> str:
        """'[rank r/W] ' for messages of a multi-rank job, '' for one process."""
        return f"[rank {self.rank}/{self.world_size}] " if self.world_size > 1 else ""


def init(device: str = "cpu", timeout_s: float | None = None) -> Dist:
    """Join the process group torchrun set up (else: one process on `device`). `device` "cuda" becomes
    cuda:LOCAL_RANK under a launcher; an explicit cuda:N index is refused with several ranks on a node."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DistError(f"--device {device}, but this torch ({torch.__version__}) sees no CUDA device")
    if not launched():
        return Dist(device=dev)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if dev.type == "cuda":
        if dev.index is not None and local_world > 1:
            raise DistError(f"--device {device} names one GPU, but {local_world} ranks share this node: "
                            "give --device cuda (each rank takes cuda:LOCAL_RANK)")
        if dev.index is None:
            if local_rank >= torch.cuda.device_count():
                raise DistError(f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()} "
                                "(give --nproc_per_node at most that)")
            dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise DistError(f"distributed training runs on cpu (gloo) or cuda (NCCL), not {device}")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if world == 1:
        return Dist(rank, world, local_rank, dev, "")  # one rank: no process group, no DDP
    if backend == "nccl":
        # Without asynchronous error handling a NCCL collective waiting for a dead rank never times out.
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")  # torch >= 2.2
        os.environ.setdefault("NCCL_ASYNC_ERROR_HANDLING", "1")  # older torch
    timeout = timeout_s if timeout_s is not None else timeout_from_env()
    tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return Dist(rank, world, local_rank, dev, backend)


def report_failure(d: Dist, e: BaseException, what: str) -> None:
    """The one line a rank prints when the job breaks under it (a dead peer, a timeout, diverged replicas)."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    print(f"error: {d.tag()}{what} stopped: {first[:300]} (a rank that died, a network problem or a collective "
          f"timeout ends every rank; the last checkpoint is kept and the same command resumes)",
          file=sys.stderr, flush=True)
