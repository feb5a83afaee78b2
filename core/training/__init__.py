"""The training engine: one call turns a stored dataset and a RunConfig into a trained, evaluated, saved model.

    result = train_run(dataset_dir, labels, task, config, output_dir, reporter, resume=False)

Modules: data (text batches), images (image transforms), presets, device, loop (the optimizer loop),
checkpoint (resume), features (head-only cache), saving (model/ and adapter/), estimate (before launch),
run (the story from data to saved model).
"""

from __future__ import annotations

from core.catalog import ModelLoadError
from core.training.data import TrainingDataError
from core.training.estimate import count_parameters, estimate
from core.training.loop import TrainingCancelled
from core.training.run import TrainResult, train_run

__all__ = ["TrainingDataError", "ModelLoadError", "TrainResult", "TrainingCancelled", "count_parameters", "estimate",
           "train_run"]
