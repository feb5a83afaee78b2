"""Head only (a linear probe): the backbone stays frozen and only the new classifier learns. Its inputs are
computed once per dataset and model and cached (core.training.features), so its epochs cost milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.methods.base import TuningMethod, in_head, one_of, rate, train_only, whole
from core.models.base import BuiltModel

# A linear probe's validation macro-F1 wobbles for a few epochs before it settles: on SMS spam, patience 2
# stopped Quick at epoch 8 (spam-F1 0.891), 5 at epoch 15 (0.909) for a second more.
PATIENCE = 5


@dataclass(frozen=True)
class HeadOnly(TuningMethod):
    def apply(self, built: BuiltModel, config: Any) -> None:
        train_only(built.model, lambda name: in_head(name, built.head_names))

    def set_train_mode(self, built: BuiltModel) -> None:
        built.model.eval()  # the frozen backbone's dropout and batch norm stay as at inference
        base = built.base_model()
        for name in built.head_names:
            base.get_submodule(name).train()


METHOD = HeadOnly(
    "head", "Head only",
    "The model stays frozen and only the final classifier learns: a first model in seconds.",
    ("text", "image"),
    presets={task: {"quick": (3e-3, 30), "balanced": (3e-3, 60), "best": (2e-3, 120)} for task in ("text", "image")},
    note="Backbone features are computed once per dataset and model, then cached.",
    patience=PATIENCE,
    frozen_backbone=True,
    cpu_speed={"text": 89.0, "image": 34.0},
    # Epochs on cached features cost milliseconds: the search tries the rate, the length and the batch.
    searches={task: (rate("learning_rate", 5e-4, 3e-2), whole("epochs", 10, 120), one_of("batch_size", 32, 64, 128))
              for task in ("text", "image")},
)
