"""Text batches: dynamic padding, every example once per epoch, a reproducible order, batches that mix the classes
even when text length follows the class, and length grouping that pads less only after random batches first
(grouped batches alone hold one class where length follows the class, and a short run never learned the rare one)."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.text_inputs import (
    GROUP_WARMUP_BATCHES, Split, TextBatches, grouped_batches, padding_ratio, random_batches,
)


class WordTokenizer:
    """One id per word, [CLS]=1 first: enough to test batching without a real vocabulary."""

    pad_token_id = 0

    def __call__(self, texts, truncation, max_length, **_):
        return {"input_ids": [[1] + [2 + len(w) for w in t.split()][: max_length - 1] for t in texts]}


def split_where_length_follows_the_class(copies: int = 1) -> Split:
    # 80 short "ham" texts (3 words) and 20 long "spam" texts (12 words), as in SMS spam; ham lengths vary a little.
    ham = ["hi there you", "hi there you all", "ok"]
    texts = ([ham[i % 3] for i in range(80)] + ["win a free prize now call this number to claim it today"] * 20) * copies
    labels = np.array(([0] * 80 + [1] * 20) * copies)
    return Split(list(range(len(texts))), texts, labels)


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


def test_grouped_batches_cover_the_epoch_once_in_as_many_batches_and_reproducibly():
    lengths = np.random.default_rng(0).integers(1, 60, 1000).tolist()
    batches = grouped_batches(lengths, 16, seed=3, random_first=10)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(random_batches(1000, 16, seed=3))
    assert batches == grouped_batches(lengths, 16, seed=3, random_first=10)
    assert batches != grouped_batches(lengths, 16, seed=4, random_first=10)


def test_grouping_pads_far_less_than_random_batches():
    lengths = np.random.default_rng(1).lognormal(3, 0.6, 4000).astype(int).clip(2, 128).tolist()
    grouped = padding_ratio(lengths, grouped_batches(lengths, 16, seed=0))
    shuffled = padding_ratio(lengths, random_batches(4000, 16, seed=0))
    assert grouped < 1.15 < 1.6 < shuffled, (grouped, shuffled)


def test_the_run_starts_with_random_batches_that_mix_the_classes_then_groups():
    data = TextBatches(split_where_length_follows_the_class(copies=20), WordTokenizer(), 64, grouped=True)
    first_epoch = data.train_order(batch_size=16, seed=5, epoch=0)
    labels = data.split.labels
    mixed = [0 < labels[b].mean() < 1 for b in first_epoch]
    assert sum(mixed[:GROUP_WARMUP_BATCHES]) >= GROUP_WARMUP_BATCHES - 5  # random: nearly all mix
    assert sum(mixed[GROUP_WARMUP_BATCHES:]) <= 0.2 * len(mixed[GROUP_WARMUP_BATCHES:])  # grouped: most do not
    later = padding_ratio(data.lengths, first_epoch[GROUP_WARMUP_BATCHES:])
    assert later < padding_ratio(data.lengths, first_epoch[:GROUP_WARMUP_BATCHES])
    # the warm-up counts the run's batches, not each epoch's: a later epoch groups from its first batch
    assert data.num_train_batches(16) > GROUP_WARMUP_BATCHES
    second_epoch = data.train_order(batch_size=16, seed=6, epoch=1)
    assert padding_ratio(data.lengths, second_epoch) < padding_ratio(data.lengths, random_batches(len(data), 16, 6))


def test_without_grouping_the_order_is_random_batches():
    data = TextBatches(split_where_length_follows_the_class(), WordTokenizer(), 64, grouped=False)
    assert data.train_order(16, seed=2, epoch=3) == random_batches(100, 16, seed=2)
