"""Few-shot (the SetFit recipe, Tunstall et al. 2022): for a handful of labelled texts per class.

1) Contrastive stage: the sentence model learns from pairs of the training texts: two texts of the same class
   should embed close together (cosine 1), two of different classes apart (cosine 0). 8 examples per class
   give hundreds of pairs, so the whole model can learn from them without memorising 8 labels.
2) Head stage: the model is frozen and only the final classifier learns on its outputs, exactly as Head only.

The embedding the pairs train is what the model's own classifier reads (BERT: the pooler's output), so the saved
model is the plain transformers classifier every other method saves: it reloads, predicts, exports (hf, onnx)
and serves through the API unchanged. (SetFit itself mean-pools the tokens; the `setfit` package was not used:
it saves its head with pickle, which Tuneboard never loads, and needs a newer transformers than ours.)
The training stages live in core/training/contrastive.py; this module owns the recipe's numbers and pairs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.methods.base import in_head, rate, train_only, whole
from core.methods.head import HeadOnly
from core.models.base import BuiltModel

# SetFit's defaults: 20 pair draws per example (one similar and one different pair each), learning rate 2e-5,
# batch 16, one pass. The pairs are capped per preset: a pair costs two forward and backward passes, and 26 classes
# x 8 examples would give 8,320 pairs (most of an hour on 2 busy CPU cores); Quick's 320 pairs are 20 steps.
PAIRS_PER_EXAMPLE = 40
MAX_PAIRS = {"quick": 320, "balanced": 1280, "best": 2560}
PAIR_BATCH = 16
BODY_LEARNING_RATE = 2e-5


def make_pairs(labels: np.ndarray, count: int, seed: int) -> list[tuple[int, int, float]]:
    """(i, j, target) pairs of training positions: target 1.0 for the same class, 0.0 for different ones.

    Balanced: half similar, half different, every example in turn as the anchor (SetFit's oversampling). A class
    with one example has no similar pair; it still appears in different ones."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for position, label in enumerate(labels.tolist()):
        by_class.setdefault(int(label), []).append(position)
    others = {c: [p for d, ps in by_class.items() if d != c for p in ps] for c in by_class}
    order = list(range(len(labels)))
    pairs: list[tuple[int, int, float]] = []
    while len(pairs) < count and order:
        rng.shuffle(order)
        for anchor in order:
            label = int(labels[anchor])
            same = [p for p in by_class[label] if p != anchor]
            if same:
                pairs.append((anchor, rng.choice(same), 1.0))
            if others[label]:
                pairs.append((anchor, rng.choice(others[label]), 0.0))
        if not any(len(v) > 1 for v in by_class.values()) and not any(others.values()):
            break  # nothing to pair
    pairs = pairs[:count]
    rng.shuffle(pairs)
    return pairs


def pair_count(num_examples: int, preset: str) -> int:
    return min(PAIRS_PER_EXAMPLE * num_examples, MAX_PAIRS.get(preset, MAX_PAIRS["quick"]))


def pair_loss(first: torch.Tensor, second: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SetFit's CosineSimilarityLoss: mean squared gap between cos(first, second) and the target (1 or 0).
    first, second: (B, H) embeddings; target: (B,)."""
    return ((torch.cosine_similarity(first.float(), second.float(), dim=-1) - target) ** 2).mean()


@dataclass(frozen=True)
class FewShot(HeadOnly):
    pair_batch: int = PAIR_BATCH
    body_learning_rate: float = BODY_LEARNING_RATE

    def apply(self, built: BuiltModel, config: Any) -> None:
        # What trains in the head stage; the contrastive stage unfreezes the body itself, then freezes it again.
        train_only(built.model, lambda name: in_head(name, built.head_names))

    def pairs(self, labels: np.ndarray, preset: str, seed: int) -> list[tuple[int, int, float]]:
        return make_pairs(labels, pair_count(len(labels), preset), seed)

    def adaptation_passes(self, num_train: int, preset: str) -> int:
        return 2 * pair_count(num_train, preset)  # both texts of every pair

    def pair_loss(self, first: torch.Tensor, second: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return pair_loss(first, second, target)

    def body_parameters(self, built: BuiltModel) -> list[torch.nn.Parameter]:
        """Every weight but the new classifier's: the contrastive stage trains these."""
        return [p for name, p in built.base_model().named_parameters() if not in_head(name, built.head_names)]


METHOD = FewShot(
    "fewshot", "Few-shot (SetFit)",
    "For a handful of examples per class: learns from pairs of your texts first, then the final classifier.",
    ("text",),
    presets={"text": {"quick": (3e-3, 60), "balanced": (3e-3, 120), "best": (2e-3, 200)}},
    note="Text only. Learns from pairs of your training texts (at most 320 / 1,280 / 2,560 pairs for Quick / "
         "Balanced / Best), then trains the head on the adapted model. Its features cannot be cached.",
    patience=20,
    frozen_backbone=True,
    adapts_backbone=True,
    # For the rough estimate: the pair stage trains the whole model, so texts/s as full fine-tuning (the default).
    # The pair stage keeps SetFit's numbers; the search tries the head stage's rate and length.
    searches={"text": (rate("learning_rate", 5e-4, 3e-2), whole("epochs", 30, 200))},
)
