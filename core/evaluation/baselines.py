"""Untuned baselines recorded with every run, so the user sees what tuning bought.

- majority: always predict the most common training label.
- zero_shot (text only, when the bundled all-MiniLM-L6-v2 is installed): embed each test text and each label
  name (mean-pooled token embeddings, L2-normalised, as the sentence model was trained) and predict the label
  whose embedding is most similar (cosine).

Both depend only on the stored dataset, never on the run, so the zero-shot score is computed once per dataset
and cached: on SMS spam it was two thirds of a warm head-only run's time (10 of 15 s on 2 busy cores).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.catalog import minilm_path
from core.datasets.files import EXAMPLES_FILE
from core.evaluation.metrics import accuracy_and_macro_f1

ZERO_SHOT_BATCH = 64
ZERO_SHOT_MAX_LENGTH = 128
ZERO_SHOT_CACHE_VERSION = 1  # bump when the zero-shot method changes, so old cached scores are not reused


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray, num_labels: int) -> dict[str, Any]:
    counts = np.bincount(train_labels, minlength=num_labels)
    majority = int(counts.argmax())
    accuracy, macro_f1 = accuracy_and_macro_f1(test_labels, np.full(len(test_labels), majority), num_labels)
    return {"accuracy": accuracy, "macro_f1": macro_f1, "predicted_label_id": majority}


@functools.lru_cache(maxsize=1)
def _sentence_model():
    from core.models.libraries import resolve_lazy_imports

    resolve_lazy_imports()  # transformers' names, once and under a lock (Streamlit runs pages in threads)
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    return tokenizer, model


@torch.no_grad()
def embed(texts: list[str]) -> np.ndarray:
    """(N, 384) unit-length sentence embeddings (mean over real tokens)."""
    tokenizer, model = _sentence_model()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together: less padding
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(order), ZERO_SHOT_BATCH):
        index = order[start:start + ZERO_SHOT_BATCH]
        batch = tokenizer([texts[i] for i in index], padding=True, truncation=True,
                          max_length=ZERO_SHOT_MAX_LENGTH, return_tensors="pt")
        hidden = model(**batch).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out[index] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def zero_shot_baseline(test_texts: list[str], test_labels: np.ndarray, labels: list[str]) -> dict[str, Any] | None:
    """None when the sentence model is not installed."""
    if minilm_path() is None or not test_texts:
        return None
    label_vectors = embed([label.replace("_", " ") for label in labels])  # (C, H)
    scores = embed(test_texts) @ label_vectors.T  # (N, C) cosine similarities
    accuracy, macro_f1 = accuracy_and_macro_f1(test_labels, scores.argmax(axis=1), len(labels))
    return {"accuracy": accuracy, "macro_f1": macro_f1, "model": "all-MiniLM-L6-v2"}


def cached_zero_shot_baseline(dataset_dir: Path, cache_folder: Path, test_texts: list[str], test_labels: np.ndarray,
                              labels: list[str]) -> dict[str, Any] | None:
    """zero_shot_baseline, computed once per stored dataset. Stored datasets never change in place, so the hash of
    their examples file (plus the label list) names the result; the file is written atomically."""
    digest = hashlib.sha256((dataset_dir / EXAMPLES_FILE).read_bytes())
    digest.update(json.dumps({"v": ZERO_SHOT_CACHE_VERSION, "labels": labels}).encode())
    path = cache_folder / "baselines" / f"zero_shot_{digest.hexdigest()[:32]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = zero_shot_baseline(test_texts, test_labels, labels)
    if result is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(result))
        tmp.replace(path)
    return result
