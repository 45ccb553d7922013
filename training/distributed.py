"""Data parallelism under torchrun: process group, per-rank shard, gradient all-reduce. No Django.

A run launched by ``torchrun --nproc_per_node N`` (WORLD_SIZE > 1 in the environment) trains one
model on N processes. Every rank builds the same model and the same global batches; each takes
every N-th element of a batch, and the trainable gradients are summed across ranks before the
optimizer step, so every rank takes the same step and the run means what a one-process run means
(same batch size, steps and schedule; checkpoints resume with either). LoRA gradients are small,
so one flat all-reduce per optimizer step is all the communication there is (no DDP wrapper:
it would hide the PeftModel the trainer calls into, and cannot skip a rank left with no elements).
Without WORLD_SIZE > 1 none of this runs.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .torch_setup import setup_torch

T = TypeVar("T")
# Rank 0 evaluates and saves while the others wait at the final barrier: a long evaluation must
# not trip the collective timeout (NCCL's default is 10 minutes).
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r} (set by torchrun)") from None


def dist_context() -> DistContext:
    """This process's place in a torchrun launch (RANK, WORLD_SIZE, LOCAL_RANK); one process without it."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext()
    return DistContext(_env_int("RANK", 0), world, _env_int("LOCAL_RANK", 0), _env_int("LOCAL_WORLD_SIZE", world))


def is_main_process() -> bool:
    """False on torchrun's ranks other than 0 (they train but neither print nor save)."""
    return dist_context().is_main


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def distributed_setup(
    ctx: DistContext, threads: int = 0, device: str = "auto", precision: str = "auto"
) -> tuple[torch.device, str]:
    """setup_torch for one rank, then join the process group (once per process): NCCL on this
    rank's GPU (cuda:LOCAL_RANK), gloo on CPU. threads=0 shares the cores among the host's ranks."""
    if threads <= 0:  # every rank taking every core would oversubscribe the CPU many times over
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // ctx.local_world_size)
    dev, prec = setup_torch(threads, device, precision)
    if dev.type == "cuda":
        dev = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=TIMEOUT)
        atexit.register(_destroy)
    if dist.get_world_size() != ctx.world_size:
        raise RuntimeError(f"process group has {dist.get_world_size()} ranks, WORLD_SIZE says {ctx.world_size}")
    return dev, prec


def shard(items: Sequence[T], ctx: DistContext) -> list[T]:
    """This rank's share of a global batch: every world_size-th item from position rank. Batches
    are sorted by length, so the strided split gives each rank similar lengths."""
    return list(items[ctx.rank :: ctx.world_size])


def broadcast_parameters(params: Sequence[torch.Tensor]) -> None:
    """Copy rank 0's values into every rank (the same start whatever each rank's RNG did)."""
    for p in params:
        dist.broadcast(p.data, src=0)


def all_reduce_gradients(params: Sequence[torch.Tensor]) -> None:
    """Sum the gradients of ``params`` over all ranks, in one flat buffer. A parameter without a
    gradient (a rank that got no elements) counts as zeros and ends with the sum."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        summed = flat[offset : offset + p.numel()].view_as(p)
        if p.grad is None:
            p.grad = summed.clone()
        else:
            p.grad.copy_(summed)
        offset += p.numel()


def all_reduce_sum(values: Sequence[float], device: torch.device) -> list[float]:
    """Element-wise sum of a short list of floats over all ranks (metrics, counts)."""
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_objects(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order, on every rank."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def parameters_checksum(params: Sequence[torch.Tensor]) -> str:
    """sha256 of the parameters' bytes: equal on every rank when the ranks stayed in step."""
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
