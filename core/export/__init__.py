"""Exporting a finished run so it can be used without Tuneboard, each export verified before it is offered.

    result = export_run(run_dir, "onnx", out_dir, dataset_dir=dataset_dir)   # ExportResult
    if result.accepted:
        offer(make_zip(result.path))

Formats: `hf` (the model's own library: transformers, or EfficientNet safetensors + load_model.py + TorchScript),
`adapter` (the peft adapter alone), `onnx` (float32) and `onnx-int8`. Each is written, reloaded in a fresh process
with plain library code and run on the run's test set (core/export/verify.py), and given a model card (card.py).
An export that loses more than MAX_ACCURACY_DROP_POINTS of test accuracy is refused: the folder is kept for
inspection, but `accepted` is False and `reason` says why in one sentence.

The folder is written under a temporary name beside `out_dir` and renamed at the end, so a failed export leaves
nothing that looks finished.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.export.archive import make_zip
from core.export.card import CardContext, write_card
from core.export.result import (
    MAX_ACCURACY_DROP_POINTS, MAX_LOSSLESS_PROBABILITY_DIFFERENCE, ExportError, ExportResult, Written,
)
from core.export.source import RunSource, read_run
from core.export.verify import check_artifact, clear, folder_bytes, judge, reference_probabilities

VERIFICATION_FILE = "verification.json"


def _hf(source: RunSource, folder: Path, scratch: Path) -> Written:
    from core.export.hf import write_hf

    return write_hf(source, folder, scratch)


def _adapter(source: RunSource, folder: Path, scratch: Path) -> Written:
    from core.export.hf import write_adapter

    return write_adapter(source, folder, scratch)


def _onnx(source: RunSource, folder: Path, scratch: Path) -> Written:
    from core.export.onnx_export import write_onnx

    return write_onnx(source, folder, scratch)


def _int8(source: RunSource, folder: Path, scratch: Path) -> Written:
    from core.export.quantize import write_int8

    return write_int8(source, folder, scratch)


# format -> (what it is, writer). Writers import their libraries when called: onnxruntime is not needed for hf.
FORMATS: dict[str, tuple[str, Callable[[RunSource, Path, Path], Written]]] = {
    "hf": ("The model's own library: a transformers folder, or EfficientNet weights with a loading script and "
           "TorchScript.", _hf),
    "adapter": ("The peft adapter alone (LoRA, IA3, prompt or prefix tuning), for its base model.", _adapter),
    "onnx": ("ONNX (float32) for ONNX Runtime, with its preprocessing.", _onnx),
    "onnx-int8": ("ONNX with int8 weights: smaller and usually faster on a CPU, a little less exact.", _int8),
}


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"There is no export format {fmt!r}; choose one of: {', '.join(FORMATS)}.")


def export_run(run_dir: Path, fmt: str, out_dir: Path, *, dataset_dir: Path, dataset_name: str = "",
               run_metrics: dict[str, Any] | None = None, threshold: float | None = None,
               training: dict[str, Any] | None = None) -> ExportResult:
    """Write run_dir's model to out_dir (a new or empty folder) in format `fmt`, verify it and write its card.

    dataset_dir is the run's stored dataset (its test set verifies the export); dataset_name, run_metrics (the
    run's stored test metrics with baselines), threshold and training come from the run's row, for the card.
    Raises ExportError (one plain sentence) when the run cannot be exported in this format.
    """
    check_format(fmt)
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} already exists and is not an empty folder; choose a new folder for the export.")
    source = read_run(run_dir, dataset_dir)
    staging = out_dir.with_name(f".exporting-{uuid.uuid4().hex[:8]}-{out_dir.name}")
    staging.mkdir(parents=True)
    try:
        with tempfile.TemporaryDirectory(prefix="tuneboard-export-") as scratch:
            # 1) the files (a format that does not apply to this run refuses here, before any work),
            # 2) what the trained model says on the test set, 3) each artifact reloaded in a fresh process
            written = FORMATS[fmt][1](source, staging, Path(scratch))
            reference = reference_probabilities(source)
            checks = [check_artifact(staging, artifact, source, reference) for artifact in written.artifacts]
        _, test_labels = source.examples("test")
        pytorch_accuracy = float((reference.argmax(axis=1) == test_labels).mean())
        accepted, reason, decisive = judge(checks, pytorch_accuracy, written)
        result = ExportResult(
            format=fmt, path=out_dir, accepted=accepted, reason=reason, export_accuracy=decisive.accuracy,
            pytorch_accuracy=pytorch_accuracy, agreement=decisive.agreement,
            max_probability_difference=decisive.max_probability_difference, size_bytes=0,
            model_bytes=folder_bytes(staging, written.weights), latency_ms_p50=decisive.latency_ms_p50,
            test_examples=len(test_labels), checks=checks,
        )
        # 4) the card and the check's numbers; the size counts them too, as they are part of what is offered
        metrics = run_metrics or _metrics_from(source, reference, test_labels)
        context = CardContext(dataset_name, dict(metrics), threshold, dict(training or {}))
        for _ in range(2):  # twice: the card states the folder's size, which counts the card and verification.json
            result.size_bytes = folder_bytes(staging)
            (staging / VERIFICATION_FILE).write_text(json.dumps(result.to_dict(), indent=2))
            write_card(staging, fmt, source, written, result, metrics, context)
        result.size_bytes = folder_bytes(staging)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    except BaseException:
        clear(staging)
        raise
    return result


def _metrics_from(source: RunSource, reference, test_labels) -> dict[str, Any]:
    """The run's test metrics recomputed from its predictor, when the caller has none from the run's row."""
    from core.evaluation.baselines import majority_baseline
    from core.evaluation.metrics import classification_metrics

    metrics = classification_metrics(test_labels, reference.argmax(axis=1), source.labels)
    _, train_labels = source.examples("train")
    metrics["baselines"] = {"majority": majority_baseline(train_labels, test_labels, len(source.labels))}
    return metrics


__all__ = ["FORMATS", "MAX_ACCURACY_DROP_POINTS", "MAX_LOSSLESS_PROBABILITY_DIFFERENCE", "CardContext",
           "ExportError", "ExportResult", "check_format", "export_run", "make_zip"]
