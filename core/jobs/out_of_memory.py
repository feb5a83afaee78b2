"""Out of GPU memory: a run retries with half the batch and twice the accumulation (core.jobs.runner), so the
effective batch, and what the run learns, stay the same."""

from __future__ import annotations

import gc

from core.run_config import RunConfig


def is_cuda_oom(error: BaseException) -> bool:
    return type(error).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(error)


def batch_size(config: RunConfig, task: str) -> int | None:
    if config.batch_size:
        return config.batch_size
    try:  # the preset's value, as the training engine resolves it
        from core.training.presets import resolve

        return resolve(task, config).batch_size
    except (ImportError, ValueError):
        return None


def halve_batch(config: RunConfig, task: str) -> RunConfig | None:
    """Half the batch, twice the accumulation: the effective batch (batch x accumulation) stays the same."""
    batch = batch_size(config, task)
    if not batch or batch < 2:
        return None
    return RunConfig.from_dict({**config.to_dict(), "batch_size": batch // 2, "grad_accum": config.grad_accum * 2})


def free_gpu_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
