"""The export formats as a page or the command line names them, and which apply to a saved run. Light on purpose
(no torch, no exporters): the Results page lists them on every rerun."""

from __future__ import annotations

import json
from pathlib import Path

from core.export.result import ExportError

FORMATS: dict[str, str] = {
    "hf": "The model's own library: a transformers folder, or EfficientNet weights with a loading script and "
          "TorchScript.",
    "adapter": "The peft adapter alone (LoRA, IA3, prompt or prefix tuning), for its base model.",
    "onnx": "ONNX (float32) for ONNX Runtime, with its preprocessing.",
    "onnx-int8": "ONNX with int8 weights: smaller and usually faster on a CPU, a little less exact.",
}


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"There is no export format {fmt!r}; choose one of: {', '.join(FORMATS)}.")


def unavailable_formats(run_dir: Path) -> dict[str, str]:
    """format -> why the saved run in run_dir cannot be exported in it (formats that apply are absent), so a page
    offers only what will work. Reads only the saved model's tuneboard.json; the writers check again on the files."""
    from core.methods import get_method
    from core.models.base import EFFICIENTNET
    from storage.paths import RunFiles

    info = json.loads(RunFiles(Path(run_dir)).info.read_text())
    method, model_family = get_method(info["method"]), info["family"]
    if not method.uses_peft:
        return {"adapter": f"{method.name} trains the model's own weights, so there is no adapter to export."}
    if model_family == EFFICIENTNET:
        return {"adapter": "An EfficientNet adapter loads only onto Tuneboard's own rebuild of the network; the hf "
                           "format has the change merged in."}
    return {}
