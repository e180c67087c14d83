"""Distributed training from torchrun's environment; every function is a no-op with one process.

``torchrun --nproc_per_node P -m pixelsound.cli train RECIPE`` sets RANK / WORLD_SIZE / LOCAL_RANK;
:func:`init` joins the group (gloo on CPU, nccl on GPU). ``train.batch_size`` is per process, so P processes
with batch B / P train like one process with batch B: the batch sampler gives each rank a contiguous slice of
every global batch, DistributedDataParallel averages the gradients, and BatchNorm layers are synchronized
(torch's SyncBatchNorm on GPU; :class:`SyncBatchNormGloo` on CPU, where torch's does not run), so batch
statistics are those of the global batch. Only rank 0 logs, validates and saves.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_rows(self, batch_size: int) -> slice:
        """This process's rows of a global batch of ``batch_size * world_size`` (batch_size: per process)."""
        return slice(self.rank * batch_size, (self.rank + 1) * batch_size)


def init(device_kind: str = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment variables (nothing when WORLD_SIZE <= 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    info = DistInfo(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
        log.info("joined %s group: rank %d of %d", backend, info.rank, world_size)
    if not info.is_main:  # rank 0 alone speaks
        logging.getLogger("pixelsound").setLevel(logging.WARNING)
    return info


def close() -> None:
    """Leave the process group, if any."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_true(flag: bool) -> bool:
    """True when ``flag`` is true on every process (e.g. "I have a usable batch")."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([1 if flag else 0])
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def any_true(flag: bool) -> bool:
    """True when ``flag`` is true on some process (e.g. "I was asked to stop")."""
    return not all_true(not flag)


def gather_rows(x: Tensor) -> Tensor:
    """Every process's rows, in rank order, with gradients flowing back to each process's own rows.

    Processes may hold different numbers of rows. With DDP averaging the parameter gradients, a loss over
    the gathered rows trains exactly as one process with the whole batch would.

    Shapes:
        ``(M_r, ...)`` on process r -> ``(sum_r M_r, ...)``
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    # not at the top: torch builds without USE_DISTRIBUTED cannot import it (needed only with a process group)
    from torch.distributed.nn.functional import all_gather

    counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, torch.tensor([len(x)], device=x.device))
    sizes = [int(c) for c in counts]
    padded = torch.cat([x, x.new_zeros(max(sizes) - len(x), *x.shape[1:])])
    parts = all_gather(padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """With several processes: synchronize BatchNorm and wrap in DistributedDataParallel; else unchanged."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    model = SyncBatchNormGloo.convert(model)
    return nn.parallel.DistributedDataParallel(model)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose gradient is the sum over processes of the gradients (d sum / d x_r = 1)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNormGloo(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the batch of all processes (works with gloo on CPU).

    Mean and variance are reduced with differentiable all-reduces, so the gradients equal those of one process
    holding the whole batch. State dict keys are BatchNorm's; eval mode is plain BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([float(x.numel() // x.shape[1])])
        dist.all_reduce(count)
        mean = _AllReduceSum.apply(x.sum(dims)) / count  # (channels,)
        shape = [1, -1] + [1] * (x.dim() - 2)
        var = _AllReduceSum.apply(((x - mean.view(shape)) ** 2).sum(dims)) / count  # (channels,) biased
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach(), count.item())
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        """Exponential averages of the global mean and unbiased variance, as BatchNorm keeps them."""
        self.num_batches_tracked.add_(1)
        m = self.momentum
        self.running_mean.mul_(1 - m).add_(m * mean)
        self.running_var.mul_(1 - m).add_(m * var * count / max(count - 1, 1))

    @classmethod
    def convert(cls, module: nn.Module) -> nn.Module:
        """Replace every BatchNorm layer (any dimension) by this class, keeping parameters and buffers."""
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, cls):
            new = cls(
                module.num_features,
                module.eps,
                module.momentum or 0.1,
                module.affine,
                module.track_running_stats,
            )
            new.load_state_dict(module.state_dict())  # the running statistics
            if module.affine:  # the same parameters, as torch's conversion keeps them (frozen stays frozen)
                new.weight, new.bias = module.weight, module.bias
            new.train(module.training)
            return new
        for name, child in module.named_children():
            module.add_module(name, cls.convert(child))
        return module
