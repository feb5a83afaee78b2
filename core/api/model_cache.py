"""Loaded models, kept for the next request: least recently used out past `max_models` or `max_bytes`.

An entry is keyed by the run and the backend serving it (the PyTorch model, or its onnx-int8 export), and stamped
with where and when its model was saved, so a run deleted and a new one given the same id is loaded afresh. Memory
is counted as the model's parameters and buffers (what a loaded model holds; the tokenizer is small beside it), or
for an ONNX model the size of its file. The newest model is always kept, even alone past `max_bytes`: it is the one asked for.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.serving.inference import Predictor


GB = 1024 ** 3
MAX_MODELS = 4
MAX_MODEL_BYTES = 4 * GB


def model_bytes(predictor: Any) -> int:
    """Bytes of a loaded model's weights and buffers (0 for anything that is not a torch model)."""
    model = getattr(predictor, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return 0
    held = getattr(model, "held_bytes", 0)  # core.export.onnx_predictor.OnnxLogits: weights outside torch
    return held + sum(t.numel() * t.element_size() for t in chain(model.parameters(), model.buffers()))


@dataclass
class _Entry:
    stamp: Hashable
    predictor: Predictor
    size: int


class ModelCache:
    def __init__(self, max_models: int = MAX_MODELS, max_bytes: int = MAX_MODEL_BYTES) -> None:
        self.max_models, self.max_bytes = max(1, max_models), max_bytes
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # guards _entries; never held while a model loads
        self._loading: dict[Hashable, threading.Lock] = {}  # one per key: two requests for a cold model load it once

    def get(self, key: Hashable, stamp: Hashable, load: Callable[[], Predictor]) -> Predictor:
        """The model held under `key` if its stamp matches, else `load()`'s, kept for the next request."""
        with self._lock:
            if (hit := self._hit(key, stamp)) is not None:
                return hit
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if (hit := self._hit(key, stamp)) is not None:  # loaded by the request we waited for
                    return hit
            predictor = load()
            with self._lock:
                self._entries.pop(key, None)
                self._entries[key] = _Entry(stamp, predictor, model_bytes(predictor))
                self._evict()
            return predictor

    def _hit(self, key: Hashable, stamp: Hashable) -> Predictor | None:
        entry = self._entries.get(key)
        if entry is None or entry.stamp != stamp:
            return None
        self._entries.move_to_end(key)
        return entry.predictor

    def _evict(self) -> None:
        while len(self._entries) > 1 and (len(self._entries) > self.max_models or self.total_bytes > self.max_bytes):
            self._entries.popitem(last=False)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def loaded(self) -> list[Hashable]:
        """Keys held, least recently used first."""
        with self._lock:
            return list(self._entries)
