"""Exported models against the trained PyTorch model: size, single-input latency (p50/p95), batch throughput and
test accuracy, for the default text model (MiniLM, LoRA, Quick, on the whole SMS spam set) and the default image
model (EfficientNet-Lite0, LoRA, Quick, on ants/bees). Target: ONNX int8 at least 2x faster than PyTorch on the CPU
at no more than 1 point of accuracy lost.

Each model is trained once through the command line, exported with core.export.export_run (which verifies the
export in a fresh process: its accuracy comes from there), then timed here in one process, one model after the
other, on the same prepared inputs (tokenized or decoded once, outside the timing): the model call alone, as
a server that has its input ready would see it. Threads: each runtime's default on this machine (both use every
core).

Quick mode: the SMS 800-text slice instead of the whole set.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ANTS_BEES, markdown_table, require, sms_sample, train_with_cli, verdict

LATENCY_INPUTS = 200  # single inputs timed, cycling over the test set (texts differ in length)
WARMUP = 5
BATCH = 32
TARGET_SPEEDUP, MAX_POINTS_LOST = 2.0, 1.0


def _percentiles(times_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(times_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _time_each(call, inputs: list) -> list[float]:
    for item in inputs[:WARMUP]:
        call(item)
    times = []
    for item in inputs:
        tick = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - tick) * 1000)
    return times


def _prepared(predictor, examples: list, batch_size: int) -> list[dict[str, Any]]:
    """The model's inputs for `examples`, batch_size at a time, as Tuneboard's predictor prepares them."""
    return [inputs for inputs, _, _ in predictor._data(examples).evaluate(batch_size)]


def _numpy(inputs: dict[str, Any], names: list[str]) -> dict[str, np.ndarray]:
    return {name: inputs[name].contiguous().numpy() for name in names}


def measure(run_dir: Path, dataset_dir: Path, export_root: Path) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    from core.export import export_run
    from core.export.source import read_run

    exports = {fmt: export_run(run_dir, fmt, export_root / fmt, dataset_dir=dataset_dir) for fmt in ("onnx", "onnx-int8")}
    source = read_run(run_dir, dataset_dir)
    predictor = source.predictor
    test_inputs, _ = source.examples("test")
    cycle = [test_inputs[i % len(test_inputs)] for i in range(LATENCY_INPUTS)]
    singles = [b for x in cycle for b in _prepared(predictor, [x], 1)]
    batches = _prepared(predictor, test_inputs, BATCH)
    names = list(batches[0])
    rows = []

    def torch_call(inputs):
        with torch.inference_mode():
            return predictor.model(**inputs)
    pytorch_bytes = sum(f.stat().st_size for f in run_dir.rglob("*.safetensors") if "checkpoint" not in f.parts)
    rows.append(_row("PyTorch (as trained)", torch_call, singles, batches, pytorch_bytes,
                     exports["onnx"].pytorch_accuracy))
    for fmt, result in exports.items():
        session = ort.InferenceSession(str(result.path / "model.onnx"), providers=["CPUExecutionProvider"])
        wanted = [i.name for i in session.get_inputs()]
        row = _row(f"ONNX Runtime, {'int8' if fmt == 'onnx-int8' else 'float32'}",
                   lambda inputs: session.run(None, _numpy(inputs, wanted)), singles, batches, result.model_bytes,
                   result.export_accuracy)
        row.update(offered=result.accepted, reason=result.reason, agreement=result.agreement)
        rows.append(row)
    return {"rows": rows, "test_examples": len(test_inputs), "inputs": names, "threads": torch.get_num_threads()}


def _row(name: str, call, singles: list, batches: list, size_bytes: int, accuracy: float | None) -> dict[str, Any]:
    p50, p95 = _percentiles(_time_each(call, singles))
    for batch in batches[:2]:
        call(batch)
    started = time.perf_counter()
    count = 0
    for batch in batches:
        call(batch)
        count += len(next(iter(batch.values())))
    return {"model": name, "size_bytes": size_bytes, "p50_ms": p50, "p95_ms": p95,
            "batch_per_second": count / (time.perf_counter() - started), "accuracy": accuracy}


def run(quick: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-export-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    text_data = sms_sample(800, home) if quick else sms_sample(None, home)
    cases = {"text: MiniLM-L6, LoRA, Quick, SMS spam" + (" (800 texts)" if quick else " (all 5,574 texts)"):
             (text_data, "minilm"),
             "image: EfficientNet-Lite0, LoRA, Quick, ants/bees": (require(ANTS_BEES), "efficientnet-lite0")}
    results = {}
    for name, (data, model) in cases.items():
        trained = train_with_cli(home, data, "--model", model, "--method", "lora", "--preset", "quick")
        run_dir, run_id = home / "runs" / str(trained.result["run_id"]), trained.result["run_id"]
        from storage.runs import get_run

        dataset_dir = home / get_run(run_id).dataset.path
        results[name] = {**measure(run_dir, dataset_dir, home / "exports" / str(run_id)),
                         "train_seconds": trained.wall_seconds}
    return {"cases": results, "target_speedup": TARGET_SPEEDUP, "max_points_lost": MAX_POINTS_LOST}


def table(result: dict[str, Any]) -> str:
    parts = []
    for name, case in result["cases"].items():
        base = case["rows"][0]
        rows = []
        for r in case["rows"]:
            lost = (base["accuracy"] - r["accuracy"]) * 100 if r["accuracy"] is not None else None
            rows.append([r["model"], f"{r['size_bytes'] / 1e6:.1f}", f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}",
                         f"{base['p50_ms'] / r['p50_ms']:.2f}x", f"{r['batch_per_second']:.0f}",
                         f"{r['batch_per_second'] / base['batch_per_second']:.2f}x",
                         "–" if r["accuracy"] is None else f"{r['accuracy']:.4f}",
                         "" if lost is None or r is base else f"{lost:+.2f}",
                         {True: "offered", False: "refused"}.get(r.get("offered"), "")])
        int8 = case["rows"][-1]
        met = (base["p50_ms"] / int8["p50_ms"] >= result["target_speedup"]
               and (base["accuracy"] - int8["accuracy"]) * 100 <= result["max_points_lost"])
        parts += [f"**{name}** ({case['test_examples']:,} test examples; inputs prepared once, model call alone)", "",
                  markdown_table(["model", "size (MB)", "p50 ms, 1 input", "p95 ms, 1 input", "speed-up (p50)",
                                  f"inputs/s, batches of {BATCH}", "speed-up (batches)", "test accuracy",
                                  "points lost", "export check"], rows), "",
                  f"Target: int8 at least {result['target_speedup']:g}x faster than PyTorch for one input, at most "
                  f"{result['max_points_lost']:g} point lost — {verdict(met)}.", ""]
    return "\n".join(parts)
