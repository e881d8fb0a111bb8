"""How the ranks turn their slices of the global batch into the gradient of the global-batch mean loss.

Default: each rank runs its whole slice (adm.dist.shard_bounds) in one forward/backward under
DistributedDataParallel, which averages the gradients over ranks while the backward pass runs; a rank's loss is
its sum * world_size / batch_size, so that average is the global-batch mean. The result equals a one-process
run's up to float32 summation order: the weight-gradient sums over the batch are split differently.

`micro_batch` M (exact mode): the global batch is cut into chunks of M samples, fixed by M alone; each rank
runs whole chunks, one forward/backward per chunk, adds the chunk gradients up in float64 and the ranks sum
those in one float64 all-reduce. Every chunk is computed the same way whoever runs it, and float64 sums in any
order round to the same float32 gradient, so runs with the same M agree to the last bit (same hardware and
thread count) for any number of processes up to the number of chunks, in float32 and under bf16 autocast alike.
It costs a forward/backward per chunk, which is also gradient accumulation (a large batch in little memory).
"""
from __future__ import annotations

from typing import Iterable, List, Optional

import torch
import torch.distributed as tdist

from .dist import Dist, DistError, shard_bounds


class GradSync:
    def __init__(self, dist: Dist, batch_size: int, micro_batch: Optional[int] = None):
        self.dist, self.batch_size, self.micro_batch = dist, batch_size, micro_batch
        if micro_batch is not None:
            if micro_batch < 1:
                raise DistError(f"--micro-batch must be >= 1 (got {micro_batch})")
            chunks = -(-batch_size // micro_batch)
            if chunks < dist.world_size:
                raise DistError(f"--batch-size {batch_size} in chunks of --micro-batch {micro_batch} makes {chunks} "
                                f"chunk(s), fewer than the {dist.world_size} ranks")
        self._acc: Optional[List[torch.Tensor]] = None

    @property
    def exact(self) -> bool:
        return self.micro_batch is not None

    @property
    def uses_ddp(self) -> bool:
        return not self.exact and self.dist.active

    @property
    def loss_scale(self) -> float:
        """Multiplies a chunk's summed loss: DDP divides by world_size afterwards, the exact mode sums."""
        return (1.0 if self.exact else self.dist.world_size) / self.batch_size

    def parts(self) -> List[slice]:
        """The slices of the global batch this rank computes, in order."""
        if not self.exact:
            return [self.dist.shard(self.batch_size)]
        m = self.micro_batch
        lo, hi = shard_bounds(-(-self.batch_size // m), self.dist.rank, self.dist.world_size)
        return [slice(c * m, min((c + 1) * m, self.batch_size)) for c in range(lo, hi)]

    def after_backward(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Exact mode: move this chunk's gradient into the float64 sum."""
        if not self.exact:
            return
        params = list(params)
        if self._acc is None:
            self._acc = [torch.zeros_like(p, dtype=torch.float64) for p in params]
            self._used = [False] * len(params)
        for i, (a, p) in enumerate(zip(self._acc, params)):
            if p.grad is not None:
                a.add_(p.grad)
                p.grad = None
                self._used[i] = True

    def finish(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Exact mode: sum the float64 gradients over ranks, hand them to the optimizer as float32 .grad."""
        if not self.exact or self._acc is None:
            return
        if self.dist.active:
            flat = torch.cat([a.flatten() for a in self._acc])
            dev = self.dist.device if self.dist.backend == "nccl" else torch.device("cpu")
            flat_dev = flat.to(dev)
            tdist.all_reduce(flat_dev)
            flat = flat_dev.to(flat.device)
            offset = 0
            for a in self._acc:
                a.copy_(flat[offset:offset + a.numel()].view_as(a))
                offset += a.numel()
        for a, p, used in zip(self._acc, params, self._used):
            p.grad = a.to(p.dtype) if used else None  # a parameter outside the graph stays without a gradient
            a.zero_()
