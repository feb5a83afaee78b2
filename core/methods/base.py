"""What a tuning method is: one object that owns everything method-specific.

A method says where it applies (tasks), its preset rows, which of the settings only some methods read it
uses, how it sets up a built model (which weights train; a peft wrapper), how it switches the model to
training mode, how it is saved, and what the time and memory estimate needs to know about it. Training,
saving, estimating, the pages and the CLI ask the registry (`core.methods`) and never compare method names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from core.models.base import BuiltModel

# Samples/s of a training step through the whole model on 2 CPU threads at batch 16 (full fine-tuning; STACK.md):
# what a method whose speed was not measured is assumed to reach, and a backbone stage's speed in the estimate.
WHOLE_MODEL_CPU_SPEED = {"text": 19.0, "image": 15.0}
# Preset rows: task -> preset -> (learning rate, epochs). The new head trains at 10x the rate (loop.FitSettings).
PresetRows = Mapping[str, Mapping[str, tuple[float, int]]]


@dataclass(frozen=True)
class Searched:
    """One setting a settings search (core.search) tries: a range of numbers (a log scale for rates) or a few
    values. `name` is a RunConfig field; the bounds must lie within that field's own bounds."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    integer: bool = False

    def describe(self) -> str:
        """e.g. "learning rate from 0.0002 to 0.003", "LoRA rank: 4, 8, 16 or 32"."""
        label = self.name.replace("_", " ")
        if self.choices:
            shown = [f"{c:g}" if isinstance(c, float) else str(c) for c in self.choices]
            return f"{label}: {', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1 else f"{label}: {shown[0]}"
        return f"{label} from {self.low:g} to {self.high:g}"


def rate(name: str, low: float, high: float) -> Searched:
    """A rate searched on a log scale (as many tries between 1e-4 and 1e-3 as between 1e-3 and 1e-2)."""
    return Searched(name, low, high, log=True)


def whole(name: str, low: int, high: int) -> Searched:
    return Searched(name, low, high, integer=True)


def share(name: str, low: float, high: float) -> Searched:
    return Searched(name, low, high)


def one_of(name: str, *choices: Any) -> Searched:
    return Searched(name, choices=tuple(choices))


# Searched by every method that trains more than a head, unless it says otherwise: the batch and, for text, how many
# tokens a text keeps (most short texts use far fewer than 128, core.training.estimate; up to the Best preset's 256).
COMMON_TEXT = (one_of("batch_size", 8, 16, 32), one_of("max_length", 32, 64, 128, 256))
COMMON_IMAGE = (one_of("batch_size", 8, 16, 32),)


def in_head(name: str, head_names: list[str]) -> bool:
    """Whether a parameter or module name lies inside the new classifier."""
    return any(name == h or name.startswith(h + ".") for h in head_names)


def train_only(model: nn.Module, keep: Callable[[str], bool]) -> None:
    """requires_grad for the parameters whose name `keep` accepts; every other weight is frozen."""
    for name, param in model.named_parameters():
        param.requires_grad = bool(keep(name))


@dataclass(frozen=True)
class TuningMethod:
    key: str  # stored in a run's config; never renamed
    name: str  # what the pages show
    description: str  # one line: what trains and the trade-off
    tasks: tuple[str, ...]  # "text", "image"
    presets: PresetRows
    note: str = ""  # limits worth telling the user
    # RunConfig settings that only some methods read (e.g. lora_rank): the Train page shows them and the CLI
    # accepts them only for the methods that list them.
    settings: tuple[str, ...] = ()
    patience: int | None = None  # early-stopping patience; None: presets.DEFAULT_PATIENCE
    # Only the head learns on a backbone that never changes: larger batches, no minimum step count, and the
    # backbone's outputs can be computed once and cached (core.training.features).
    frozen_backbone: bool = False
    # The backbone is adapted by a stage of the method's own before the head trains (few-shot: pairs of texts,
    # core/training/contrastive.py), so its features depend on the run and are never cached.
    adapts_backbone: bool = False
    uses_peft: bool = False
    # For the estimate before launch: samples/s on 2 CPU threads at batch 16 (STACK.md; MiniLM at 64 tokens,
    # EfficientNet-Lite0 at 224 px), and the share of weights that carry gradients and two AdamW moments.
    # Unmeasured methods are assumed as slow as full fine-tuning.
    cpu_speed: Mapping[str, float] = field(default_factory=lambda: dict(WHOLE_MODEL_CPU_SPEED))
    trainable_share: float = 0.05
    # What a settings search (core.search) tries for this method, per task: the settings and their ranges. The
    # first try is the Quick preset's values; a method without a space for a task cannot be searched on it.
    searches: Mapping[str, tuple[Searched, ...]] = field(default_factory=dict)

    def adaptation_passes(self, num_train: int, preset: str) -> int:
        """Forward and backward passes of one text each that the backbone stage (adapts_backbone) makes before the
        head trains; for the estimate. 0 for methods without one."""
        return 0

    @property
    def needs_adapter(self) -> bool:
        """Whether the saved model/ needs adapter/ beside it to load (its change cannot be merged in)."""
        return False

    def applies_to(self, task: str) -> bool:
        return task in self.tasks

    def apply(self, built: BuiltModel, config: Any) -> None:
        """Set which weights of `built.model` train (in place); a peft method replaces built.model."""
        raise NotImplementedError

    def set_train_mode(self, built: BuiltModel) -> None:
        """model.train(), keeping the batch-norm running statistics: small batches would corrupt the
        pretrained ones. Full fine-tuning overrides this; so does head only (a frozen backbone stays in eval)."""
        built.model.train()
        for module in built.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    def standalone(self, model: nn.Module) -> tuple[nn.Module, dict | None]:
        """The module to save as model/ and, where it differs from the module's own, the state dict to write."""
        return model, None
