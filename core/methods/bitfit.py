"""BitFit: only the bias terms (attention, feed-forward, layer / batch norm) and the new classifier train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.methods.base import COMMON_IMAGE, COMMON_TEXT, TuningMethod, in_head, rate, train_only, whole
from core.models.base import BuiltModel


@dataclass(frozen=True)
class BitFit(TuningMethod):
    def apply(self, built: BuiltModel, config: Any) -> None:
        train_only(built.model, lambda name: name.endswith("bias") or in_head(name, built.head_names))


# Rates were checked on a 600-text slice of SMS spam as well as the full set: at lower rates BitFit stays on the
# majority class for the ~80 steps a few hundred texts give.
METHOD = BitFit(
    "bitfit", "BitFit",
    "Only the bias terms and the classifier train: cheap and hard to overfit, a middle ground.",
    ("text", "image"),
    presets={"text": {"quick": (3e-3, 2), "balanced": (3e-3, 4), "best": (2e-3, 8)},
             "image": {"quick": (3e-3, 3), "balanced": (3e-3, 6), "best": (2e-3, 12)}},
    note="On EfficientNet the biases are the batch-norm shifts (its convolutions have none).",
    cpu_speed={"text": 30.0, "image": 16.0},
    searches={"text": (rate("learning_rate", 5e-4, 1e-2), whole("epochs", 1, 8), *COMMON_TEXT),
              "image": (rate("learning_rate", 5e-4, 1e-2), whole("epochs", 2, 12), *COMMON_IMAGE)},
)
