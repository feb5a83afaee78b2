"""Exporting a finished run so it can be used without Tuneboard, each export verified before it is offered.

    result = export_run(run_dir, "onnx", out_dir, dataset_dir=dataset_dir)   # ExportResult
    if result.accepted:
        offer(make_zip(result.path))

Formats: `hf` (the model's own library: transformers, or EfficientNet safetensors + load_model.py + TorchScript),
`adapter` (the peft adapter alone), `onnx` (float32) and `onnx-int8`. Each is written, reloaded in a fresh process
with plain library code and run on the run's test set (core/export/verify.py), and given a model card (card.py).
An export that loses more than MAX_ACCURACY_DROP_POINTS of test accuracy (and at least one test example) is
refused: the folder is kept for inspection, but `accepted` is False and `reason` says why in one sentence.
The Results page asks for exports as background jobs (storage.export_queue); a worker builds each one in a child
process (core.jobs.export_runner), as it trains runs.

An offered onnx-int8 export can also answer the API's requests (`"backend": "onnx-int8"`, onnx_predictor.py).

The folder is written under a temporary name beside `out_dir` and renamed at the end, so a failed export leaves
nothing that looks finished.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.export.archive import make_zip
    from core.export.build import export_run
    from core.export.formats import FORMATS, check_format, unavailable_formats
    from core.export.result import (
        MAX_ACCURACY_DROP_POINTS, MAX_LOSSLESS_PROBABILITY_DIFFERENCE, ExportError, ExportResult,
    )

# Resolved on first use: the Results page lists the formats on every rerun and must not pay for torch and the
# exporters that building an export needs.
_HOMES = {"export_run": "core.export.build", "make_zip": "core.export.archive", "FORMATS": "core.export.formats",
          "check_format": "core.export.formats", "unavailable_formats": "core.export.formats",
          "MAX_ACCURACY_DROP_POINTS": "core.export.result", "ExportError": "core.export.result",
          "MAX_LOSSLESS_PROBABILITY_DIFFERENCE": "core.export.result", "ExportResult": "core.export.result"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'core.export' has no attribute {name!r}")
