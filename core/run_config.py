"""The settings of one training run. Field help text doubles as the widget tooltip on the Train page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _field(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class RunConfig:
    model: str = _field("minilm", "The pretrained model to start from: it already knows language (or images) in "
                        "general and learns your categories on top. The offline defaults need no internet; larger "
                        "models can score higher but train more slowly.")
    method: str = _field("lora", "How much of the model learns from your data. Head only: just the final layer "
                         "learns, a first model in a minute. LoRA: small add-on weights learn while the original "
                         "model stays frozen, close to full accuracy with a tiny file. Full fine-tuning: every weight "
                         "learns, often the best scores but the slowest.")
    preset: str = _field("quick", "Quick: a first model in minutes, to see whether the idea works. Balanced: trains "
                         "longer for better scores. Best: trains the longest and stops when it no longer improves; "
                         "pick it for the model you will really use, once Quick looks promising.")
    # None = take the preset's value for this task and method.
    learning_rate: float | None = _field(None, "How big each update step is. Too high and training becomes unstable; "
                                        "too low and it learns slowly. Empty: the preset decides.")
    epochs: int | None = _field(None, "How many times training goes through every training example. More can learn "
                                "more but takes longer, and too many makes the model memorise its examples instead of "
                                "learning the pattern. Empty: the preset decides.")
    batch_size: int | None = _field(None, "Examples per update step. Larger is faster per example but needs more "
                                    "memory. Empty: the preset decides.")
    grad_accum: int = _field(1, "Add up this many batches before each update (a larger effective batch without more memory).")
    max_length: int | None = _field(None, "Texts are cut to this many tokens (words or word pieces). Shorter is "
                                    "faster; longer keeps more of long texts.")
    image_size: int | None = _field(None, "Images are resized and cropped to this many pixels per side.")
    lora_rank: int = _field(8, "LoRA only: how big the learned add-ons are. Larger can learn more but trains more "
                            "weights; 8 suits most data.")
    lora_alpha: int = _field(16, "LoRA only: how strongly the add-ons change the model (their effect is scaled by "
                             "alpha divided by rank). The default suits most data.")
    num_virtual_tokens: int = _field(20, "Prompt and prefix tuning only: how many learned 'virtual words' are "
                                     "added in front of every text. More can learn more but train slower.")
    warmup_ratio: float = _field(0.06, "Share of the training steps during which the step size grows gently from "
                                 "zero, so the first updates do not disturb the pretrained model.")
    weight_decay: float = _field(0.01, "A gentle pull of the weights towards zero, so the model is less likely to "
                                  "memorise its training examples.")
    early_stopping_patience: int | None = _field(None, "Stop training after this many epochs in a row that do not "
                                                 "score better on the validation examples, and keep the best epoch's "
                                                 "model (0 = never stop early). Empty: the preset decides.")
    class_weighting: bool = _field(False, "Count mistakes on rare classes more heavily, so the model does not "
                                     "ignore them (helps when some classes have far fewer examples).")
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
