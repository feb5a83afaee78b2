"""Uploaded images -> checked RGB image files in the staging folder, or a plain reason why not.

Handles JPEG, PNG, GIF, WebP and BMP; grayscale, RGBA / LA / transparent palettes (put on white),
palette, CMYK and 16-bit images become 8-bit RGB; EXIF orientation is applied; an animated GIF
keeps its first frame. Headers claiming more than `max_image_pixels`, or a frame that would take more
than `max_decode_bytes` to decode and convert, are refused before decoding (decompression bombs), as
are Pillow's own DecompressionBomb warnings and errors; decodes in flight share `decode_pool_bytes`.

Images to predict on (core.ingest.unlabeled) go through the same `load_rgb`, `read_each` and
`report_unreadable`, so they are checked, converted and reported exactly as a dataset's are.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from core.ingest.archive import DamagedEntry
from core.ingest.decode_memory import DECODE_BUDGET, decode_cost
from core.ingest.layout import Candidate
from core.ingest.limits import MB, Limits
from core.ingest.report import Report, name_list, plural
from core.ingest.validate import RAW_COLUMNS

DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))  # Pillow releases the GIL while decoding and encoding
JPEG_QUALITY = 95
LOSSLESS_FORMATS = {"PNG", "GIF", "BMP"}  # stored as PNG; photos (JPEG, WebP) as JPEG
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
MODE_NAMES = {
    "1": "black-and-white", "L": "grayscale", "P": "palette", "RGBA": "transparent", "LA": "transparent",
    "PA": "transparent", "CMYK": "CMYK", "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV", "I": "16-bit",
    "I;16": "16-bit", "I;16L": "16-bit", "I;16B": "16-bit", "I;16N": "16-bit", "F": "32-bit float",
}


T = TypeVar("T")
R = TypeVar("R")


class UnreadableImage(Exception):
    """The reason (a short phrase) an image cannot be used, e.g. 'not an image'."""


@dataclass
class LoadedImage:
    image: Image.Image  # 8-bit RGB, EXIF orientation applied, first frame
    source_format: str  # "JPEG", "PNG"... as uploaded
    converted_from: str  # what the original colour was when not RGB ("CMYK", "16-bit grayscale"...), else ""
    animated: bool  # only the first frame was kept


@dataclass
class StagedImage:
    path: Path  # absolute path of the re-encoded RGB file in the staging folder
    digest: str  # sha256 of the uploaded bytes: equal digests = exact duplicates
    scaled: bool  # shrunk to max_stored_side
    converted_from: str  # what the original colour was when not RGB ("CMYK", "16-bit grayscale"...), else ""
    animated: bool  # only the first frame was kept


def _too_large(pixels: int | None, limits: Limits) -> UnreadableImage:
    size = f"{pixels:,} pixels; " if pixels else ""
    return UnreadableImage(
        f"too large ({size}images over {limits.max_image_pixels / 1e6:,.0f} megapixels are refused as possible "
        f"decompression bombs)"
    )


def _too_much_memory(image: Image.Image, cost: int, limits: Limits) -> UnreadableImage:
    width, height = image.size
    kind = MODE_NAMES.get(image.mode, image.mode)
    return UnreadableImage(
        f"too large to decode ({width:,} x {height:,} {kind + ' ' if image.mode != 'RGB' else ''}pixels need about "
        f"{cost / MB:,.0f} MB of memory; the limit is {limits.max_decode_bytes / MB:,.0f} MB per image). Scale it "
        f"down and upload it again"
    )


def _cost(image: Image.Image) -> int:
    width, height = image.size
    return decode_cost(width, height, image.mode, image.mode == "P" and "transparency" in image.info)


def _opened(data: bytes, limits: Limits) -> Image.Image:
    """The header only (nothing decoded yet), checked: pixel count, then the memory decoding would take."""
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    with _pillow_errors(limits):
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > limits.max_image_pixels:
            raise _too_large(width * height, limits)
    cost = _cost(image)
    if cost > limits.max_decode_bytes:
        raise _too_much_memory(image, cost, limits)
    return image


@contextmanager
def _pillow_errors(limits: Limits) -> Iterator[None]:
    """Pillow's complaints about a file -> UnreadableImage with a short reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except UnreadableImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            claimed = re.search(r"\((\d+) pixels\)", str(error))  # Pillow: "Image size (N pixels) exceeds limit..."
            raise _too_large(int(claimed.group(1)) if claimed else None, limits) from error
        except UnidentifiedImageError as error:
            raise UnreadableImage("not an image, or a kind of image that cannot be read") from error
        except MemoryError as error:
            raise UnreadableImage("too large to decode in the memory this machine has free") from error
        # Pillow's format plugins raise many kinds on a damaged file (OSError, SyntaxError, struct.error from a
        # cut-off GIF, zlib.error...); each is the file's fault, not ours.
        except Exception as error:  # noqa: BLE001
            raise UnreadableImage(f"damaged or cut off ({error})") from error


def _decode(image: Image.Image, limits: Limits) -> Image.Image:
    """Decode fully (so truncation shows now, not during training)."""
    with _pillow_errors(limits):
        image.seek(0)  # animated GIF / WebP: the first frame
        image.load()
    return image


def open_checked(data: bytes, limits: Limits) -> Image.Image:
    """Decode fully with the bomb checks (pixel count, then memory), outside the shared decode budget."""
    return _decode(_opened(data, limits), limits)


def _to_gray(image: Image.Image) -> Image.Image:
    """A 16-bit or float frame -> 8-bit gray, with one frame-sized copy (the old float64 route took four)."""
    values = np.array(image)  # writable copy: uint16 (I;16), int32 (I) or float32 (F)
    if image.mode == "F":  # floats: stretch the actual range
        low, high = float(values.min()), float(values.max())
        values -= low
        values *= 255 / ((high - low) or 1.0)
    elif image.mode != "I" or values.max() > 255:  # 16-bit range (mode I holds 16-bit PNGs too)
        np.floor_divide(values, 257, out=values)  # 65535 -> 255, as the 16-bit range divided by 257
    np.clip(values, 0, 255, out=values)
    gray = values.astype(np.uint8)
    del values
    return Image.fromarray(gray, "L")


def to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode == "F":
        return _to_gray(image).convert("RGB")
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (mode == "P" and "transparency" in image.info):
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent parts become white, not black
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if mode != "RGB" else image


@contextmanager
def decoded(data: bytes, limits: Limits) -> Iterator[LoadedImage]:
    """One uploaded image checked, decoded and brought to 8-bit RGB, holding its share of the process's decode
    budget (`Limits.decode_pool_bytes`) until the block ends: decode threads wait rather than overrun it."""
    image = _opened(data, limits)
    with DECODE_BUDGET.reserve(_cost(image), limits.decode_pool_bytes):
        image = _decode(image, limits)
        source_format = image.format or ""
        original_mode = image.mode
        animated = getattr(image, "n_frames", 1) > 1
        try:
            image = ImageOps.exif_transpose(image)
        except Exception:  # a malformed EXIF block is not worth refusing a good picture over
            pass
        with _pillow_errors(limits):  # a frame that decoded may still fail to convert (a damaged palette)
            rgb = to_rgb(image)
        del image  # the frame: only the RGB copy is kept
        yield LoadedImage(image=rgb, source_format=source_format,
                          converted_from="" if original_mode == "RGB" else MODE_NAMES.get(original_mode, original_mode),
                          animated=animated)


def load_rgb(data: bytes, limits: Limits) -> LoadedImage:
    """Check and decode one uploaded image and bring it to 8-bit RGB: what training and prediction both see."""
    with decoded(data, limits) as loaded:
        return loaded


def stage_image(data: bytes, target_stem: Path, limits: Limits) -> StagedImage:
    """Check, convert and re-encode one image to `target_stem` + .jpg/.png (a name we generated)."""
    with decoded(data, limits) as loaded:  # the full-size frame is let go when the smaller copy is written
        image = loaded.image
        scaled = max(image.size) > limits.max_stored_side
        if scaled:
            image.thumbnail((limits.max_stored_side, limits.max_stored_side), Image.Resampling.LANCZOS)
        if loaded.source_format in LOSSLESS_FORMATS:
            path = target_stem.with_suffix(".png")
            image.save(path, format="PNG")
        else:
            path = target_stem.with_suffix(".jpg")
            image.save(path, format="JPEG", quality=JPEG_QUALITY)
    return StagedImage(path=path, digest=hashlib.sha256(data).hexdigest(), scaled=scaled,
                       converted_from=loaded.converted_from, animated=loaded.animated)


def read_each(items: list[T], work: Callable[[T], R]) -> list[R | str]:
    """`work(item)` for every item, a few at a time; where an image is unreadable, its reason (a str) instead."""

    def attempt(item: T) -> R | str:
        try:
            return work(item)
        except UnreadableImage as problem:
            return str(problem)
        except DamagedEntry as problem:  # its bytes could not even be read: skipped and named like the others
            return problem.reason

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        return list(pool.map(attempt, items))


def report_unreadable(names: list[str], results: list, report: Report) -> None:
    """One warning naming every unreadable image with its reason ('ants/3.jpg: damaged or cut off (...)')."""
    unreadable = [f"{name}: {result}" for name, result in zip(names, results) if isinstance(result, str)]
    if unreadable:
        report.warning("unreadable_images", f"Skipped {plural(len(unreadable), 'image')} that could not be read: "
                       f"{name_list(unreadable, limit=3)}.", unreadable)


def stage_candidates(candidates: list[Candidate], staging: Path, report: Report, limits: Limits,
                      name_prefix: str = "") -> pd.DataFrame:
    """Decode every image (a few threads), keep the readable ones, name the unreadable ones.

    Staged files get generated names (`images/000001.jpg`, `images/test-000001.png`), never uploaded ones.
    """

    def stage(numbered: tuple[int, Candidate]) -> StagedImage:
        number, candidate = numbered
        return stage_image(candidate.entry.read(), staging / "images" / f"{name_prefix}{number:06d}", limits)

    results = read_each(list(enumerate(candidates, start=1)), stage)
    report_unreadable([c.entry.name for c in candidates], results, report)
    rows = [{"input": str(result.path), "label": candidate.label, "split": candidate.split,
             "source": candidate.entry.name, "key": result.digest}
            for candidate, result in zip(candidates, results) if not isinstance(result, str)]
    staged = [r for r in results if not isinstance(r, str)]
    converted = Counter(r.converted_from for r in staged if r.converted_from)
    if converted:
        kinds = ", ".join(plural(n, f"{kind} image") for kind, n in sorted(converted.items()))
        report.info("converted_images", f"Converted to ordinary RGB colour: {kinds}.")
    animated = [c.entry.name for c, r in zip(candidates, results) if not isinstance(r, str) and r.animated]
    if animated:
        report.info("animated_images", f"{plural(len(animated), 'image')} {'is' if len(animated) == 1 else 'are'} "
                    f"animated; only the first frame is used ({name_list(animated)}).", animated)
    scaled = sum(1 for r in staged if r.scaled)
    if scaled:
        report.info("scaled_images", f"Scaled {plural(scaled, 'large image')} down to {limits.max_stored_side} pixels on "
                    f"the longer side to save space (training uses smaller sizes).")
    return pd.DataFrame(rows, columns=RAW_COLUMNS)
