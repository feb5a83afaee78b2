"""Apply a tuning method to a built classifier: decide which weights train, wrapping with peft where it has
the method. Each method trains exactly what the registry (core.methods) says, and nothing else.
"""

from __future__ import annotations

import warnings

from torch import nn

from core.catalog import ModelLoadError
from core.methods import get_method
from core.models.base import EFFICIENTNET, HF_TEXT, BuiltModel
from core.run_config import RunConfig

# Known classifier-head attribute names on transformers models (top level), in forward order.
HEAD_NAMES = ("pre_classifier", "classifier", "score", "fc", "head")
# EfficientNet: the 1x1 convolutions. Depthwise convs cannot take LoRA (rank must divide by groups).
EFFICIENTNET_TARGETS = ["_expand_conv", "_project_conv", "_conv_head"]
EFFICIENTNET_IA3_FEEDFORWARD = ["_project_conv"]  # scaled on its input channels
# Attention projections by architecture, first match wins: (LoRA targets, IA3 targets, IA3 feed-forward).
ATTENTION_PATTERNS = [
    (["query", "value"], ["key", "value", "output.dense"], ["output.dense"]),  # BERT, RoBERTa, XLM-R, ViT
    (["q_lin", "v_lin"], ["k_lin", "v_lin", "lin2"], ["lin2"]),  # DistilBERT
    (["q_proj", "v_proj"], ["k_proj", "v_proj", "fc2"], ["fc2"]),  # BART-style encoders
    (["query_proj", "value_proj"], ["key_proj", "value_proj", "output.dense"], ["output.dense"]),  # DeBERTa
]


def find_head_names(model: nn.Module, family: str) -> list[str]:
    if family == EFFICIENTNET:
        return ["_fc"]
    children = dict(model.named_children())
    names = [n for n in HEAD_NAMES if n in children]
    if not names:
        raise ModelLoadError(
            f"This model has no classification head Tuneboard recognises ({type(model).__name__}); "
            "pick a model from the catalog.",
        )
    return names


def _in_head(name: str, head_names: list[str]) -> bool:
    return any(name == h or name.startswith(h + ".") for h in head_names)


def _module_names(model: nn.Module, head_names: list[str], types: tuple[type, ...]) -> list[str]:
    """Full names of the modules of `types` outside the head."""
    return [n for n, m in model.named_modules() if isinstance(m, types) and not _in_head(n, head_names)]


def _has_suffix(names: list[str], suffix: str) -> bool:
    return any(n == suffix or n.endswith("." + suffix) for n in names)


def find_targets(built: BuiltModel, method: str) -> tuple[list[str], list[str]]:
    """(target_modules, feedforward_modules) for LoRA / IA3."""
    if built.family == EFFICIENTNET:
        return EFFICIENTNET_TARGETS, (EFFICIENTNET_IA3_FEEDFORWARD if method == "ia3" else [])
    model = built.base_model()
    linear_names = _module_names(model, built.head_names, (nn.Linear,))
    for lora_targets, ia3_targets, feedforward in ATTENTION_PATTERNS:
        targets = lora_targets if method == "lora" else ia3_targets
        if all(_has_suffix(linear_names, t) for t in targets):
            return targets, (feedforward if method == "ia3" else [])
    # Convolutional HF models (ResNet): the 1x1 convs. Others: every linear layer outside the head.
    convs = [n for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1
             and not _in_head(n, built.head_names)]
    targets = convs or linear_names
    if not targets:
        raise ModelLoadError(f"Tuneboard cannot find layers to adapt with {method} in this model; try full or head.")
    return targets, []


def _freeze_all_but(model: nn.Module, keep) -> None:
    for name, param in model.named_parameters():
        param.requires_grad = bool(keep(name))


def apply_method(built: BuiltModel, config: RunConfig) -> BuiltModel:
    """Set which weights train (in place); PEFT methods replace built.model with the peft wrapper."""
    entry = get_method(config.method)
    if built.task not in entry.tasks:
        raise ModelLoadError(f"{entry.name} works on {' and '.join(entry.tasks)} data only; pick another method.")
    model, heads = built.model, built.head_names
    built.method = entry.key
    if entry.key == "full":
        _freeze_all_but(model, lambda n: True)
    elif entry.key == "head":
        _freeze_all_but(model, lambda n: _in_head(n, heads))
    elif entry.key == "bitfit":
        # Biases everywhere (attention, feed-forward, layer/batch norm) plus the new classifier.
        _freeze_all_but(model, lambda n: n.endswith("bias") or _in_head(n, heads))
    else:
        built.model = _wrap_with_peft(built, config)
        built.uses_peft = True
    return built


def _wrap_with_peft(built: BuiltModel, config: RunConfig) -> nn.Module:
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, get_peft_model

    task_type = "SEQ_CLS" if built.family == HF_TEXT else None
    method = built.method
    if method in ("lora", "ia3"):
        targets, feedforward = find_targets(built, method)
        if method == "lora":
            peft_config = LoraConfig(
                task_type=task_type, r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.1,
                target_modules=targets, modules_to_save=list(built.head_names),
            )
        else:
            peft_config = IA3Config(
                task_type=task_type, target_modules=targets, feedforward_modules=feedforward,
                modules_to_save=list(built.head_names),
            )
    elif method == "prompt":
        peft_config = PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=config.num_virtual_tokens)
    else:  # prefix
        peft_config = PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=config.num_virtual_tokens)
    try:
        with warnings.catch_warnings():  # peft calls a transformers method deprecated in v5; not ours to fix
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            wrapped = get_peft_model(built.model, peft_config)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{method} cannot be applied to this model; try LoRA, full or head.", str(exc)) from exc
    if method in ("prompt", "prefix"):
        # peft trains `classifier`/`score`; a two-part head (DistilBERT's pre_classifier) must train too.
        for name, param in wrapped.get_base_model().named_parameters():
            if _in_head(name, built.head_names) and ".original_module." not in name:
                param.requires_grad = True
    return wrapped


def set_train_mode(built: BuiltModel) -> None:
    """model.train(), except what must not change: a frozen backbone (head) and, for every method but full,
    the batch-norm running statistics (small batches would corrupt the pretrained ones)."""
    model = built.model
    if built.method == "head":
        model.eval()
        base = built.base_model()
        for name in built.head_names:
            base.get_submodule(name).train()
        return
    model.train()
    if built.method != "full":
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
