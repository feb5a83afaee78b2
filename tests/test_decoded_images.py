"""Decoded working-size images kept on disk: a later run on the same data reads pixels, not JPEGs, and sees
exactly what decoding would have given it."""

from __future__ import annotations

import numpy as np
import torch

from core.models.base import ImageSettings
from core.models.image_inputs import ImageBatches, eval_tensor, load_working_image
from core.models.text_inputs import Split
from tests.test_methods_train import IMAGE_LABELS, write_image_dataset


def image_split(folder) -> Split:
    import pandas as pd

    frame = pd.read_csv(folder / "examples.csv")
    labels = np.array([IMAGE_LABELS.index(label) for label in frame.label])
    return Split(list(range(len(frame))), list(frame.input), labels)


def test_a_second_run_reads_the_decoded_pixels_and_gets_the_same_batches(tmp_path):
    data = write_image_dataset(tmp_path / "data", n=6)
    split, settings, cache = image_split(data), ImageSettings(size=32), tmp_path / "cache"
    first = ImageBatches(split, data, settings, cache)
    expected = [eval_tensor(load_working_image(data / p, settings), settings) for p in split.inputs]
    batch = next(first.evaluate(6))[0]["pixel_values"]
    assert torch.equal(batch, torch.stack(expected).contiguous(memory_format=torch.channels_last))
    assert len(list(cache.rglob("*.npy"))) == 6

    for path in split.inputs:  # the originals are gone: only the cache can answer now
        (data / path).unlink()
    second = ImageBatches(split, data, settings, cache)
    assert torch.equal(next(second.evaluate(6))[0]["pixel_values"], batch)
    # training batches (random crops) are the same draws on the same pixels too
    again = ImageBatches(split, data, settings, cache)
    assert torch.equal(next(second.train(3, seed=5))[0]["pixel_values"], next(again.train(3, seed=5))[0]["pixel_values"])


def test_each_working_size_has_its_own_cache(tmp_path):
    data = write_image_dataset(tmp_path / "data", n=2)
    split, cache = image_split(data), tmp_path / "cache"
    for size in (32, 64):
        batches = ImageBatches(split, data, ImageSettings(size=size), cache)
        assert next(batches.evaluate(2))[0]["pixel_values"].shape[-1] == size
    assert sorted(p.name for p in cache.iterdir()) == ["side37", "side73"]  # size / crop_pct 0.875


def test_train_order_names_the_positions_train_yields(tmp_path):
    """The probe decodes the images of the run's first batches ahead of timing them (core.training.probe)."""
    data = write_image_dataset(tmp_path / "data", n=6)
    batches = ImageBatches(image_split(data), data, ImageSettings(size=32))
    assert [positions for _, _, positions in batches.train(4, seed=7000)] == batches.train_order(4, seed=7000)
    assert batches.train_order(4, seed=7000) != batches.train_order(4, seed=8000)
