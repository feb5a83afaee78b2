"""The settings of one training run. Field help text doubles as the widget tooltip on the Train page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _field(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class RunConfig:
    model: str = _field("minilm", "Base model: a catalog key, a Hugging Face id, or a local model folder.")
    method: str = _field("lora", "Tuning method: full, lora, prompt, prefix, ia3, bitfit or head.")
    preset: str = _field("quick", "Quick finishes in minutes on a laptop; Balanced trains longer; Best aims for top accuracy.")
    # None = take the preset's value for this task and method.
    learning_rate: float | None = _field(None, "How big each update step is. Too high and training becomes unstable; too low and it learns slowly.")
    epochs: int | None = _field(None, "How many times the model sees every training example.")
    batch_size: int | None = _field(None, "Examples per update step. Larger is faster per example but needs more memory.")
    grad_accum: int = _field(1, "Add up this many batches before each update (a larger effective batch without more memory).")
    max_length: int | None = _field(None, "Texts are cut to this many tokens. Shorter is faster; longer keeps more of long texts.")
    image_size: int | None = _field(None, "Images are resized and cropped to this many pixels per side.")
    lora_rank: int = _field(8, "LoRA rank: size of the learned low-rank update. Larger can fit more but trains more weights.")
    lora_alpha: int = _field(16, "LoRA scaling: the update is multiplied by alpha / rank.")
    num_virtual_tokens: int = _field(20, "Prompt and prefix tuning: how many learned virtual tokens are added.")
    warmup_ratio: float = _field(0.06, "Share of the steps over which the learning rate ramps up from zero.")
    weight_decay: float = _field(0.01, "Gentle pull of the weights towards zero; reduces overfitting.")
    early_stopping_patience: int = _field(2, "Stop after this many epochs without a better validation macro-F1 (0 = never stop early).")
    class_weighting: bool = _field(False, "Weight rare classes more in the loss (helps with imbalanced data).")
    seed: int = _field(42, "Random seed: the same seed and data give the same run.")
    device: str = _field("auto", "auto uses a GPU when one is present, else the CPU.")
    trust_remote_code: bool = _field(False, "Allow a Hugging Face model to run its own Python code. Only for models you trust.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @staticmethod
    def help(name: str) -> str:
        return next(f.metadata.get("help", "") for f in fields(RunConfig) if f.name == name)
