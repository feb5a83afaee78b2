"""Images sized to the data: a convolutional model left at its default size trains small images at about 3.5x
their own side (at least 64 px, at most the model's default), reads the size from the training images only, and
keeps a size the user typed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.run_config import RunConfig
from core.training.image_sizing import median_short_side, side_for, sized_to_data


def write_images(folder: Path, sides: list[tuple[int, int]]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i, (width, height) in enumerate(sides):
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        names.append(f"{i}.png")
    return names


@pytest.mark.parametrize("short_side,default,expected", [
    (28, 288, 96),  # digits: 98 rounds to 96
    (8, 288, 64),  # tiny icons: never below 64 px
    (40, 288, 128),  # 140 rounds to 128
    (100, 288, 288),  # 350 is past the default: photos keep it
    (500, 288, 288),
    (28, 32, 32),  # never above the model's own default
])
def test_the_side_follows_the_images_within_bounds(short_side, default, expected):
    assert side_for(short_side, default) == expected


def test_the_median_short_side_is_read_from_the_given_images_only(tmp_path):
    names = write_images(tmp_path, [(28, 30)] * 5 + [(400, 300)] * 2)
    assert median_short_side(tmp_path, names) == 28
    assert median_short_side(tmp_path, names[5:]) == 300  # e.g. only the training split's files
    assert median_short_side(tmp_path, []) is None


def test_a_convolutional_model_is_sized_to_small_images_and_a_typed_size_is_kept(tmp_path):
    names = write_images(tmp_path, [(28, 28)] * 6)
    chosen = RunConfig(model="efficientnet-lite0", method="head")
    assert sized_to_data("image", chosen, tmp_path, names).image_size == 96
    typed = RunConfig(model="efficientnet-lite0", method="head", image_size=224)
    assert sized_to_data("image", typed, tmp_path, names).image_size == 224
    # A transformer's position embeddings fix its size; a text run has none.
    assert sized_to_data("image", RunConfig(model="tiny-vit", method="head"), tmp_path, names).image_size is None
    assert sized_to_data("text", RunConfig(model="minilm"), tmp_path, names).image_size is None
