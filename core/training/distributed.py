"""One run on several devices: data-parallel training with torch.distributed (DDP), the processes started by
`torchrun` (core/jobs/distributed_launch.py), each holding a whole copy of the model.

The global batch stays the run's batch size: each of the N processes takes batch / N examples per step, and DDP
averages the gradients, so one step of N processes sees what one step of one process would (the same examples up
to the order of the batches), and the learning rate and schedule need no change. Each process draws the same batch
order (same seed) and takes every N-th batch, so every process runs the same number of steps (a process waiting
for a gradient that never comes would hang); the last few batches of an epoch that do not fill a round are left
out. Only process 0 (the main one) talks to the database, writes checkpoints, scores the test set and saves the
model; a stop asked of it (Cancel) reaches the others through `any_process`, at the same step.

RANK and WORLD_SIZE come from torchrun; without them this is one process and every function here is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def start() -> None:
    """Join the process group (gloo on CPUs, nccl on GPUs: each process on the GPU of its local rank)."""
    if world_size() == 1 or dist.is_initialized():
        return
    # A process left waiting for the others (one failed before its first step) gives up after this long instead of
    # hanging; every step and every validation pass meets the others well within it.
    timeout = timedelta(minutes=10)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl", timeout=timeout)
    else:
        dist.init_process_group("gloo", timeout=timeout)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def per_process_batch(batch_size: int) -> int:
    """The batch each process takes so that together they make the run's batch (at least 1 each)."""
    return max(1, batch_size // world_size())


def my_share(batches: Iterable[T], total: int) -> Iterator[T]:
    """Every N-th of `total` batches, starting at this process's rank, in whole rounds only."""
    n, me = world_size(), rank()
    rounds = total // n
    for i, batch in enumerate(batches):
        if i >= rounds * n:
            return
        if i % n == me:
            yield batch


def batches_per_process(total: int) -> int:
    return total // world_size() if world_size() > 1 else total


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model whose backward averages the gradients over the processes (itself, in one process)."""
    if world_size() == 1:
        return model
    # find_unused_parameters: some methods leave a trainable weight out of the forward pass (full fine-tuning of a
    # model whose classifier skips the pooler); DDP would otherwise wait for its gradient forever.
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def any_process(flag: bool, device: torch.device) -> bool:
    """True on every process when it is True on one: a Cancel seen by the main process stops all at the same step."""
    if world_size() == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def processes_for(config) -> tuple[int, str]:
    """How many processes train this run (a RunConfig), and why when it is fewer than asked."""
    from core.methods import get_method

    wanted = max(1, int(config.devices or 1))
    if wanted == 1:
        return 1, ""
    method = get_method(config.method)
    if method.frozen_backbone:
        return 1, f"{method.name} trains a small head on features computed once: one process is enough"
    if config.cross_validation_folds:
        return 1, "cross-validation trains its folds one after another in one process"
    if torch.cuda.is_available() and torch.cuda.device_count() < wanted:
        return torch.cuda.device_count(), f"only {torch.cuda.device_count()} GPU(s) were free for it"
    return wanted, ""


__all__ = ["any_process", "batches_per_process", "is_main", "my_share", "per_process_batch", "processes_for", "rank",
           "start", "stop", "world_size", "wrap"]
