"""What a built classifier looks like to the rest of core, whatever its architecture."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from core.catalog import ModelLoadError, ModelSource

# Known classifier-head attribute names on transformers models (top level), in forward order.
HEAD_NAMES = ("pre_classifier", "classifier", "score", "fc", "head")
# Families: how a model is called and saved.
HF_TEXT = "hf-text"  # transformers sequence classifier: model(input_ids=, attention_mask=) -> .logits
HF_IMAGE = "hf-image"  # transformers image classifier: model(pixel_values=) -> .logits
EFFICIENTNET = "efficientnet"  # efficientnet_lite_pytorch network: model(pixel_values=) -> logits tensor


@dataclass
class ImageSettings:
    """How images are turned into the model's input: resize, crop, normalise (per RGB channel)."""

    size: int = 224  # pixels per side after cropping
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    crop_pct: float = 0.875  # eval: resize the shorter side to size / crop_pct, then centre-crop size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageSettings:
        return cls(**{k: values[k] for k in ("size", "mean", "std", "crop_pct") if k in values})


@dataclass
class BuiltModel:
    """A classifier ready to train: the module plus what is needed to feed and save it."""

    model: nn.Module  # after apply_method this may be a peft wrapper
    family: str  # HF_TEXT | HF_IMAGE | EFFICIENTNET
    source: ModelSource
    labels: list[str]
    head_names: list[str]  # dotted names (in the unwrapped model) of the newly initialised classifier modules
    tokenizer: Any = None  # text models
    max_length: int | None = None  # text models, tokens
    image: ImageSettings | None = None  # image models
    rebuild: dict[str, Any] = field(default_factory=dict)  # EfficientNet: how to rebuild the network
    preprocessor_config: dict[str, Any] | None = None  # HF image models: saved beside the weights
    method: str = ""  # the tuning method's key, set by core.methods.apply_method
    carried_head: dict[str, Any] = field(default_factory=dict)  # a continued run: classes carried from its parent
    uses_peft: bool = False

    @property
    def task(self) -> str:
        return "text" if self.family == HF_TEXT else "image"

    def base_model(self) -> nn.Module:
        """The transformers / EfficientNet module under any peft wrapper."""
        return self.model.get_base_model() if self.uses_peft else self.model


def logits_of(output: Any):
    """transformers models return an output object; EfficientNet returns the logits tensor itself."""
    return output if not hasattr(output, "logits") else output.logits


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters. peft's modules_to_save keep a frozen copy of the head: counted once."""
    trainable = total = 0
    for name, p in model.named_parameters():
        if ".original_module." in name:
            continue
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


def find_head_names(model: nn.Module, family: str) -> list[str]:
    """The dotted names of a model's classifier modules (newly initialised for the user's labels)."""
    if family == EFFICIENTNET:
        return ["_fc"]
    children = dict(model.named_children())
    names = [n for n in HEAD_NAMES if n in children]
    if not names:
        raise ModelLoadError(
            f"This model has no classification head Tuneboard recognises ({type(model).__name__}); "
            "pick a model from the catalog.",
        )
    return names
