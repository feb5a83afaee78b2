"""What a text model sees: token ids, batches padded to their own longest text, and the order batches come in.

Text batches use dynamic padding: each batch is padded to its own longest text, not to max_length. On SMS spam
(mean 25 tokens, p95 55) random batches of 16 then compute 2.5 tokens per real token, against 5.1 when every
text is padded to 128. Sorting texts by length before cutting batches cuts that to about 1.05, but where length
follows the class (spam texts are twice as long as the rest) such a batch holds one class, and a short run fed
only such batches never learned spam (one epoch on 800 SMS texts: spam-F1 0.00 against 0.92 with random batches).
So training batches are class-mixed length groups: the sort key is halfway between a text's length rank and its
length rank within its own class, which deals each class across the batches as a stratified sample would and still
keeps lengths close (1.4 tokens per real token on SMS and fortunes; one epoch with the random warm-up below: 1.61
and 1.46, 1.45x and 1.64x the samples/s of random batches at macro-F1 -0.27 and -0.36 points over 3 and 6 seeds;
docs/BENCHMARKS.md, grouping table). Even so,
a run's first GROUP_WARMUP_BATCHES batches stay random: on 800 SMS texts (40 batches) one epoch of class-mixed
groups learned nothing on 3 seeds of 3 where random batches learned spam on one. Evaluation batches are sorted by
length: order cannot change what the model predicts.
A batch is (inputs for model(**inputs), labels (B,), positions (B,) = rows within the split). Training and
inference (core.serving) both read their texts through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Batch = tuple[dict[str, torch.Tensor], torch.Tensor, list[int]]
GROUP_WINDOW_BATCHES = 50  # as the Trainer's LengthGroupedSampler: each window of 50 batches is sorted by length
# Weight of the rank within the class in the sort key (0: length alone; 1: strata only). At 0.5 a batch holds about
# as many classes as a random batch or more (SMS 1.8 against 1.9; fortunes 13.0 of 26 against 10.9; length alone:
# 1.5 and 10.1) at 1.4 tokens computed per real token (random 2.5, length alone 1.05).
GROUP_CLASS_MIX = 0.5
GROUP_WARMUP_BATCHES = 50  # random batches before grouping starts (the run's first ones, whatever the epoch)


@dataclass
class Split:
    example_index: list[int]  # row numbers in examples.csv
    inputs: list[str]  # texts, or image paths relative to the dataset folder
    labels: np.ndarray  # (N,) int64 class ids (index into the dataset's label list)

    def __len__(self) -> int:
        return len(self.inputs)


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to max_length, not padded (padding happens per batch)."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
    return encoded["input_ids"]


def random_batches(count: int, batch_size: int, seed: int) -> list[list[int]]:
    """Training order: a fresh permutation per (seed, epoch), cut into batches."""
    order = np.random.default_rng(seed).permutation(count).tolist()
    return [order[i:i + batch_size] for i in range(0, count, batch_size)]


def length_rank(lengths: np.ndarray) -> np.ndarray:
    """Each text's place among these, longest first, as a fraction in (0, 1); ties keep their (random) order."""
    places = np.empty(len(lengths))
    places[np.argsort(-lengths, kind="stable")] = np.arange(len(lengths))
    return (places + 0.5) / max(1, len(lengths))


def class_mixed_key(lengths: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sort key of a window: GROUP_CLASS_MIX of the length rank within the text's class, the rest of its length rank
    in the window. Sorting by it puts each class's longest texts beside the other classes' longest ones."""
    within = np.empty(len(lengths))
    for label in np.unique(labels):
        members = labels == label
        within[members] = length_rank(lengths[members])
    return GROUP_CLASS_MIX * within + (1 - GROUP_CLASS_MIX) * length_rank(lengths)


def grouped_batches(lengths: list[int], labels: np.ndarray, batch_size: int, seed: int,
                    random_first: int = 0) -> list[list[int]]:
    """Training order with little padding and the class mix kept: a fresh permutation per (seed, epoch) whose first
    `random_first` batches stay random; the rest is cut into windows of GROUP_WINDOW_BATCHES batches, each window
    sorted by class_mixed_key and cut into batches, and those batches come in random order. Every example once, in
    as many batches as random_batches."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    head = min(len(order), random_first * batch_size)
    batches = [order[i:min(i + batch_size, head)].tolist() for i in range(0, head, batch_size)]
    sizes, classes, window, grouped = np.asarray(lengths), np.asarray(labels), batch_size * GROUP_WINDOW_BATCHES, []
    for start in range(head, len(order), window):
        members = order[start:start + window]
        members = members[np.argsort(class_mixed_key(sizes[members], classes[members]), kind="stable")]
        grouped += [members[i:i + batch_size].tolist() for i in range(0, len(members), batch_size)]
    return batches + [grouped[i] for i in rng.permutation(len(grouped))]


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    """Tokens computed for these batches, each padded to its longest text."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def padding_ratio(lengths: list[int], batches: list[list[int]]) -> float:
    """Tokens computed per real token when each batch is padded to its longest text."""
    return padded_tokens(lengths, batches) / max(1, sum(lengths))


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation order: longest first, so each batch pads little; callers restore order by position."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate_text(token_ids: list[list[int]], positions: list[int], labels: np.ndarray, pad_id: int) -> Batch:
    """Pad the chosen examples to the longest among them: input_ids and attention_mask are (B, T)."""
    rows = [token_ids[i] for i in positions]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, ids in enumerate(rows):
        input_ids[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[r, :len(ids)] = 1
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    return inputs, torch.as_tensor(labels[positions], dtype=torch.long), list(positions)


class TextBatches:
    """Batches for one text split; tokenised once up front."""

    def __init__(self, split: Split, tokenizer, max_length: int, grouped: bool = False) -> None:
        self.split, self.grouped = split, grouped
        self.token_ids = tokenize(tokenizer, split.inputs, max_length) if len(split) else []
        self.lengths = [len(t) for t in self.token_ids]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.split)

    def train_order(self, batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
        """The epoch's batches; `seed` already differs per epoch (the loop passes seed * 1000 + epoch)."""
        if not self.grouped:
            return random_batches(len(self), batch_size, seed)
        random_first = max(0, GROUP_WARMUP_BATCHES - epoch * self.num_train_batches(batch_size))
        return grouped_batches(self.lengths, self.split.labels, batch_size, seed, random_first)

    def train(self, batch_size: int, seed: int, epoch: int = 0):
        for positions in self.train_order(batch_size, seed, epoch):
            yield collate_text(self.token_ids, positions, self.split.labels, self.pad_id)

    def evaluate(self, batch_size: int):
        for positions in sorted_batches(self.lengths, batch_size):
            yield collate_text(self.token_ids, positions, self.split.labels, self.pad_id)

    def num_train_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)
