"""Load any saved run and predict: `load_predictor(output_dir).predict(["some text"])`.

Reads output_dir/model/tuneboard.json to know how the model was saved. Weights load from safetensors only
(never a pickle); the bundled EfficientNet architecture is rebuilt from its description. Inputs are prepared
exactly as at evaluation time (same tokenizer and max_length; same image resize and centre crop).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from core.catalog import ModelLoadError
from core.models.base import EFFICIENTNET, HF_IMAGE, HF_TEXT, ImageSettings
from core.models.libraries import resolve_lazy_imports
from core.models.text_inputs import Split, TextBatches
from core.training.device import choose_device
from core.models.image_inputs import eval_tensor, load_working_image, stack
from core.training.loop import predict_logits, to_device
from storage.paths import ADAPTER_DIR, INFO_FILE, MODEL_DIR

PREDICT_BATCH = 32


class _ImageInputs:
    """Images given directly (PIL images or paths) as an evaluation data source."""

    def __init__(self, images: list[Image.Image | str | Path], settings: ImageSettings) -> None:
        self.images, self.settings = images, settings

    def __len__(self) -> int:
        return len(self.images)

    def evaluate(self, batch_size: int):
        for start in range(0, len(self.images), batch_size):
            positions = list(range(start, min(start + batch_size, len(self.images))))
            tensors = [eval_tensor(load_working_image(self.images[i], self.settings), self.settings) for i in positions]
            yield {"pixel_values": stack(tensors)}, torch.zeros(len(positions), dtype=torch.long), positions


class Predictor:
    """A loaded run in eval mode. predict() returns, per input, {label: probability} in dataset label order."""

    def __init__(self, model: torch.nn.Module, info: dict[str, Any], tokenizer=None) -> None:
        self.model = model.eval()
        self.info = info
        self.task: str = info["task"]
        self.labels: list[str] = list(info["labels"])
        self.tokenizer = tokenizer
        self.max_length: int | None = info.get("max_length")
        self.image = ImageSettings.from_dict(info["image"]) if info.get("image") else None
        self.setup = choose_device("auto")
        self.model.to(self.setup.device)
        if self.task == "image":
            self.model.to(memory_format=torch.channels_last)

    def _data(self, inputs: list):
        """The inputs as an evaluation data source: tokenized, or images decoded and resized as in training."""
        if self.task == "text":
            split = Split(list(range(len(inputs))), [str(x) for x in inputs], np.zeros(len(inputs), dtype=np.int64))
            return TextBatches(split, self.tokenizer, self.max_length or 128)
        return _ImageInputs(list(inputs), self.image)

    def predict_proba(self, inputs: list) -> np.ndarray:
        """(N, num_labels) probabilities."""
        if not inputs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits = predict_logits(self.model, self._data(inputs), self.setup, PREDICT_BATCH)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def model_call(self, example) -> Callable[[], Any]:
        """A call of the model alone on one prepared input (its preprocessing done once, outside), as exports are
        timed (core/export/verify.py)."""
        inputs, _, _ = next(iter(self._data([example]).evaluate(1)))
        inputs = to_device(inputs, self.setup.device)

        def call():
            with torch.inference_mode():  # float32, as predict_logits (core.training.loop)
                return self.model(**inputs)
        return call

    def predict(self, inputs: list[str] | list[Image.Image]) -> list[dict[str, float]]:
        return [{label: float(p) for label, p in zip(self.labels, row)} for row in self.predict_proba(inputs)]


def read_info(output_dir: Path) -> dict[str, Any]:
    path = Path(output_dir) / MODEL_DIR / INFO_FILE
    if not path.is_file():
        raise ModelLoadError(f"No saved model was found in {output_dir}; the run may not have finished.")
    return json.loads(path.read_text())


def load_predictor(output_dir: Path) -> Predictor:
    output_dir = Path(output_dir)
    info = read_info(output_dir)
    model_dir = output_dir / MODEL_DIR
    trust = bool(info.get("config", {}).get("trust_remote_code", False))
    family = info["family"]
    tokenizer = None
    resolve_lazy_imports()  # transformers / peft names, once and under a lock (Streamlit runs pages in threads)
    try:
        if family == EFFICIENTNET:
            from core.models.efficientnet import load_saved

            model = load_saved(model_dir, info["rebuild"], len(info["labels"]))
        elif family == HF_TEXT:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=trust)
            model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), trust_remote_code=trust,
                                                                       use_safetensors=True)
        elif family == HF_IMAGE:
            from transformers import AutoModelForImageClassification

            model = AutoModelForImageClassification.from_pretrained(str(model_dir), trust_remote_code=trust,
                                                                    use_safetensors=True)
        else:
            raise ModelLoadError(f"This saved model has an unknown format ({family}).")
        if info.get("needs_adapter"):
            from peft import PeftModel

            with warnings.catch_warnings():  # peft calls a transformers method deprecated in v5; not ours to fix
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                model = PeftModel.from_pretrained(model, str(output_dir / ADAPTER_DIR))
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged or partial folder: say so plainly
        raise ModelLoadError(f"The saved model in {output_dir} could not be loaded; it may be damaged.", str(exc)) from exc
    return Predictor(model, info, tokenizer)
