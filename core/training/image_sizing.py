"""Images sized to the data: the working size of a convolutional image model follows the training images' own
resolution when the user left "image size" blank, instead of enlarging 28-pixel photos to the 288-pixel default.

Decided on training data only (bench/image_size.py: a linear probe on the backbone's features of the training
images, 5-fold cross-validation over 5 seeds; docs/BENCHMARKS.md). On the 4,000 training digits of bench/digits.py
(28 px): 83.9% at 32 px, 94.5% at 64, 95.1% at 96, 94.8% at 128, 96.0% at 160, 96.4% at 224 and 96.2% at 288, with
feature extraction taking 29 s at 96 px, 87 s at 160 and 560 s at 288. Beyond about 3.5x the images' own side
accuracy gains 1.3 points at most for 3x-19x the compute, so small images stop there. Photos keep the default
(ants/bees, short sides of 200-500 px: 288 px scored best there).

    side = clamp(round_to_32(ENLARGE x median short side of the training images), MIN_SIDE, the model's default)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PIL import Image

from core.catalog import resolve_model
from core.run_config import RunConfig

ENLARGE = 3.5  # how far the median training image is enlarged at most (28 px -> 96 px)
MIN_SIDE = 64  # below this the backbone's five stride-2 stages leave no spatial map (32 px: 83.9% on digits)
STEP = 32  # EfficientNet's total stride: a multiple keeps its feature maps whole
SAMPLE = 200  # training images whose headers are read (evenly spaced): enough for a median, milliseconds
SIZED_KINDS = ("efficientnet",)  # convolutional: any input size works (a saved run used as base keeps its size)


def median_short_side(dataset_dir: Path, image_paths: list[str]) -> int | None:
    """The median shorter side, in pixels, of up to SAMPLE of the images (their headers only); None if none opens."""
    if not image_paths:
        return None
    every = max(1, len(image_paths) // SAMPLE)
    sides = []
    for relative in image_paths[::every][:SAMPLE]:
        try:
            with Image.open(Path(dataset_dir) / relative) as image:
                sides.append(min(image.size))
        except OSError:
            continue  # a file that cannot be read fails training later with its own message
    return sorted(sides)[len(sides) // 2] if sides else None


def side_for(short_side: int, default_side: int) -> int:
    enlarged = STEP * round(ENLARGE * short_side / STEP)
    return min(default_side, max(MIN_SIDE, enlarged))


def sized_to_data(task: str, config: RunConfig, dataset_dir: Path, train_images: list[str]) -> RunConfig:
    """`config` with image_size set from the training images when it is blank and the model is convolutional;
    otherwise unchanged (a size the user typed is kept, text and transformer image models keep their own)."""
    if task != "image" or config.image_size:
        return config
    source = resolve_model(config.model, task)
    if source.kind not in SIZED_KINDS:
        return config
    default_side = (source.entry.default_image_size if source.entry else None) or 224
    short_side = median_short_side(dataset_dir, train_images)
    if short_side is None:
        return config
    return dataclasses.replace(config, image_size=side_for(short_side, default_side))
