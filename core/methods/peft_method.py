"""Methods that peft implements: the model is wrapped with a peft config the method builds.

LoRA and IA3 are merged into the weights when saved, so model/ stands alone; prompt and prefix tuning
(virtual tokens) cannot be merged, so model/ holds the base weights with the trained head and adapter/
is needed beside it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.catalog import ModelLoadError
from core.methods.base import TuningMethod, in_head
from core.models.base import HF_TEXT, BuiltModel


@dataclass(frozen=True)
class PeftMethod(TuningMethod):
    uses_peft: bool = True

    def peft_config(self, built: BuiltModel, config: Any):
        """The peft config for this model (task_type SEQ_CLS for transformers text classifiers)."""
        raise NotImplementedError

    def apply(self, built: BuiltModel, config: Any) -> None:
        from peft import get_peft_model

        peft_config = self.peft_config(built, config)
        try:
            with warnings.catch_warnings():  # peft calls a transformers method deprecated in v5; not ours to fix
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                built.model = get_peft_model(built.model, peft_config)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelLoadError(f"{self.name} cannot be applied to this model; try LoRA, full or head.",
                                 str(exc)) from exc
        built.uses_peft = True

    def standalone(self, model: nn.Module) -> tuple[nn.Module, dict | None]:
        return model.merge_and_unload(), None


def text_task_type(built: BuiltModel) -> str | None:
    return "SEQ_CLS" if built.family == HF_TEXT else None


def plain_state_dict(peft_model) -> dict[str, torch.Tensor]:
    """Base-model weights with peft's head copies folded back: `x.modules_to_save.default.w` -> `x.w`."""
    state = {}
    for key, value in peft_model.get_base_model().state_dict().items():
        if ".original_module." in key:
            continue
        state[key.replace(".modules_to_save.default.", ".")] = value.contiguous()
    return state


@dataclass(frozen=True)
class VirtualTokenMethod(PeftMethod):
    """Prompt and prefix tuning: learned virtual tokens (text only), saved as base model + adapter."""

    settings: tuple[str, ...] = ("num_virtual_tokens",)
    peft_config_class: str = ""  # peft's config class for it: PromptTuningConfig, PrefixTuningConfig

    @property
    def needs_adapter(self) -> bool:
        return True

    def peft_config(self, built: BuiltModel, config: Any):
        import peft

        return getattr(peft, self.peft_config_class)(task_type="SEQ_CLS", num_virtual_tokens=config.num_virtual_tokens)

    def apply(self, built: BuiltModel, config: Any) -> None:
        super().apply(built, config)
        # peft trains `classifier`/`score`; a two-part head (DistilBERT's pre_classifier) must train too.
        for name, param in built.model.get_base_model().named_parameters():
            if in_head(name, built.head_names) and ".original_module." not in name:
                param.requires_grad = True

    def standalone(self, model: nn.Module) -> tuple[nn.Module, dict | None]:
        return model.get_base_model(), plain_state_dict(model)
