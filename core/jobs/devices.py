"""The devices a worker hands out to its runs (one run per GPU), found without importing torch, and the line that
names them in the worker's row (storage.workers: the Runs page shows it for workers on every machine)."""

from __future__ import annotations

import os
import shutil
import subprocess


def visible_gpus() -> list[str]:
    """GPU ids this worker may hand out (one run per GPU), found without importing torch."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def describe_device(gpus: list[str]) -> str:
    """What a worker trains on, for its row in the workers table: "GPU 0, 1" or "CPU (8 cores)"."""
    return f"GPU {', '.join(gpus)}" if gpus else f"CPU ({os.cpu_count() or 1} cores)"
