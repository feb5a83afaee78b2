"""Predictions as the Predict page offers them: one input with its timing, or a whole batch as a table.

The model itself is `core.inference.Predictor` (`predict(inputs) -> [{label: probability}]`); this module
adds what users need around it: the run's saved two-class threshold, the top classes, reading an
uploaded CSV (and guessing its text column) or a zip of images, and a downloadable result table.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from core.threshold import decide
from storage.paths import CHECKPOINT_DIR

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
BATCH_SIZE = 32  # inputs per predict() call; bounds memory for large uploads
# One text or image is predicted with one CPU thread. Idle, two threads save about 3 ms on a short text;
# but while a training run shares the CPU (the normal case on a laptop), threads that wait for each other
# make a prediction 5-10x slower (bench/predict.py; figures in docs/BENCHMARKS.md).
SINGLE_INPUT_THREADS = 1
MAX_BATCH_ROWS = 20_000  # a larger upload is refused: scoring it would block the page for many minutes


class BatchError(ValueError):
    """An upload that cannot be scored. The message is one plain sentence saying what to fix."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class Predictor(Protocol):
    def predict(self, inputs: Sequence[Any]) -> list[dict[str, float]]: ...


@dataclass
class SinglePrediction:
    label: str  # after the run's threshold, for two classes
    probabilities: dict[str, float]  # every class, dataset label order
    seconds: float  # wall time of the model call (tokenizing / resizing included)


def predict_one(predictor: Predictor, item: Any, labels: Sequence[str], threshold: float | None,
                threads: int | None = SINGLE_INPUT_THREADS) -> SinglePrediction:
    """One input; `threads` caps torch's CPU threads for the call (None: leave them as they are)."""
    start = time.perf_counter()
    with cpu_threads(threads):
        (probabilities,) = predictor.predict([item])
    seconds = time.perf_counter() - start
    probabilities = {label: float(probabilities[label]) for label in labels}
    return SinglePrediction(decide(probabilities, labels, threshold), probabilities, seconds)


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with at most `count` torch CPU threads (the setting is process-wide, so it is restored)."""
    import torch  # here, not at the top: reading an upload must not pay for importing torch

    before = torch.get_num_threads()
    if count is None or count >= before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def top_classes(probabilities: dict[str, float], k: int = 5) -> pd.DataFrame:
    """The k most probable classes, most probable first (columns: class, probability)."""
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)[:k]
    return pd.DataFrame(ranked, columns=["class", "probability"])


def score(predictor: Predictor, inputs: Sequence[Any], labels: Sequence[str], threshold: float | None,
          shown: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per input: input (as `shown`, e.g. file names), predicted, confidence, then one P(class) column each."""
    if len(inputs) > MAX_BATCH_ROWS:
        raise BatchError(f"The upload has {len(inputs):,} items; score at most {MAX_BATCH_ROWS:,} at a time.", "too_many")
    rows = []
    for start in range(0, len(inputs), BATCH_SIZE):
        for probabilities in predictor.predict(list(inputs[start:start + BATCH_SIZE])):
            probabilities = {label: float(probabilities[label]) for label in labels}
            predicted = decide(probabilities, labels, threshold)
            rows.append({"predicted": predicted, "confidence": probabilities[predicted],
                         **{f"P({label})": probabilities[label] for label in labels}})
    frame = pd.DataFrame(rows, columns=["predicted", "confidence", *[f"P({label})" for label in labels]])
    frame.insert(0, "input", list(shown if shown is not None else inputs))
    return frame


def saved_model_stamp(output_dir: Path) -> int:
    """Newest modification time (ns) of the run's saved files: part of the loaded-model cache key, so a
    model saved again (e.g. a run retrained into the same folder) is loaded afresh."""
    output_dir = Path(output_dir)
    files = [p for p in output_dir.rglob("*") if p.is_file() and CHECKPOINT_DIR not in p.relative_to(output_dir).parts]
    return max((p.stat().st_mtime_ns for p in files), default=0)


# --- Reading uploads ----------------------------------------------------------------------------------


def read_table(name: str, data: bytes) -> pd.DataFrame:
    """An uploaded CSV / TSV / Excel file as strings (empty cells as empty strings)."""
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".xlsx", ".xls"):
            frame = pd.read_excel(io.BytesIO(data), dtype=str)
        else:
            frame = pd.read_csv(io.BytesIO(data), dtype=str, sep=None if suffix != ".csv" else ",",
                                engine="python", encoding_errors="replace")
    except Exception as error:  # pandas raises many kinds; the user only needs to know the file is unreadable
        raise BatchError(f"{name} could not be read as a table; upload a CSV with a header row.", "unreadable") from error
    if frame.empty or len(frame.columns) == 0:
        raise BatchError(f"{name} has no rows to score.", "empty")
    return frame.fillna("")


def guess_text_column(frame: pd.DataFrame) -> str:
    """The column that most looks like free text: the longest strings on average."""
    lengths = {column: frame[column].astype(str).str.len().mean() for column in frame.columns}
    return max(lengths, key=lengths.get)


def extract_images(data: bytes, destination: Path) -> list[tuple[str, Path]]:
    """Unpack the images of an uploaded zip into `destination`: (name in the zip, unpacked file), sorted by name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise BatchError("The upload is not a valid zip file; zip the image folder again and retry.", "bad_zip") from error
    images = []
    with archive:
        members = sorted((info for info in archive.infolist() if not info.is_dir()), key=lambda info: info.filename)
        for i, info in enumerate(members):
            name = Path(info.filename)
            if name.suffix.lower() not in IMAGE_SUFFIXES or "__MACOSX" in name.parts or name.name.startswith("."):
                continue
            # Written under a numbered name: paths inside a zip may be absolute or contain "..".
            target = destination / f"{i:06d}{name.suffix.lower()}"
            target.write_bytes(archive.read(info))
            images.append((info.filename, target))
    if not images:
        raise BatchError("The zip holds no images (jpg, png, bmp, gif, webp or tiff).", "no_images")
    return images
