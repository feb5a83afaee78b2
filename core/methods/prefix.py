"""Prefix tuning: learned virtual tokens inside every attention layer (text only)."""

from __future__ import annotations

from core.methods.base import COMMON_TEXT, one_of, rate, whole
from core.methods.peft_method import VirtualTokenMethod

METHOD = VirtualTokenMethod(
    "prefix", "Prefix tuning",
    "Learns virtual tokens inside every attention layer: stronger than prompt tuning, still tiny.",
    ("text",),
    presets={"text": {"quick": (1e-2, 2), "balanced": (1e-2, 4), "best": (5e-3, 8)}},
    note="Text only.",
    cpu_speed={"text": 30.0},
    peft_config_class="PrefixTuningConfig",
    searches={"text": (rate("learning_rate", 2e-3, 3e-2), whole("epochs", 1, 8), one_of("num_virtual_tokens", 10, 20, 40),
                       *COMMON_TEXT)},
)
