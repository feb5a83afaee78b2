"""Where training runs, in what precision and with how many threads, and why.

GPU: mixed precision (bf16 where supported, else fp16 with loss scaling).
CPU: one thread per physical core (two hyper-threads of one core share its matrix units, so a second thread per
core slows matmuls down). bf16 autocast only where the CPU has bf16 matrix units (AMX or AVX512-BF16) and a probe
finds bf16 at least BF16_MIN_SPEEDUP times faster than fp32; elsewhere fp32 — on the project's AMD EPYC without them
bf16 autocast ran at 0.3 GFLOP/s against 130-150 in fp32 (STACK.md). The probe runs once per machine; its answer
is kept beside the feature cache. TUNEBOARD_CPU_PRECISION=fp32|bf16 overrides it (benchmarks compare both).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bf16 matrix instructions
BF16_MIN_SPEEDUP = 1.5  # below this a bf16 step's rounding is not worth it
PRECISION_ENV = "TUNEBOARD_CPU_PRECISION"
PROBE_VERSION = 2  # bump when the probe changes, so a cached answer is measured again (2: best of 3 rounds)


@dataclass
class DeviceSetup:
    device: torch.device
    amp_dtype: torch.dtype | None  # None = plain fp32
    why: str = ""  # the choice in words, for the run's log

    @property
    def label(self) -> str:
        precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "fp32")
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)}, {precision})"
        return f"cpu ({torch.get_num_threads()} threads, {precision})"

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def peak_memory_bytes(self) -> int:
        """The most memory this process has held: allocated GPU memory on a GPU, resident memory (RSS) on a CPU.
        A training child trains one run, so this is that run's peak (model, optimizer, activations, runtime)."""
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # kilobytes on Linux

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 needs loss scaling so small gradients do not underflow; bf16 and fp32 do not."""
        if self.amp_dtype == torch.float16:
            return torch.amp.GradScaler("cuda")
        return None


def usable_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int] | None = None, sysfs: Path = Path("/sys/devices/system/cpu")) -> int:
    """Physical cores among the CPUs this process may use: logical CPUs that share a (package, core) count once."""
    cpus = usable_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(),
                       topology.joinpath("core_id").read_text().strip()))
        except OSError:  # no sysfs topology (containers without it, macOS): count logical CPUs
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _matmul_seconds(dtype: torch.dtype | None, n: int = 1024, repeats: int = 8, rounds: int = 3) -> float:
    """The fastest of `rounds` timings: one round alone, on a 2-core AMD EPYC with AVX512-BF16, measured bf16 between
    1.2x and 3.5x fp32 across the test suite's fresh homes, so one probe in forty chose fp32 there."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    context = torch.autocast("cpu", dtype=dtype) if dtype else contextlib.nullcontext()
    best = float("inf")
    with context:
        a @ b  # warm-up
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(repeats):
                a @ b
            best = min(best, time.perf_counter() - start)
    return best


def probe_cpu_precision(flags: set[str]) -> tuple[bool, str]:
    """(use bf16, why): bf16 only with bf16 matrix instructions and a measured speed-up."""
    found = [f for f in BF16_FLAGS if f in flags]
    if not found:
        return False, "fp32: this CPU has no bf16 matrix instructions (AMX or AVX512-BF16)"
    speedup = _matmul_seconds(None) / _matmul_seconds(torch.bfloat16)
    if speedup < BF16_MIN_SPEEDUP:
        return False, f"fp32: bf16 ({', '.join(found)}) ran a matmul only {speedup:.1f}x faster than fp32"
    return True, f"bf16 autocast: {', '.join(found)} ran a matmul {speedup:.1f}x faster than fp32"


@functools.lru_cache(maxsize=1)
def cpu_precision() -> tuple[bool, str]:
    """The probe's answer for this machine, measured once and kept in the cache folder."""
    forced = os.environ.get(PRECISION_ENV, "").strip().lower()
    if forced in ("fp32", "bf16"):
        return forced == "bf16", f"{forced}: set by {PRECISION_ENV}"
    from storage.paths import cache_dir

    flags = cpu_flags()
    key = {"version": PROBE_VERSION, "torch": torch.__version__, "bf16_flags": sorted(f for f in BF16_FLAGS if f in flags)}
    saved = cache_dir() / "cpu_probe.json"
    try:
        answer = json.loads(saved.read_text())
        if answer.get("key") == key:
            return bool(answer["bf16"]), answer["why"]
    except (OSError, ValueError, KeyError):
        pass
    use_bf16, why = probe_cpu_precision(flags)
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({"key": key, "bf16": use_bf16, "why": why}))
    except OSError:  # a read-only data folder: probe again next time
        pass
    return use_bf16, why


def choose_device(requested: str = "auto") -> DeviceSetup:
    want_cuda = requested in ("auto", "cuda", "gpu") or requested.startswith("cuda:")
    if want_cuda and torch.cuda.is_available():
        device = torch.device(requested if requested.startswith("cuda:") else "cuda")
        if torch.cuda.is_bf16_supported():
            return DeviceSetup(device, torch.bfloat16, "bf16 autocast: the GPU supports it")
        return DeviceSetup(device, torch.float16, "fp16 autocast with loss scaling: the GPU has no bf16")
    # A GPU asked for but absent falls back to the CPU; the run's log shows the device actually used.
    threads, share = cpu_threads()
    torch.set_num_threads(threads)
    use_bf16, why = cpu_precision()
    return DeviceSetup(torch.device("cpu"), torch.bfloat16 if use_bf16 else None, f"{why}; {threads} threads, {share}")


def cpu_threads() -> tuple[int, str]:
    """One thread per physical core, or fewer when OMP_NUM_THREADS asks for fewer: a worker that trains several
    runs at once gives each its share of the cores that way (core/jobs/worker.py), and so does a test runner that
    runs tests side by side."""
    cores = physical_cores()
    asked = os.environ.get("OMP_NUM_THREADS", "")
    if asked.isdigit() and 0 < int(asked) < cores:
        return int(asked), f"its share of {cores} physical cores (OMP_NUM_THREADS)"
    return cores, "one per physical core"
