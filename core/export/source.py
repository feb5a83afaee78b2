"""A finished run as an export reads it: its saved model (runs/<id>/model/ + adapter/), its tuning method, the
stored dataset it was trained on (for the test set that verifies an export and the images that calibrate int8),
and Tuneboard's own predictor, whose test-set probabilities are the reference every export is held to.

A saved run does not name its dataset (model/tuneboard.json holds the task, labels, model, method and config), so
the caller gives the dataset folder: the command line reads it from the run's row.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.artifacts import model_files_missing
from core.catalog import ModelEntry, ModelLoadError, resolve_model
from core.datasets.files import EXAMPLES_FILE
from core.export.result import ExportError
from core.methods import TuningMethod, get_method
from core.models.base import EFFICIENTNET, HF_TEXT, ImageSettings
from core.run_config import RunConfig
from core.training.data import TrainingDataError, load_splits
from storage.paths import ADAPTER_DIR, INFO_FILE, MODEL_DIR


@dataclass
class RunSource:
    run_dir: Path
    info: dict[str, Any]  # model/tuneboard.json
    dataset_dir: Path

    @property
    def model_dir(self) -> Path:
        return self.run_dir / MODEL_DIR

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / ADAPTER_DIR

    @property
    def task(self) -> str:
        return self.info["task"]

    @property
    def family(self) -> str:
        return self.info["family"]

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    @property
    def method(self) -> TuningMethod:
        return get_method(self.info["method"])

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.info.get("config") or {})

    @property
    def image(self) -> ImageSettings | None:
        return ImageSettings.from_dict(self.info["image"]) if self.info.get("image") else None

    @property
    def is_text(self) -> bool:
        return self.family == HF_TEXT

    @property
    def is_efficientnet(self) -> bool:
        return self.family == EFFICIENTNET

    @functools.cached_property
    def catalog_entry(self) -> ModelEntry | None:
        """The base model's catalog entry; None for a hub id or folder outside the catalog (or one now gone)."""
        try:
            return resolve_model(self.info["model"], self.task).entry
        except ModelLoadError:
            return None

    @property
    def base_model_name(self) -> str:
        """The base model as a card names it (user text: escape it). A local folder is named by its last part
        only: its full path means nothing to the card's readers and would reveal this server's folders."""
        if self.catalog_entry is not None:
            return self.catalog_entry.name
        model = str(self.info["model"])
        path = Path(model).expanduser()
        return f"a local model folder ({path.name})" if path.is_absolute() or path.exists() else model

    @functools.cached_property
    def splits(self):
        return load_splits(self.dataset_dir, self.labels)

    def examples(self, split: str) -> tuple[list, np.ndarray]:
        """(inputs, label ids): texts, or absolute image paths."""
        part = self.splits[split]
        inputs = part.inputs if self.task == "text" else [str(self.dataset_dir / p) for p in part.inputs]
        return list(inputs), part.labels

    @functools.cached_property
    def predictor(self):
        """Tuneboard's own loaded model (core.serving.inference), loaded once."""
        from core.serving.inference import load_predictor

        return load_predictor(self.run_dir)

    def torch_model(self):
        """A copy of the trained module of its own, on the CPU in plain memory layout, for the exporters (the
        predictor's may sit on a GPU in channels_last layout, and keeps serving the reference probabilities)."""
        import torch

        from core.serving.inference import load_predictor

        return load_predictor(self.run_dir).model.to("cpu").to(memory_format=torch.contiguous_format).eval()

    def preprocessing(self) -> dict[str, Any]:
        """What preprocessing.json says: the inputs the model expects, the same as training evaluated it on."""
        if self.task == "text":
            return {
                "task": "text", "labels": self.labels, "inputs": ["input_ids", "attention_mask"], "output": "logits",
                "tokenizer": "the tokenizer files beside this file", "max_length": self.info["max_length"],
                "truncation": True, "padding": "to the longest text of a batch, attention_mask 0 on padding",
                "token_type_ids": "not given (all zeros)",
            }
        image = self.image
        side = int(round(image.size / image.crop_pct))
        return {
            "task": "image", "labels": self.labels, "inputs": ["pixel_values"], "output": "logits",
            "layout": "NCHW float32, RGB", "exif_transpose": True,
            "jpeg_draft": "JPEG files are decoded with PIL's Image.draft('RGB', (side, side)) before resizing",
            "resize_shorter_side_to": side, "resample": "bilinear", "center_crop": image.size,
            "size": image.size, "crop_pct": image.crop_pct, "rescale": 1 / 255, "mean": image.mean, "std": image.std,
        }

    def write_preprocessing(self, folder: Path) -> None:
        (folder / "preprocessing.json").write_text(json.dumps(self.preprocessing(), indent=2))


def read_run(run_dir: Path, dataset_dir: Path) -> RunSource:
    run_dir, dataset_dir = Path(run_dir), Path(dataset_dir)
    if model_files_missing(run_dir):
        raise ExportError(f"There is no complete saved model in {run_dir}; only a finished run can be exported.")
    if not (dataset_dir / EXAMPLES_FILE).is_file():
        raise ExportError("The run's dataset files are missing, so an export cannot be checked on its test set; "
                          "upload the dataset again.")
    source = RunSource(run_dir, json.loads((run_dir / MODEL_DIR / INFO_FILE).read_text()), dataset_dir)
    try:
        source.splits
    except TrainingDataError as error:
        raise ExportError(str(error)) from error  # e.g. "The dataset has no test examples to evaluate on."
    return source


def copy_tokenizer_files(source: RunSource, folder: Path) -> None:
    """The run's tokenizer into `folder`, truncating at the max_length the model was trained with by default."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.model_dir))
    # `tokenizer(text, truncation=True)` then cuts where training did (a model's own limit is often 512).
    tokenizer.model_max_length = source.info["max_length"]
    tokenizer.save_pretrained(str(folder))
