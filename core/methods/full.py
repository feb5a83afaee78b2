"""Full fine-tuning: every weight updates, batch-norm statistics included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.methods.base import COMMON_IMAGE, COMMON_TEXT, TuningMethod, rate, train_only, whole
from core.models.base import BuiltModel


@dataclass(frozen=True)
class FullFineTuning(TuningMethod):
    def apply(self, built: BuiltModel, config: Any) -> None:
        train_only(built.model, lambda name: True)

    def set_train_mode(self, built: BuiltModel) -> None:
        built.model.train()  # every weight adapts, so the batch-norm statistics may follow the new data


METHOD = FullFineTuning(
    "full", "Full fine-tuning",
    "Every weight updates: usually the best accuracy, but the slowest and the largest saved model.",
    ("text", "image"),
    presets={"text": {"quick": (5e-5, 2), "balanced": (5e-5, 3), "best": (4e-5, 6)},
             "image": {"quick": (3e-4, 3), "balanced": (3e-4, 6), "best": (2e-4, 12)}},
    cpu_speed={"text": 19.0, "image": 15.0},
    trainable_share=1.0,
    searches={"text": (rate("learning_rate", 1e-5, 1.5e-4), whole("epochs", 1, 6), *COMMON_TEXT),
              "image": (rate("learning_rate", 5e-5, 1e-3), whole("epochs", 2, 12), *COMMON_IMAGE)},
)
