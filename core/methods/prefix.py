"""Prefix tuning: learned virtual tokens inside every attention layer (text only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.methods.peft_method import VirtualTokenMethod
from core.models.base import BuiltModel


@dataclass(frozen=True)
class PrefixTuning(VirtualTokenMethod):
    def peft_config(self, built: BuiltModel, config: Any):
        from peft import PrefixTuningConfig

        return PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=config.num_virtual_tokens)


METHOD = PrefixTuning(
    "prefix", "Prefix tuning",
    "Learns virtual tokens inside every attention layer: stronger than prompt tuning, still tiny.",
    ("text",),
    presets={"text": {"quick": (1e-2, 2), "balanced": (1e-2, 4), "best": (5e-3, 8)}},
    note="Text only.",
    cpu_speed={"text": 30.0},
)
