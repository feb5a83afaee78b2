"""A pilot-size set of low-resolution images, built offline from scikit-learn's bundled digits.

`load_digits()` holds 1,797 grey 8x8 digits in 10 classes. The 1,797 sources are first split 80/20 (stratified,
seed 0), so no test image is a shifted copy of a training image's source; then each image is drawn from a random
source of its part: upscaled to SIZE px (bicubic), rotated by up to ±ROTATION_DEGREES, shifted by up to ±SHIFT_PX
pixels, with light Gaussian noise, and saved as an 8-bit grey PNG in class folders:

    <folder>/train/<digit>/<n>.png   4,000 images (Tuneboard splits them into training and validation)
    <folder>/test/<digit>/<n>.png    1,000 held-out images

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.digits /tmp/digits
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIZE, ROTATION_DEGREES, SHIFT_PX, NOISE_SD = 28, 10.0, 2, 8.0
TRAIN_IMAGES, TEST_IMAGES, SEED = 4000, 1000, 0


def _draw(source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    grey = Image.fromarray((source * (255 / 16)).astype(np.uint8)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    dx, dy = (int(v) for v in rng.integers(-SHIFT_PX, SHIFT_PX + 1, size=2))
    moved = grey.rotate(float(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES)), Image.Resampling.BILINEAR,
                        translate=(dx, dy), fillcolor=0)
    noisy = np.asarray(moved, dtype=np.float32) + rng.normal(0.0, NOISE_SD, size=(SIZE, SIZE))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def make_digits(folder: Path, train: int = TRAIN_IMAGES, test: int = TEST_IMAGES, seed: int = SEED) -> Path:
    """Write the set under `folder` (see the module docstring); returns `folder`. The same seed gives the same
    files."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    sources = {}
    sources["train"], sources["test"] = train_test_split(np.arange(len(digits.target)), test_size=0.2,
                                                         stratify=digits.target, random_state=seed)
    rng = np.random.default_rng(seed)
    for part, count in (("train", train), ("test", test)):
        for n, source in enumerate(rng.choice(sources[part], size=count)):
            label = int(digits.target[source])
            path = folder / part / str(label) / f"{n}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_draw(digits.images[source], rng)).save(path)
    return folder


if __name__ == "__main__":
    print(make_digits(Path(sys.argv[1])))
