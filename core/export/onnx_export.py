"""The `onnx` format: the trained model as an ONNX graph (float32) with dynamic batch and sequence axes, the
tokenizer or image preprocessing it expects written beside it (preprocessing.json), for ONNX Runtime.

Which of torch's two exporters: torch 2.13's `torch.onnx.export` defaults to the torch.export-based one
(`dynamo=True`, which needs `onnxscript`); the TorchScript-based one (`dynamo=False`) is deprecated. We use the
former: on our tiny runs the TorchScript exporter wrote both models without complaint, but ONNX Runtime then gave
wrong logits (max |difference| 0.05 for padded texts, 8.1 for images at another batch size), while the dynamo
exporter's graphs matched PyTorch to 1e-8 at every batch size and length tried. Both work offline.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from core.export.result import Artifact, ExportError, Written
from core.export.source import RunSource, copy_tokenizer_files
from core.models.base import logits_of

ONNX_FILE = "model.onnx"
# ONNX keeps a graph in one protobuf of at most 2 GiB; larger models keep their weights in a file beside it.
INLINE_WEIGHTS_LIMIT_BYTES = 1_500_000_000
EXAMPLE_TOKENS = 16  # the traced example's length; any length up to max_length works afterwards


class _TextLogits(nn.Module):
    """(B, T) token ids and attention mask -> (B, num_labels) logits, for any transformers or peft text model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(input_ids=input_ids, attention_mask=attention_mask))


class _ImageLogits(nn.Module):
    """(B, 3, S, S) pixels -> (B, num_labels) logits, for transformers image models and Tuneboard's EfficientNet."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(pixel_values=pixel_values))


def _example_inputs(source: RunSource) -> tuple[nn.Module, dict[str, torch.Tensor], dict]:
    """(wrapper, example inputs, dynamic shapes). Batch 2 and a length other than 2: torch.export specialises
    axes of size 0 or 1, and would take two axes of the same size for one."""
    model = source.torch_model()
    if source.is_text:
        texts, _ = source.examples("train")
        length = max(3, min(EXAMPLE_TOKENS, source.info["max_length"]))
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(source.model_dir))
        encoded = tokenizer((texts * 2)[:2], truncation=True, max_length=length, padding="max_length",
                            return_tensors="pt")
        inputs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        axes = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}  # batch, sequence
        return _TextLogits(model), inputs, {"input_ids": axes, "attention_mask": axes}
    size = source.image.size
    inputs = {"pixel_values": torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))}
    return _ImageLogits(model), inputs, {"pixel_values": {0: torch.export.Dim.DYNAMIC}}  # batch


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter prints its progress on stdout (which `python -m core export --json` keeps for its answer), logs
    that torchvision's operators are skipped (we use none) and warns about its own deprecations: none of it is the
    user's business. Failures still raise."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def export_onnx_file(source: RunSource, path: Path) -> Path:
    """Write the trained model's float32 ONNX graph to `path` (opset chosen by the exporter)."""
    wrapper, inputs, dynamic = _example_inputs(source)
    wrapper.eval()
    weights = sum(p.numel() * p.element_size() for p in wrapper.parameters())
    try:
        with _quiet_exporter(), torch.no_grad():
            torch.onnx.export(wrapper, (), str(path), kwargs=inputs, input_names=list(inputs),
                              output_names=["logits"], dynamic_shapes=dynamic, dynamo=True, verbose=False,
                              external_data=weights > INLINE_WEIGHTS_LIMIT_BYTES)
    except Exception as exc:  # noqa: BLE001 - an unsupported operation in this architecture: say so plainly
        raise ExportError("This model could not be converted to ONNX (an operation it uses has no ONNX form); "
                          "the hf format works for every run.", f"{type(exc).__name__}: {exc}") from exc
    return path


def write_onnx(source: RunSource, folder: Path, scratch: Path) -> Written:
    export_onnx_file(source, folder / ONNX_FILE)
    write_inputs(source, folder)
    return Written([Artifact(ONNX_FILE, "onnx", ONNX_FILE, tokenizer=".")], onnx_weight_files(folder),
                   onnx_snippet(source), lossless=True, requirements="pip install onnxruntime numpy" +
                   (" transformers (for the tokenizer)" if source.is_text else " pillow"), library="onnx")


def write_inputs(source: RunSource, folder: Path) -> None:
    """preprocessing.json, and for text the tokenizer files the graph's token ids come from."""
    source.write_preprocessing(folder)
    if source.is_text:
        copy_tokenizer_files(source, folder)


def onnx_weight_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(ONNX_FILE))  # model.onnx (+ .data)


def onnx_snippet(source: RunSource) -> str:
    if source.is_text:
        return ("import onnxruntime, transformers\n"
                "session, tokenizer = onnxruntime.InferenceSession(\"model.onnx\"), "
                "transformers.AutoTokenizer.from_pretrained(\".\")\n"
                "logits = session.run(None, dict(tokenizer(texts, truncation=True, padding=True, "
                "return_tensors=\"np\", return_token_type_ids=False)))[0]")
    return ("import onnxruntime\n"
            "session = onnxruntime.InferenceSession(\"model.onnx\")\n"
            "logits = session.run(None, {\"pixel_values\": pixel_values})[0]  # float32 (B, 3, S, S): preprocessing.json")
