"""IA3: one learned scaling per channel on attention key/value and the feed-forward output (text), or on the
1x1 convolutions (images), plus the new classifier; merged into the weights when saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.methods.base import COMMON_IMAGE, COMMON_TEXT, rate, whole
from core.methods.peft_method import PeftMethod, text_task_type
from core.methods.targets import find_targets
from core.models.base import EFFICIENTNET, BuiltModel

# (targets, feed-forward modules among them) by architecture, first match wins.
ATTENTION = [
    (["key", "value", "output.dense"], ["output.dense"]),  # BERT, RoBERTa, XLM-R, ViT
    (["k_lin", "v_lin", "lin2"], ["lin2"]),  # DistilBERT
    (["k_proj", "v_proj", "fc2"], ["fc2"]),  # BART-style encoders
    (["key_proj", "value_proj", "output.dense"], ["output.dense"]),  # DeBERTa
]
EFFICIENTNET_FEEDFORWARD = ["_project_conv"]  # scaled on its input channels


@dataclass(frozen=True)
class IA3(PeftMethod):
    def peft_config(self, built: BuiltModel, config: Any):
        from peft import IA3Config

        targets = find_targets(built, [t for t, _ in ATTENTION], self.name)
        if built.family == EFFICIENTNET:
            feedforward = EFFICIENTNET_FEEDFORWARD
        else:
            feedforward = next((ff for t, ff in ATTENTION if t == targets), [])
        return IA3Config(task_type=text_task_type(built), target_modules=targets, feedforward_modules=feedforward,
                         modules_to_save=list(built.head_names))


METHOD = IA3(
    "ia3", "IA3",
    "Learns one scaling per channel in a few layers: very few weights and quick, a little less accurate.",
    ("text", "image"),
    presets={"text": {"quick": (5e-3, 2), "balanced": (5e-3, 4), "best": (4e-3, 8)},
             "image": {"quick": (1e-2, 3), "balanced": (1e-2, 6), "best": (5e-3, 12)}},
    note="Text: attention key/value and the feed-forward output. Images: the 1x1 convolutions.",
    cpu_speed={"text": 32.0, "image": 14.0},
    searches={"text": (rate("learning_rate", 1e-3, 2e-2), whole("epochs", 1, 8), *COMMON_TEXT),
              "image": (rate("learning_rate", 2e-3, 3e-2), whole("epochs", 2, 12), *COMMON_IMAGE)},
)
