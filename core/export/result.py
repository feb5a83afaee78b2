"""What an export wrote, how each of its files fared when reloaded in a fresh process, and whether it is offered.

An export is offered only when it predicts the run's test set as the trained model does: it may lose at most
MAX_ACCURACY_DROP_POINTS of test accuracy (int8 rounds weights, so it may lose a little), and a format that claims
to be a faithful copy (the same float32 weights: `hf`, `adapter`, `onnx`) may differ from the trained model's
probabilities by at most MAX_LOSSLESS_PROBABILITY_DIFFERENCE, whatever the accuracy says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_ACCURACY_DROP_POINTS = 1.0  # percentage points of test accuracy an export may lose against the PyTorch model
# float32 in another runtime (ONNX Runtime's fused kernels, other padding widths) moves probabilities by ~1e-6;
# a difference of 1e-3 means a weight or a preprocessing step is wrong even when the top classes still agree.
MAX_LOSSLESS_PROBABILITY_DIFFERENCE = 1e-3


def allowed_drop(test_examples: int) -> int:
    """Test examples an export may get wrong beyond the trained model: MAX_ACCURACY_DROP_POINTS of the test set,
    and at least one, so that on a small test set (under 100 examples) a single flipped example does not refuse
    an int8 export whose rounding moved one borderline probability across 0.5."""
    return max(1, int(test_examples * MAX_ACCURACY_DROP_POINTS / 100))


class ExportError(ValueError):
    """The run cannot be exported in this format; `str(error)` is one plain sentence, `detail` is technical."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Artifact:
    """One thing a user would load from the export, as the fresh process loads it (core/export/fresh_check.py)."""

    name: str  # shown in the card and the result, e.g. "model.onnx"
    loader: str  # fresh_check's loader: "transformers" | "peft" | "onnx" | "torchscript" | "script"
    path: str = "."  # relative to the export folder: the model folder or file
    adapter: str | None = None  # "peft": the adapter folder, relative to the export folder
    base: str | None = None  # "peft": an absolute base-model folder used for the check only (adapter exports)
    tokenizer: str = "."  # text: the folder holding the tokenizer files, relative to the export folder


@dataclass
class Written:
    """What a format wrote into the export folder."""

    artifacts: list[Artifact]  # each is reloaded and checked in a fresh process
    weights: list[str]  # files holding the weights (relative): their size is the model's size
    load_snippet: str  # three lines of Python for the card
    lossless: bool  # float32 copy of the trained weights (see MAX_LOSSLESS_PROBABILITY_DIFFERENCE)
    notes: list[str] = field(default_factory=list)  # sentences for the card (e.g. how int8 was made)
    requirements: str = ""  # what to pip install to load it
    library: str = "transformers"  # the model card's library_name: what loads it


@dataclass
class ArtifactCheck:
    """One artifact reloaded in a fresh process and run on the test set, against the trained PyTorch model."""

    name: str
    accuracy: float | None = None  # 0..1 on the test set; None when it could not be loaded or run
    agreement: float | None = None  # share of test examples whose top class is the PyTorch model's
    max_probability_difference: float | None = None  # largest |p_export - p_pytorch| over examples and classes
    latency_ms_p50: float | None = None  # one input at a time, the model call alone (preprocessing excluded)
    error: str = ""  # why it could not be loaded or run (the child's last lines)


@dataclass
class ExportResult:
    format: str
    path: Path  # the export folder
    accepted: bool  # offered to the user only when True
    reason: str  # one plain sentence: why it is offered or refused
    export_accuracy: float | None
    pytorch_accuracy: float
    agreement: float | None
    max_probability_difference: float | None
    size_bytes: int  # the whole export folder on disk (card and tokenizer files included)
    model_bytes: int  # the weight files alone (an adapter's real size)
    latency_ms_p50: float | None
    test_examples: int
    checks: list[ArtifactCheck] = field(default_factory=list)  # one per artifact (EfficientNet: script + TorchScript)
    pytorch_latency_ms_p50: float | None = None  # the trained model in Tuneboard, timed the same way
    pytorch_model_bytes: int = 0  # the trained model's weight files

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["path"] = str(self.path)
        return values
