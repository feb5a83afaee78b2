"""The training engine: one call turns a stored dataset and a RunConfig into a trained, evaluated, saved model.

    result = train_run(dataset_dir, labels, task, config, output_dir, reporter, resume=False)

Modules: data (the stored splits), presets, device, loop (the optimizer loop),
checkpoint (resume), features (head-only cache), saving (model/ and adapter/), estimate (before launch),
run (the story from data to saved model).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.catalog import ModelLoadError
    from core.training.data import TrainingDataError
    from core.training.loop import TrainingCancelled
    from core.training.run import TrainResult, train_run

# (estimate and count_parameters come from core.training.estimate itself: a package attribute named `estimate`
# would be the submodule once it is imported.) Resolved on first use: a training process and the worker import core.training.progress, which must not cost
# them the seconds of torch, transformers and peft imports that train_run needs.
_HOMES = {"ModelLoadError": "core.catalog", "TrainingDataError": "core.training.data",
          "TrainingCancelled": "core.training.loop", "TrainResult": "core.training.run", "train_run": "core.training.run"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'core.training' has no attribute {name!r}")
