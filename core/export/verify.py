"""Verifying an export before it is offered: each of its artifacts is reloaded in a fresh process with plain library
code (core/export/fresh_check.py, run isolated so it cannot import Tuneboard) and run on the run's test set; its
probabilities are compared with those of Tuneboard's own predictor on the same inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.export.result import (
    MAX_ACCURACY_DROP_POINTS, MAX_LOSSLESS_PROBABILITY_DIFFERENCE, Artifact, ArtifactCheck, Written, allowed_drop,
)
from core.export.source import RunSource

CHILD_SCRIPT = Path(__file__).with_name("fresh_check.py")
CHILD_TIMEOUT_SECONDS = 3600  # a large test set on a slow, busy CPU; a hung child must not hang the export
CHILD_BATCH = 32
LATENCY_RUNS = 20
LATENCY_WARMUP = 3
LATENCY_SECONDS = 5.0  # stop timing early on a slow model


def reference_probabilities(source: RunSource) -> np.ndarray:
    """(N, C) test-set probabilities from Tuneboard's predictor: what the trained model says."""
    inputs, _ = source.examples("test")
    return source.predictor.predict_proba(inputs)


def pytorch_latency_ms_p50(source: RunSource) -> float:
    """The trained model in Tuneboard timed as fresh_check.py times an export (which cannot import this code, hence
    the same few lines there): the first test input, the model call alone, after warm-up calls."""
    inputs, _ = source.examples("test")
    call = source.predictor.model_call(inputs[0])
    for _ in range(LATENCY_WARMUP):
        call()
    times, started = [], time.perf_counter()
    while len(times) < LATENCY_RUNS and time.perf_counter() - started < LATENCY_SECONDS:
        tick = time.perf_counter()
        call()
        times.append((time.perf_counter() - tick) * 1000)
    return round(statistics.median(times), 3)


def pytorch_model_bytes(source: RunSource) -> int:
    """The trained model's weight files (model/ and, when kept apart, adapter/)."""
    return sum(f.stat().st_size for folder in (source.model_dir, source.adapter_dir) if folder.is_dir()
               for f in folder.glob("*.safetensors"))


def check_artifact(folder: Path, artifact: Artifact, source: RunSource, reference: np.ndarray) -> ArtifactCheck:
    inputs, labels = source.examples("test")
    with tempfile.TemporaryDirectory(prefix="tuneboard-check-") as scratch:
        request, result = Path(scratch) / "request.json", Path(scratch) / "result.json"
        request.write_text(json.dumps({"folder": str(folder.resolve()), "artifact": asdict(artifact),
                                       "examples": inputs, "batch_size": CHILD_BATCH, "latency_runs": LATENCY_RUNS}))
        # -I: isolated, so neither PYTHONPATH nor the script's folder puts Tuneboard within the child's reach.
        command = [sys.executable, "-I", str(CHILD_SCRIPT), str(request), str(result)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS,
                                  stdin=subprocess.DEVNULL, cwd=scratch, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        except subprocess.TimeoutExpired:
            return ArtifactCheck(artifact.name, error=f"it did not finish within {CHILD_TIMEOUT_SECONDS} s")
        if done.returncode != 0 or not result.is_file():
            return ArtifactCheck(artifact.name, error=_last_lines(done.stderr))
        answer = json.loads(result.read_text())
    probabilities = np.asarray(answer["probabilities"], dtype=np.float64)
    if probabilities.shape != reference.shape:
        return ArtifactCheck(artifact.name, error=f"it gave {probabilities.shape} probabilities, "
                                                  f"expected {reference.shape}")
    predicted = probabilities.argmax(axis=1)
    return ArtifactCheck(
        artifact.name,
        accuracy=float((predicted == labels).mean()),
        agreement=float((predicted == reference.argmax(axis=1)).mean()),
        max_probability_difference=float(np.abs(probabilities - reference).max()),
        latency_ms_p50=round(float(answer["latency_ms_p50"]), 3),
    )


def _last_lines(text: str, count: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-count:]) or "it exited without saying why"


def judge(checks: list[ArtifactCheck], pytorch_accuracy: float, written: Written,
          test_examples: int) -> tuple[bool, str, ArtifactCheck]:
    """(accepted, one plain sentence, the check that decided). Every artifact must pass."""
    allowed = allowed_drop(test_examples)
    for check in checks:
        if check.error:
            return False, f"{check.name} could not be loaded and run in a fresh process, so it is not offered.", check
        lost = round((pytorch_accuracy - check.accuracy) * test_examples)
        if lost > allowed:
            return False, (f"{check.name} gets {lost} more of the {test_examples} test examples wrong than the "
                           f"trained model (accuracy {check.accuracy:.1%} against {pytorch_accuracy:.1%}); at most "
                           f"{allowed} ({MAX_ACCURACY_DROP_POINTS:g} point of the test set, at least one example) is "
                           "allowed, so it is not offered."), check
        if written.lossless and check.max_probability_difference > MAX_LOSSLESS_PROBABILITY_DIFFERENCE:
            return False, (f"{check.name} should be an exact copy but its probabilities differ from the trained "
                           f"model's by up to {check.max_probability_difference:.2g} (at most "
                           f"{MAX_LOSSLESS_PROBABILITY_DIFFERENCE:g} is allowed), so it is not offered."), check
    worst = min(checks, key=lambda c: (c.agreement, -c.max_probability_difference))
    files = "it" if len(checks) == 1 else f"each of its {len(checks)} files"
    return True, (f"Reloaded without Tuneboard, {files} gave the trained model's top class on {worst.agreement:.1%} "
                  f"of the test examples (accuracy {worst.accuracy:.1%} against {pytorch_accuracy:.1%})."), worst


def folder_bytes(folder: Path, names: list[str] | None = None) -> int:
    files = [folder / n for n in names] if names is not None else [p for p in folder.rglob("*") if p.is_file()]
    return sum((p.stat().st_size if p.is_file() else folder_bytes(p)) for p in files if p.exists())


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
