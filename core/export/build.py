"""Building one export: write the format's files, check each in a fresh process, write the card (see
core/export/__init__.py for the whole story)."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.export.card import CardContext, write_card
from core.export.formats import FORMATS, check_format
from core.export.result import ExportError, ExportResult, Written
from core.export.source import RunSource, read_run
from core.export.verify import (
    check_artifact, clear, folder_bytes, judge, pytorch_latency_ms_p50, pytorch_model_bytes, reference_probabilities,
)

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


# format -> its writer. Writers import their libraries when called: onnxruntime is not needed for hf.
WRITERS: dict[str, Callable[[RunSource, Path, Path], Written]] = {
    "hf": _hf, "adapter": _adapter, "onnx": _onnx, "onnx-int8": _int8,
}
assert WRITERS.keys() == FORMATS.keys()


def export_run(run_dir: Path, fmt: str, out_dir: Path, *, dataset_dir: Path, dataset_name: str = "",
               run_metrics: dict[str, Any] | None = None, threshold: float | None = None,
               temperature: float = 1.0, min_confidence: float | None = None, training: dict[str, Any] | None = None,
               progress: Callable[[str], None] = lambda step: None) -> ExportResult:
    """Write run_dir's model to out_dir (a new or empty folder) in format `fmt`, verify it and write its card.

    dataset_dir is the run's stored dataset (its test set verifies the export); dataset_name, run_metrics (the
    run's stored test metrics with baselines), the decision rule (threshold, temperature, min_confidence:
    core.evaluation.decision) and training come from the run's row, for the card.
    progress(step) is called with each step's plain description (the worker stores it on the export's row).
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
            progress(f"Writing the {fmt} files")
            written = WRITERS[fmt](source, staging, Path(scratch))
            progress("Predicting the test set with the trained model")
            reference = reference_probabilities(source)
            checks = []
            for number, artifact in enumerate(written.artifacts, start=1):
                counted = f" ({number} of {len(written.artifacts)})" if len(written.artifacts) > 1 else ""
                progress(f"Checking {artifact.name} on the test set in a fresh process{counted}")
                checks.append(check_artifact(staging, artifact, source, reference))
        _, test_labels = source.examples("test")
        pytorch_accuracy = float((reference.argmax(axis=1) == test_labels).mean())
        accepted, reason, decisive = judge(checks, pytorch_accuracy, written, len(test_labels))
        result = ExportResult(
            format=fmt, path=out_dir, accepted=accepted, reason=reason, export_accuracy=decisive.accuracy,
            pytorch_accuracy=pytorch_accuracy, agreement=decisive.agreement,
            max_probability_difference=decisive.max_probability_difference, size_bytes=0,
            model_bytes=folder_bytes(staging, written.weights), latency_ms_p50=decisive.latency_ms_p50,
            test_examples=len(test_labels), checks=checks, pytorch_latency_ms_p50=pytorch_latency_ms_p50(source),
            pytorch_model_bytes=pytorch_model_bytes(source),
        )
        # 4) the card and the check's numbers; the size counts them too, as they are part of what is offered
        progress("Writing the model card")
        metrics = run_metrics or _metrics_from(source, reference, test_labels)
        context = CardContext(dataset_name, dict(metrics), threshold, dict(training or {}), temperature, min_confidence)
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

