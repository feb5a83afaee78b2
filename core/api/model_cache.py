"""Loaded models, kept for the next request: least recently used out past `max_models` or `max_bytes`.

A run's entry is keyed by its id and where and when its model was saved, so a run deleted and a new one given the
same id is loaded afresh. Memory is counted as the model's parameters and buffers (what a loaded model holds; the
tokenizer is small beside it). The newest model is always kept, even alone past `max_bytes`: it is the one asked for.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
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
    return sum(t.numel() * t.element_size() for t in chain(model.parameters(), model.buffers()))


def _load_predictor(output_dir: Path) -> Predictor:
    from core.serving.inference import load_predictor

    return load_predictor(output_dir)


@dataclass
class _Entry:
    stamp: Hashable
    predictor: Predictor
    size: int


class ModelCache:
    def __init__(self, max_models: int = MAX_MODELS, max_bytes: int = MAX_MODEL_BYTES,
                 load: Callable[[Path], Predictor] | None = None) -> None:
        self.max_models, self.max_bytes, self.load = max(1, max_models), max_bytes, load or _load_predictor
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # guards _entries; never held while a model loads
        self._loading: dict[int, threading.Lock] = {}  # one per run: two requests for a cold model load it once

    def get(self, run_id: int, stamp: Hashable, output_dir: Path) -> Predictor:
        with self._lock:
            if (hit := self._hit(run_id, stamp)) is not None:
                return hit
            loading = self._loading.setdefault(run_id, threading.Lock())
        with loading:
            with self._lock:
                if (hit := self._hit(run_id, stamp)) is not None:  # loaded by the request we waited for
                    return hit
            predictor = self.load(Path(output_dir))
            with self._lock:
                self._entries.pop(run_id, None)
                self._entries[run_id] = _Entry(stamp, predictor, model_bytes(predictor))
                self._evict()
            return predictor

    def _hit(self, run_id: int, stamp: Hashable) -> Predictor | None:
        entry = self._entries.get(run_id)
        if entry is None or entry.stamp != stamp:
            return None
        self._entries.move_to_end(run_id)
        return entry.predictor

    def _evict(self) -> None:
        while len(self._entries) > 1 and (len(self._entries) > self.max_models or self.total_bytes > self.max_bytes):
            self._entries.popitem(last=False)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def loaded(self) -> list[int]:
        """Run ids held, least recently used first."""
        with self._lock:
            return list(self._entries)
