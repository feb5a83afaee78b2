"""A run served from its verified onnx-int8 export (the API's `"backend": "onnx-int8"`).

ONNX Runtime stands where the PyTorch model stands in core.serving.inference.Predictor, so the inputs are prepared
by the same code (the run's tokenizer, as the export ships it, and max_length; the same image resize and centre
crop) and the answers go through the same decision rule as every other serving path. Only an export that was
offered is served: one reloaded in a fresh process and checked on the run's test set (core/export/verify.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.catalog import ModelLoadError
from core.export.onnx_export import ONNX_FILE
from core.serving.inference import Predictor, read_info
from core.training.device import cpu_threads


class OnnxLogits(nn.Module):
    """An ONNX Runtime session called as the torch model is: keyword tensors in, (B, num_labels) logits out. It has
    no parameters, so moving it to a device or memory format changes nothing; its inputs go to the CPU."""

    def __init__(self, model_file: Path) -> None:
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads()[0]  # as training and the PyTorch backend use the cores
        self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.input_names = [given.name for given in self.session.get_inputs()]
        self.held_bytes = model_file.stat().st_size  # what the API's model cache counts (core.api.model_cache)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ModelLoadError(f"The ONNX model expects inputs this run does not make ({', '.join(missing)}).")
        feed = {name: np.ascontiguousarray(inputs[name].detach().cpu().numpy()) for name in self.input_names}
        return torch.from_numpy(self.session.run(None, feed)[0])


def load_onnx_predictor(output_dir: Path, export_dir: Path) -> Predictor:
    """The saved run in output_dir, answered by the ONNX model in export_dir (an offered onnx-int8 export)."""
    info = read_info(Path(output_dir))
    model_file = Path(export_dir) / ONNX_FILE
    if not model_file.is_file():
        raise ModelLoadError(f"The run's onnx-int8 export has no {ONNX_FILE} in {export_dir}; export it again.")
    tokenizer = None
    try:
        model = OnnxLogits(model_file)
        if info["task"] == "text":
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(export_dir))  # the export's own copy (copy_tokenizer_files)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged export folder: say so plainly
        raise ModelLoadError(f"The onnx-int8 export in {export_dir} could not be loaded; it may be damaged.",
                             str(exc)) from exc
    return Predictor(model, info, tokenizer)
