"""Image loading and transforms with PIL / numpy / torch only (no torchvision).

Every image is first brought to a working size: its shorter side becomes size / crop_pct (256 for 224).
Evaluation then takes the centre square of `size`; training takes a random resized crop and a random
horizontal flip. Inference (core.serving.inference) uses the same `load_working_image` + `eval_tensor`, so a saved
model sees exactly what it was evaluated on. Batches are (B, 3, size, size) float32 in channels_last layout.

Decoding a large JPEG costs milliseconds per photo, every epoch and every run. A run keeps its working images in
memory while they fit CACHE_BUDGET_BYTES, and, given a `cache_folder`, on disk as raw pixels (one .npy per image,
per dataset file and working size), so later epochs and later runs on the same data and size decode nothing.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from core.models.base import ImageSettings
from core.models.text_inputs import Batch, Split

RESAMPLE = Image.Resampling.BILINEAR
CROP_SCALE = (0.35, 1.0)  # share of the image area a training crop keeps: light augmentation
CROP_RATIO = (3 / 4, 4 / 3)
CACHE_BUDGET_BYTES = 768 * 2**20  # keep decoded working images in memory up to this much


def working_side(settings: ImageSettings) -> int:
    return int(round(settings.size / settings.crop_pct))


def load_working_image(image: Image.Image | str | Path, settings: ImageSettings) -> Image.Image:
    """RGB image (EXIF rotation applied) whose shorter side is working_side(settings)."""
    if isinstance(image, (str, Path)):
        with Image.open(image) as img:
            return _to_working(img, settings)
    return _to_working(image, settings)


def _to_working(img: Image.Image, settings: ImageSettings) -> Image.Image:
    side = working_side(settings)
    if img.format == "JPEG":
        img.draft("RGB", (side, side))  # decode at a reduced JPEG scale (still >= side): much faster; no-op once loaded
    img = ImageOps.exif_transpose(img).convert("RGB")
    w, h = img.size
    scale = side / min(w, h)
    return img.resize((max(side, round(w * scale)), max(side, round(h * scale))), RESAMPLE)


def _to_tensor(img: Image.Image, settings: ImageSettings) -> torch.Tensor:
    """(3, H, W) float32, normalised per channel."""
    array = np.asarray(img, dtype=np.float32) / 255.0  # (H, W, 3)
    array = (array - np.asarray(settings.mean, dtype=np.float32)) / np.asarray(settings.std, dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def eval_tensor(working: Image.Image, settings: ImageSettings) -> torch.Tensor:
    w, h = working.size
    s = settings.size
    left, top = (w - s) // 2, (h - s) // 2
    return _to_tensor(working.crop((left, top, left + s, top + s)), settings)


def train_tensor(working: Image.Image, settings: ImageSettings, rng: np.random.Generator) -> torch.Tensor:
    w, h = working.size
    area = w * h
    box = (0, 0, w, h)
    for _ in range(10):  # as torchvision's RandomResizedCrop: try a few crops, else keep the whole image
        target = area * rng.uniform(*CROP_SCALE)
        ratio = math.exp(rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
        cw, ch = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            box = (left, top, left + cw, top + ch)
            break
    img = working.resize((settings.size, settings.size), RESAMPLE, box=box)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _to_tensor(img, settings)


def stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    # channels_last: about 2x faster convolutions on CPU (see STACK.md)
    return torch.stack(tensors).contiguous(memory_format=torch.channels_last)


class DecodedImages:
    """Working-size images of one dataset as raw RGB pixels on disk: <cache_folder>/<side>/<image path>.npy.
    A file is written to a temporary name and renamed, so two runs filling the same cache never read half a file."""

    def __init__(self, cache_folder: Path, settings: ImageSettings) -> None:
        self.folder = Path(cache_folder) / f"side{working_side(settings)}"

    def _path(self, relative: str) -> Path:
        return self.folder / f"{relative}.npy"

    def get(self, relative: str) -> Image.Image | None:
        try:
            return Image.fromarray(np.load(self._path(relative)))
        except (OSError, ValueError):  # not cached yet (or a file from an interrupted write: decode again)
            return None

    def put(self, relative: str, img: Image.Image) -> None:
        path = self._path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            np.save(out, np.asarray(img, dtype=np.uint8))
        tmp.replace(path)


class ImageBatches:
    """Batches for one image split; working-size images are kept in memory while they fit the budget, and on disk
    in `cache_folder` when one is given (see the module docstring)."""

    def __init__(self, split: Split, dataset_dir: Path, settings: ImageSettings, cache_folder: Path | None = None) -> None:
        self.split = split
        self.dataset_dir = dataset_dir
        self.settings = settings
        self.decoded = DecodedImages(cache_folder, settings) if cache_folder is not None else None
        self._cache: dict[int, Image.Image] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.split)

    def working(self, position: int) -> Image.Image:
        img = self._cache.get(position)
        if img is None:
            relative = self.split.inputs[position]
            img = self.decoded.get(relative) if self.decoded else None
            if img is None:
                img = load_working_image(self.dataset_dir / relative, self.settings)
                if self.decoded:
                    self.decoded.put(relative, img)
            size = img.size[0] * img.size[1] * 3
            if self._cached_bytes + size <= CACHE_BUDGET_BYTES:
                self._cache[position] = img
                self._cached_bytes += size
        return img

    def _batch(self, positions: list[int], tensors: list[torch.Tensor]) -> Batch:
        labels = torch.as_tensor(self.split.labels[positions], dtype=torch.long)
        return {"pixel_values": stack(tensors)}, labels, list(positions)

    def train(self, batch_size: int, seed: int, epoch: int = 0):  # order from (seed, epoch) alone
        rng = np.random.default_rng(seed)
        for positions in _batches(rng.permutation(len(self)).tolist(), batch_size):
            yield self._batch(positions, [train_tensor(self.working(p), self.settings, rng) for p in positions])

    def train_order(self, batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
        """The positions of each batch `train` yields for these arguments."""
        return _batches(np.random.default_rng(seed).permutation(len(self)).tolist(), batch_size)

    def evaluate(self, batch_size: int):
        for start in range(0, len(self), batch_size):
            positions = list(range(start, min(start + batch_size, len(self))))
            yield self._batch(positions, [eval_tensor(self.working(p), self.settings) for p in positions])

    def num_train_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


def _batches(order: list[int], batch_size: int) -> list[list[int]]:
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
