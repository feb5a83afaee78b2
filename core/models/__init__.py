"""Building classifiers for text and images from the catalog, a Hugging Face id or a local folder.

    built = build_model("text", config, labels)   # BuiltModel: module + tokenizer / image settings

Which of its weights train is the tuning method's business (core.methods.apply_method).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.catalog import ModelLoadError
from core.models.base import (
    EFFICIENTNET, HF_IMAGE, HF_TEXT, BuiltModel, ImageSettings, count_params, find_head_names, logits_of,
)

if TYPE_CHECKING:
    from core.models.build import build_model

__all__ = [
    "BuiltModel", "ImageSettings", "ModelLoadError", "build_model", "count_params", "logits_of",
    "EFFICIENTNET", "HF_IMAGE", "HF_TEXT",
]


def __getattr__(name: str):
    # build_model brings transformers and peft (seconds of imports): only code that builds a model pays for them,
    # not the worker, the pages or a training process's start, which need the light names above.
    if name == "build_model":
        from core.models.build import build_model

        return build_model
    raise AttributeError(f"module 'core.models' has no attribute {name!r}")
