"""Where training runs and in what precision.

GPU: mixed precision (bf16 where supported, else fp16 with loss scaling). CPU: fp32 always — bf16 autocast
runs at 0.3 GFLOP/s on the project's CPU versus 130-150 GFLOP/s in fp32 (STACK.md) — with one thread per core.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch


@dataclass
class DeviceSetup:
    device: torch.device
    amp_dtype: torch.dtype | None  # None = plain fp32

    @property
    def label(self) -> str:
        if self.device.type == "cuda":
            precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "fp32")
            return f"cuda ({torch.cuda.get_device_name(self.device)}, {precision})"
        return f"cpu ({torch.get_num_threads()} threads, fp32)"

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 needs loss scaling so small gradients do not underflow; bf16 and fp32 do not."""
        if self.amp_dtype == torch.float16:
            return torch.amp.GradScaler("cuda")
        return None


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def choose_device(requested: str = "auto") -> DeviceSetup:
    want_cuda = requested in ("auto", "cuda", "gpu") or requested.startswith("cuda:")
    if want_cuda and torch.cuda.is_available():
        device = torch.device(requested if requested.startswith("cuda:") else "cuda")
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return DeviceSetup(device, amp)
    # A GPU asked for but absent falls back to the CPU; the run's log shows the device actually used.
    torch.set_num_threads(cpu_threads())
    return DeviceSetup(torch.device("cpu"), None)
