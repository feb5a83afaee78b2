"""Which layers LoRA and IA3 adapt in a model: attention projections by architecture, else 1x1 convolutions,
else every linear layer outside the head."""

from __future__ import annotations

from torch import nn

from core.catalog import ModelLoadError
from core.methods.base import in_head
from core.models.base import EFFICIENTNET, BuiltModel

# EfficientNet: the 1x1 convolutions. Depthwise convs cannot take LoRA (rank must divide by groups).
EFFICIENTNET_1X1_CONVS = ["_expand_conv", "_project_conv", "_conv_head"]


def _has_suffix(names: list[str], suffix: str) -> bool:
    return any(n == suffix or n.endswith("." + suffix) for n in names)


def find_targets(built: BuiltModel, patterns: list[list[str]], method_name: str) -> list[str]:
    """The first of `patterns` (module name suffixes, one list per architecture) that the model has in full;
    otherwise its 1x1 convolutions (ResNet) or every linear layer outside the head."""
    if built.family == EFFICIENTNET:
        return EFFICIENTNET_1X1_CONVS
    model = built.base_model()
    linear_names = [n for n, m in model.named_modules()
                    if isinstance(m, nn.Linear) and not in_head(n, built.head_names)]
    for targets in patterns:
        if all(_has_suffix(linear_names, t) for t in targets):
            return targets
    convs = [n for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1
             and not in_head(n, built.head_names)]
    targets = convs or linear_names
    if not targets:
        raise ModelLoadError(f"Tuneboard cannot find layers to adapt with {method_name} in this model; "
                             "try full or head.")
    return targets
