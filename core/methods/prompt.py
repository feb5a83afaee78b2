"""Prompt tuning: learned virtual words in front of every text (text only)."""

from __future__ import annotations

from core.methods.base import COMMON_TEXT, one_of, rate, whole
from core.methods.peft_method import VirtualTokenMethod

# It needs a much larger rate and more epochs than the other methods. Its validation macro-F1 climbs in steps with
# long flat stretches between them: on SMS spam (Best) it peaked at epoch 5, stayed lower for four epochs and beat
# it at epoch 10; patience 2 stopped it at epoch 7 with spam-F1 0.937, all 12 epochs gave 0.953. So it runs its
# preset's epochs (patience 0 = never stop early).
METHOD = VirtualTokenMethod(
    "prompt", "Prompt tuning",
    "Learns a few virtual words put in front of every text: the fewest weights, but needs more epochs.",
    ("text",),
    presets={"text": {"quick": (3e-2, 3), "balanced": (3e-2, 6), "best": (2e-2, 12)}},
    note="Text only: there are no words to prepend to an image.",
    patience=0,
    cpu_speed={"text": 30.0},
    peft_config_class="PromptTuningConfig",
    searches={"text": (rate("learning_rate", 5e-3, 1e-1), whole("epochs", 2, 12), one_of("num_virtual_tokens", 10, 20, 40),
                       *COMMON_TEXT)},
)
