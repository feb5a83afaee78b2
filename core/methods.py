"""The tuning-method registry: what each method trains, its trade-off in plain words, and where it applies.

How a method is applied to a model lives in `core.models.tuning`; this module stays import-light so the
Train page can list methods without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodEntry:
    key: str
    name: str
    description: str  # one line: what trains and the trade-off
    tasks: tuple[str, ...]  # "text", "image"
    uses_peft: bool = False
    note: str = ""  # limits worth telling the user


METHODS: dict[str, MethodEntry] = {
    m.key: m
    for m in [
        MethodEntry(
            "full", "Full fine-tuning",
            "Every weight updates: usually the best accuracy, but the slowest and the largest saved model.",
            ("text", "image"),
        ),
        MethodEntry(
            "lora", "LoRA",
            "Small low-rank add-ons learn the change: near-full accuracy, faster, and a tiny file to share.",
            ("text", "image"), uses_peft=True,
            note="Text: attention query/value layers. Images: the 1x1 convolutions plus the classifier.",
        ),
        MethodEntry(
            "prompt", "Prompt tuning",
            "Learns a few virtual words put in front of every text: the fewest weights, but needs more epochs.",
            ("text",), uses_peft=True, note="Text only: there are no words to prepend to an image.",
        ),
        MethodEntry(
            "prefix", "Prefix tuning",
            "Learns virtual tokens inside every attention layer: stronger than prompt tuning, still tiny.",
            ("text",), uses_peft=True, note="Text only.",
        ),
        MethodEntry(
            "ia3", "IA3",
            "Learns one scaling per channel in a few layers: very few weights and quick, a little less accurate.",
            ("text", "image"), uses_peft=True,
            note="Text: attention key/value and the feed-forward output. Images: the 1x1 convolutions.",
        ),
        MethodEntry(
            "bitfit", "BitFit",
            "Only the bias terms and the classifier train: cheap and hard to overfit, a middle ground.",
            ("text", "image"),
            note="On EfficientNet the biases are the batch-norm shifts (its convolutions have none).",
        ),
        MethodEntry(
            "head", "Head only",
            "The model stays frozen and only the final classifier learns: a first model in seconds.",
            ("text", "image"),
            note="Backbone features are computed once per dataset and model, then cached.",
        ),
    ]
}


def get_method(key: str) -> MethodEntry:
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"Unknown tuning method {key!r}; choose one of: {', '.join(METHODS)}.") from None


def methods_for(task: str) -> list[MethodEntry]:
    return [m for m in METHODS.values() if task in m.tasks]
