"""The `onnx-int8` format: the ONNX graph with int8 weights, by ONNX Runtime's quantization tools.

- Graphs without convolutions (text transformers, ViT): dynamic quantization. Weights are stored in int8 (a scale
  per output channel) and activations quantized on the fly, per batch; the attention's matrix products run in int8.
  The feed-forward layers (the matrix products with the model's intermediate size) stay in float32: their inputs
  carry a few very large activations, and one scale per batch for them flipped answers. Measured on a head-only
  MiniLM SMS run, 1,000 messages (docs/BENCHMARKS.md): agreement with the float32 model 92.8% with every product in
  int8 and one scale per weight matrix, 97.0% with a scale per channel, 98.9% with the feed-forward layers kept in
  float32 too; the file is then about half the float32 one instead of a quarter.
- Graphs with convolutions (EfficientNet, ConvNeXt): static quantization calibrated on up to CALIBRATION_IMAGES
  of the run's training images, because dynamic quantization leaves convolutions in float32 (it only covers
  MatMul / Gemm-like operators), and a convolutional network would keep most of its time and size.

What comes out is verified like every export: it may lose at most MAX_ACCURACY_DROP_POINTS on the test set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from core.export.onnx_export import ONNX_FILE, export_onnx_file, onnx_snippet, onnx_weight_files, write_inputs
from core.export.result import Artifact, ExportError, Written
from core.export.source import RunSource

CALIBRATION_IMAGES = 100  # training images that set the activation ranges (more adds time, rarely accuracy)
CALIBRATION_SEED = 0


def write_int8(source: RunSource, folder: Path, scratch: Path) -> Written:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = export_onnx_file(source, scratch / "fp32.onnx")
    prepared = scratch / "prepared.onnx"
    # ONNX Runtime's recommended pre-pass (graph optimisation and shape inference) before quantizing. Its symbolic
    # shape inference stops at the dynamo exporter's text graphs ("Incomplete symbolic shape inference"); ONNX's
    # own shape inference is enough for the operators we quantize.
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    target = folder / ONNX_FILE
    try:
        if _has_convolutions(prepared):
            quantize_static(str(prepared), str(target), _CalibrationImages(source), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            how = (f"Static int8 quantization (QDQ, per-channel weights), calibrated on "
                   f"{min(CALIBRATION_IMAGES, len(source.splits['train']))} training images: convolutions run in int8.")
        else:
            kept = _feed_forward_nodes(prepared, source)
            quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=kept)
            how = ("Dynamic int8 quantization: int8 weights (a scale per channel), activations quantized per batch as "
                   "the model runs" + (f"; the {len(kept)} feed-forward layers stay in float32." if kept else "."))
    except Exception as exc:  # noqa: BLE001 - an operator ONNX Runtime cannot quantize: say so plainly
        raise ExportError("ONNX Runtime could not quantize this model to int8; the onnx format keeps it in float32.",
                          f"{type(exc).__name__}: {exc}") from exc
    write_inputs(source, folder)
    return Written([Artifact(f"{ONNX_FILE} (int8)", "onnx", ONNX_FILE)], onnx_weight_files(folder),
                   onnx_snippet(source), lossless=False, notes=[how],
                   requirements="pip install onnxruntime numpy" + (" transformers" if source.is_text else " pillow"),
                   library="onnx")


def _feed_forward_nodes(path: Path, source: RunSource) -> list[str]:
    """Names of the matrix products whose constant weight has the model's intermediate size on one side."""
    import json

    import onnx

    config = source.model_dir / "config.json"
    size = json.loads(config.read_text()).get("intermediate_size") if config.is_file() else None
    if not size:
        return []
    graph = onnx.load(str(path), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type in ("MatMul", "Gemm")
            and any(size in shapes.get(name, ()) for name in node.input)]


def _has_convolutions(path: Path) -> bool:
    import onnx

    return any(node.op_type == "Conv" for node in onnx.load(str(path), load_external_data=False).graph.node)


class _CalibrationImages(CalibrationDataReader):
    """ONNX Runtime's CalibrationDataReader over a seeded sample of training images, prepared exactly as at
    evaluation (resize, centre crop, normalise), one image per call."""

    def __init__(self, source: RunSource) -> None:
        paths, _ = source.examples("train")
        order = np.random.default_rng(CALIBRATION_SEED).permutation(len(paths))[:CALIBRATION_IMAGES]
        self.paths = [paths[i] for i in order]
        self.settings = source.image
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        from core.models.image_inputs import eval_tensor, load_working_image

        if self.position >= len(self.paths):
            return None
        tensor = eval_tensor(load_working_image(self.paths[self.position], self.settings), self.settings)
        self.position += 1
        return {"pixel_values": tensor.unsqueeze(0).numpy()}

    def rewind(self) -> None:
        self.position = 0
