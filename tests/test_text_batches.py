"""Text batches: dynamic padding, every example once per epoch, a reproducible order, batches that mix the classes
even when text length follows the class, and class-mixed length groups that pad far less than random batches while
still mixing the classes (length alone puts one class in a batch where length follows the class, and a short run
never learned the rare one)."""

from __future__ import annotations

import numpy as np
import pytest

from core.models import text_inputs
from core.models.text_inputs import (
    GROUP_WARMUP_BATCHES, Split, TextBatches, grouped_batches, padded_tokens, padding_ratio, random_batches,
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


def lengths_that_follow_the_class(count: int = 4000) -> tuple[list[int], np.ndarray]:
    """20% "spam" about twice as long as the rest, both spread out, as in SMS spam (token counts)."""
    rng = np.random.default_rng(1)
    labels = (rng.random(count) < 0.2).astype(int)
    lengths = np.where(labels == 1, rng.lognormal(3.7, 0.3, count), rng.lognormal(3.0, 0.6, count))
    return lengths.astype(int).clip(2, 128).tolist(), labels


def padding_of(lengths: list[int], batches: list[list[int]]) -> float:
    """Tokens computed per real token over these batches only (padding_ratio divides by the whole split's)."""
    return padded_tokens(lengths, batches) / sum(lengths[i] for b in batches for i in b)


def share_mixed(labels: np.ndarray, batches: list[list[int]]) -> float:
    return float(np.mean([0 < labels[b].mean() < 1 for b in batches]))


def test_grouped_batches_cover_the_epoch_once_in_as_many_batches_and_reproducibly():
    rng = np.random.default_rng(0)
    lengths, labels = rng.integers(1, 60, 1000).tolist(), rng.integers(0, 3, 1000)
    batches = grouped_batches(lengths, labels, 16, seed=3, random_first=10)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(random_batches(1000, 16, seed=3))
    assert batches == grouped_batches(lengths, labels, 16, seed=3, random_first=10)
    assert batches != grouped_batches(lengths, labels, 16, seed=4, random_first=10)


def test_grouping_pads_far_less_than_random_batches():
    rng = np.random.default_rng(1)
    lengths = rng.lognormal(3, 0.6, 4000).astype(int).clip(2, 128).tolist()
    labels = rng.integers(0, 5, 4000)  # independent of length: the class rank is the length rank
    grouped = padding_ratio(lengths, grouped_batches(lengths, labels, 16, seed=0))
    shuffled = padding_ratio(lengths, random_batches(4000, 16, seed=0))
    assert grouped < 1.15 < 1.6 < shuffled, (grouped, shuffled)


def test_where_length_follows_the_class_grouped_batches_still_mix_the_classes(monkeypatch):
    lengths, labels = lengths_that_follow_the_class()
    grouped = grouped_batches(lengths, labels, 16, seed=0)
    shuffled = random_batches(len(lengths), 16, seed=0)
    monkeypatch.setattr(text_inputs, "GROUP_CLASS_MIX", 0.0)  # length alone, for comparison
    by_length = grouped_batches(lengths, labels, 16, seed=0)
    # Random batches mix in 96%, length alone in 58%: class-mixed groups in 84%, at about half random's padding.
    assert share_mixed(labels, grouped) >= 0.8 > 0.65 > share_mixed(labels, by_length)
    assert share_mixed(labels, shuffled) >= 0.9
    assert padding_ratio(lengths, grouped) < 1.4 < 2.0 < padding_ratio(lengths, shuffled)


def test_the_run_starts_with_random_batches_then_groups_every_later_batch():
    data = TextBatches(split_where_length_follows_the_class(copies=20), WordTokenizer(), 64, grouped=True)
    first_epoch = data.train_order(batch_size=16, seed=5, epoch=0)
    assert first_epoch[:GROUP_WARMUP_BATCHES] == random_batches(len(data), 16, seed=5)[:GROUP_WARMUP_BATCHES]
    later = first_epoch[GROUP_WARMUP_BATCHES:]
    assert padding_of(data.lengths, later) < padding_of(data.lengths, first_epoch[:GROUP_WARMUP_BATCHES])
    # Here length alone decides the class (every spam text is longer than every other): length alone would mix 2%
    # of batches, random ones mix 94%, class-mixed groups 64% at 1.7 tokens per real token (random 2.3).
    assert share_mixed(data.split.labels, later) >= 0.5
    # the warm-up counts the run's batches, not each epoch's: a later epoch groups from its first batch
    assert data.num_train_batches(16) > GROUP_WARMUP_BATCHES
    second_epoch = data.train_order(batch_size=16, seed=6, epoch=1)
    assert second_epoch == grouped_batches(data.lengths, data.split.labels, 16, seed=6)
    assert padding_ratio(data.lengths, second_epoch) < padding_ratio(data.lengths, random_batches(len(data), 16, 6))


def test_without_grouping_the_order_is_random_batches():
    data = TextBatches(split_where_length_follows_the_class(), WordTokenizer(), 64, grouped=False)
    assert data.train_order(16, seed=2, epoch=3) == random_batches(100, 16, seed=2)
