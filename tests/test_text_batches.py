"""Text batches: dynamic padding, every example once per epoch, a reproducible order, and batches that mix the
classes even when text length follows the class (length-grouped batches did not, and a short run never learned
the rare class)."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.text_inputs import Split, TextBatches, random_batches


class WordTokenizer:
    """One id per word, [CLS]=1 first: enough to test batching without a real vocabulary."""

    pad_token_id = 0

    def __call__(self, texts, truncation, max_length, **_):
        return {"input_ids": [[1] + [2 + len(w) for w in t.split()][: max_length - 1] for t in texts]}


def split_where_length_follows_the_class() -> Split:
    # 80 short "ham" texts (3 words) and 20 long "spam" texts (12 words), as in SMS spam.
    texts = ["hi there you"] * 80 + ["win a free prize now call this number to claim it today"] * 20
    labels = np.array([0] * 80 + [1] * 20)
    return Split(list(range(100)), texts, labels)


def test_each_batch_is_padded_to_its_own_longest_text():
    data = TextBatches(split_where_length_follows_the_class(), WordTokenizer(), max_length=64)
    for inputs, labels, positions in data.train(batch_size=8, seed=0):
        longest = max(data.lengths[p] for p in positions)
        assert inputs["input_ids"].shape == (len(positions), longest)
        assert inputs["attention_mask"].sum(1).tolist() == [data.lengths[p] for p in positions]
        assert labels.tolist() == data.split.labels[positions].tolist()


def test_an_epoch_sees_every_example_once_in_a_reproducible_order():
    first = random_batches(100, 16, seed=7)
    assert sorted(i for batch in first for i in batch) == list(range(100))
    assert len(first) == TextBatches(split_where_length_follows_the_class(), WordTokenizer(), 64).num_train_batches(16)
    assert first == random_batches(100, 16, seed=7)
    assert first != random_batches(100, 16, seed=8)  # the next epoch (seed * 1000 + epoch) reshuffles


@pytest.mark.parametrize("seed", range(5))
def test_batches_mix_the_classes_when_length_follows_the_class(seed):
    data = TextBatches(split_where_length_follows_the_class(), WordTokenizer(), max_length=64)
    mixed = [0 < labels.float().mean() < 1 for _, labels, _ in data.train(batch_size=16, seed=seed)]
    # With 20% long spam texts, a random batch of 16 lacks spam with probability 0.8^16 = 3%: nearly all mix.
    assert sum(mixed) >= len(mixed) - 2


def test_evaluation_covers_the_split_longest_first():
    data = TextBatches(split_where_length_follows_the_class(), WordTokenizer(), max_length=64)
    batches = list(data.evaluate(batch_size=16))
    assert sorted(p for _, _, positions in batches for p in positions) == list(range(100))
    widths = [inputs["input_ids"].shape[1] for inputs, _, _ in batches]
    assert widths == sorted(widths, reverse=True)
