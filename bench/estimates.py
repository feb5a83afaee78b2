"""Estimates against what runs took: each run is estimated as the Train page does before launch (a probe of real
steps on this machine, core.training.probe), queued with that estimate, and trained by a real worker
(`python -m core worker --once`) in a fresh data folder; its wall time (claimed to saved, from the run's row) and
its training process's peak memory are set beside the estimate. Target: time within ±30% for runs of a minute or
more (±20 s below that), memory within ±30%.

Quick mode: the SMS 800-text slice and the ants/bees photos, Quick preset. Full mode: adds head only on fortunes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ANTS_BEES, ROOT, SHARED, markdown_table, require, sms_sample, verdict

FORTUNES = SHARED / "fortunes" / "fortunes.csv"
TIME_TOLERANCE, SHORT_RUN_SECONDS, SHORT_RUN_TOLERANCE_S = 0.30, 60.0, 20.0
MEMORY_TOLERANCE = 0.30
# (data set, model, method): the Quick preset, everything else as the Train page leaves it
QUICK_CASES = [("SMS, 800-text slice", "minilm", "head"), ("SMS, 800-text slice", "minilm", "lora"),
               ("SMS, 800-text slice", "minilm", "full"), ("ants/bees", "efficientnet-lite0", "head"),
               ("ants/bees", "efficientnet-lite0", "lora")]
FULL_CASES = QUICK_CASES + [("fortunes (26 classes)", "minilm", "head")]


def data_paths(home: Path, quick: bool) -> dict[str, Path]:
    paths = {"SMS, 800-text slice": sms_sample(800, home), "ants/bees": require(ANTS_BEES)}
    if not quick:
        paths["fortunes (26 classes)"] = require(FORTUNES)
    return paths


def time_within(estimated: float, actual: float) -> bool:
    if actual < SHORT_RUN_SECONDS:
        return abs(estimated - actual) <= SHORT_RUN_TOLERANCE_S
    return abs(estimated - actual) <= TIME_TOLERANCE * actual


def for_epochs_run(dataset, config, epochs_run: int) -> float:
    """The same probe's estimate for the epochs the run trained: early stopping can end a run before its planned
    epochs, which no estimate made before it starts can know; this isolates the estimate's own error."""
    import dataclasses

    from core.datasets.store import dataset_dir
    from core.training.estimate import from_probe
    from core.training.probe import measure

    probe = measure(dataset_dir(dataset), list(dataset.labels), dataset.task, config)  # cached: no new probe
    return from_probe(dataset.task, dataclasses.replace(config, epochs=epochs_run), dataset.split_counts, probe)["seconds"]


def one_case(name: str, path: Path, model: str, method: str) -> dict[str, Any]:
    from core.datasets.store import register_path
    from core.jobs.submit import run_estimate
    from core.run_config import RunConfig
    from storage.datasets import get_dataset
    from storage.run_requests import enqueue
    from storage.runs import estimate_check, get_run

    dataset = get_dataset(register_path(path))
    config = RunConfig(model=model, method=method, preset="quick")
    started = time.perf_counter()
    guess = run_estimate(dataset, config)  # the probe, as the Train page runs it before launch
    probe_seconds = time.perf_counter() - started
    run_id = enqueue(dataset.id, config.to_dict(), name=f"{method} · {model}", estimate=guess)
    worker = subprocess.run([sys.executable, "-m", "core", "worker", "--once"], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    run = get_run(run_id)
    if run.status != "succeeded":
        raise RuntimeError(f"run {run_id} ({name}, {method}) {run.status}: {run.error or worker.stderr[-2000:]}")
    check = estimate_check(run)
    epochs_run = (run.training or {}).get("epochs_run")
    return {"data": name, "model": model, "method": method, "how": guess.get("how"), "probe_seconds": probe_seconds,
            "estimated_seconds": check.estimated_seconds, "wall_seconds": check.wall_seconds,
            "estimated_seconds_for_epochs_run": for_epochs_run(dataset, config, epochs_run),
            "estimated_memory_bytes": check.estimated_memory_bytes, "peak_memory_bytes": check.peak_memory_bytes,
            "time_ok": time_within(for_epochs_run(dataset, config, epochs_run), check.wall_seconds),
            "memory_ok": abs(check.estimated_memory_bytes - check.peak_memory_bytes)
            <= MEMORY_TOLERANCE * check.peak_memory_bytes,
            "accuracy": run.metrics.get("accuracy"), "macro_f1": run.metrics.get("macro_f1"), "epochs_run": epochs_run,
            "epochs_planned": guess.get("epochs"), "dataset_id": dataset.id,
            "image_size": (run.training or {}).get("image_size")}


def run(quick: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-estimates-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    os.environ["TUNEBOARD_ESTIMATE"] = "probe"
    paths = data_paths(home, quick)
    rows = [one_case(name, paths[name], model, method)
            for name, model, method in (QUICK_CASES if quick else FULL_CASES)]
    return {"rows": rows, "time_tolerance": TIME_TOLERANCE, "memory_tolerance": MEMORY_TOLERANCE,
            "targets_met": all(r["time_ok"] and r["memory_ok"] for r in rows)}


def _error(estimated: float, actual: float) -> str:
    return f"{100 * (estimated - actual) / actual:+.0f}%"


def table(result: dict[str, Any]) -> str:
    rows = [[r["data"], r["method"], f"{r['estimated_seconds']:.0f} ({r['epochs_planned']} epochs)",
             f"{r['estimated_seconds_for_epochs_run']:.0f} ({r['epochs_run']} epochs)", f"{r['wall_seconds']:.0f}",
             _error(r["estimated_seconds_for_epochs_run"], r["wall_seconds"]) + ("" if r["time_ok"] else " ✗"),
             f"{r['estimated_memory_bytes'] / 2**30:.2f}", f"{r['peak_memory_bytes'] / 2**30:.2f}",
             _error(r["estimated_memory_bytes"], r["peak_memory_bytes"]) + ("" if r["memory_ok"] else " ✗"),
             f"{r['probe_seconds']:.0f}", f"{r['accuracy']:.3f}"] for r in result["rows"]]
    return "\n".join([
        markdown_table(["data", "method (Quick)", "estimated s, when queued", "estimated s, for the epochs it ran",
                        "actual s (claimed to saved)", "time error", "estimated GiB", "peak GiB (training process)",
                        "memory error", "probe s", "test accuracy"], rows),
        "",
        f"Estimates as the Train page makes them (a probe of real steps, core/training/probe.py), runs as a worker "
        f"trains them. The time target is judged on the estimate for the epochs the run trained (early stopping "
        f"can end a run sooner than planned; the estimate shown when queueing is for the planned epochs). Target: "
        f"time within ±{result['time_tolerance']:.0%} (±{SHORT_RUN_TOLERANCE_S:.0f} s under a "
        f"minute), memory within ±{result['memory_tolerance']:.0%} — {verdict(result['targets_met'])}.",
    ])
