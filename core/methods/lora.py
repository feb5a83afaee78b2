"""LoRA: low-rank add-ons on the attention query/value layers (text) or the 1x1 convolutions (images), plus the
new classifier; merged into the weights when saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.methods.base import COMMON_IMAGE, COMMON_TEXT, one_of, rate, share, whole
from core.methods.peft_method import PeftMethod, text_task_type
from core.methods.targets import find_targets
from core.models.base import BuiltModel

# Attention projections by architecture, first match wins.
ATTENTION = [
    ["query", "value"],  # BERT, RoBERTa, XLM-R, ViT
    ["q_lin", "v_lin"],  # DistilBERT
    ["q_proj", "v_proj"],  # BART-style encoders
    ["query_proj", "value_proj"],  # DeBERTa
]


@dataclass(frozen=True)
class LoRA(PeftMethod):
    def peft_config(self, built: BuiltModel, config: Any):
        from peft import LoraConfig

        return LoraConfig(task_type=text_task_type(built), r=config.lora_rank, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout, target_modules=find_targets(built, ATTENTION, self.name),
                          modules_to_save=list(built.head_names))


# Rates were checked on a 600-text slice of SMS spam as well as the full set: at lower rates LoRA stays on the
# majority class for the ~80 steps a few hundred texts give.
METHOD = LoRA(
    "lora", "LoRA",
    "Small low-rank add-ons learn the change: near-full accuracy, faster, and a tiny file to share.",
    ("text", "image"),
    presets={"text": {"quick": (1e-3, 2), "balanced": (1e-3, 3), "best": (8e-4, 6)},
             "image": {"quick": (2e-3, 3), "balanced": (2e-3, 6), "best": (1e-3, 12)}},
    note="Text: attention query/value layers. Images: the 1x1 convolutions plus the classifier.",
    settings=("lora_rank", "lora_alpha", "lora_dropout"),
    cpu_speed={"text": 32.0, "image": 13.0},
    # The rate around the presets' (below 2e-4 the add-ons barely move in a few epochs on text), the size and
    # strength of the add-ons, their dropout, and epochs up to the Best preset's (a search starts from Quick's and
    # Best's values, core.search.START_PRESETS).
    searches={
        "text": (rate("learning_rate", 2e-4, 3e-3), whole("epochs", 1, 6), one_of("lora_rank", 4, 8, 16, 32),
                 one_of("lora_alpha", 8, 16, 32, 64), share("lora_dropout", 0.0, 0.3), *COMMON_TEXT),
        "image": (rate("learning_rate", 3e-4, 5e-3), whole("epochs", 2, 12), one_of("lora_rank", 4, 8, 16, 32),
                  one_of("lora_alpha", 8, 16, 32, 64), share("lora_dropout", 0.0, 0.3), *COMMON_IMAGE),
    },
)
