"""Run an export on examples in a fresh process, with the model's own libraries and nothing of Tuneboard.

    python -I fresh_check.py REQUEST.json RESULT.json

core/export/verify.py runs this file with `python -I` (isolated: no PYTHONPATH, no script folder on sys.path),
so it cannot import Tuneboard even by accident: what loads here is what a user can load. It imports only numpy,
PIL and the library of the format (transformers, peft, onnxruntime, torch), reads the inputs the export expects
from its preprocessing.json, and writes each example's class probabilities and the single-input latency.

REQUEST: {"folder": export folder, "artifact": core.export.result.Artifact as a dict, "examples": [texts or image
paths], "batch_size": int, "latency_runs": int}. RESULT: {"probabilities": [[...], ...], "latency_ms_p50": float}.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

LATENCY_WARMUP = 3
LATENCY_SECONDS = 5.0  # stop timing early on a slow model


def image_array(path: str, prep: dict) -> np.ndarray:
    """(3, size, size) float32, exactly as preprocessing.json describes (and as Tuneboard evaluated)."""
    side, size = int(prep["resize_shorter_side_to"]), int(prep["size"])
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (side, side))
        img = ImageOps.exif_transpose(img).convert("RGB")
        w, h = img.size
        scale = side / min(w, h)
        img = img.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.Resampling.BILINEAR)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    array = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.float32) * float(prep["rescale"])
    array = (array - np.asarray(prep["mean"], dtype=np.float32)) / np.asarray(prep["std"], dtype=np.float32)
    return array.transpose(2, 0, 1)


def input_maker(prep: dict, folder: Path, artifact: dict):
    """examples -> the model's inputs as numpy arrays (the tokenizer is loaded once)."""
    if prep["task"] == "image":
        return lambda examples: {"pixel_values": np.stack([image_array(p, prep) for p in examples])}
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder / artifact.get("tokenizer", ".")))

    def make(examples: list[str]) -> dict[str, np.ndarray]:
        encoded = tokenizer(examples, truncation=True, max_length=int(prep["max_length"]), padding=True,
                            return_tensors="np")
        return {"input_ids": encoded["input_ids"].astype(np.int64),
                "attention_mask": encoded["attention_mask"].astype(np.int64)}
    return make


def torch_call(model):
    import torch

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            output = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        return (output.logits if hasattr(output, "logits") else output).float().numpy()
    return run


def load_transformers(folder: Path, artifact: dict, prep: dict, path: Path | None = None):
    import transformers

    auto = (transformers.AutoModelForSequenceClassification if prep["task"] == "text"
            else transformers.AutoModelForImageClassification)
    return auto.from_pretrained(str(path or folder / artifact["path"]), use_safetensors=True).eval()


def load_peft(folder: Path, artifact: dict, prep: dict):
    from peft import PeftModel

    base = load_transformers(folder, artifact, prep, Path(artifact["base"]) if artifact.get("base") else None)
    return torch_call(PeftModel.from_pretrained(base, str(folder / artifact["adapter"])).eval())


def load_onnx(folder: Path, artifact: dict, prep: dict):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / artifact["path"]), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, {n: inputs[n] for n in names})[0]


def pixels_call(model):
    """For image networks called with the pixel tensor alone (TorchScript, the EfficientNet library)."""
    import torch

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(inputs["pixel_values"])).float().numpy()
    return run


def load_torchscript(folder: Path, artifact: dict, prep: dict):
    import torch

    return pixels_call(torch.jit.load(str(folder / artifact["path"]), map_location="cpu").eval())


def load_script(folder: Path, artifact: dict, prep: dict):
    """A loading script shipped in the export (load_model.py), imported from its file as a user would run it."""
    spec = importlib.util.spec_from_file_location("export_load_model", folder / artifact["path"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return pixels_call(module.load_model(folder))


LOADERS = {
    "transformers": lambda f, a, p: torch_call(load_transformers(f, a, p)),
    "peft": load_peft, "onnx": load_onnx, "torchscript": load_torchscript, "script": load_script,
}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def main(request_path: str, result_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    folder, artifact, examples = Path(request["folder"]), request["artifact"], request["examples"]
    prep = json.loads((folder / "preprocessing.json").read_text())
    run = LOADERS[artifact["loader"]](folder, artifact, prep)
    make_inputs = input_maker(prep, folder, artifact)
    # 1) every example, a batch at a time
    batch = int(request.get("batch_size", 32))
    probabilities = [softmax(run(make_inputs(examples[i:i + batch])))
                     for i in range(0, len(examples), batch)]
    # 2) latency: one input at a time, the model call alone, after a few warm-up calls
    single = make_inputs(examples[:1])
    for _ in range(LATENCY_WARMUP):
        run(single)
    times, started = [], time.perf_counter()
    while len(times) < int(request.get("latency_runs", 20)) and time.perf_counter() - started < LATENCY_SECONDS:
        tick = time.perf_counter()
        run(single)
        times.append((time.perf_counter() - tick) * 1000)
    Path(result_path).write_text(json.dumps({
        "probabilities": np.concatenate(probabilities).tolist(), "latency_ms_p50": statistics.median(times),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
