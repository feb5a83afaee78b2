"""Re-evaluating a run stored before validation predictions were kept: the saved model predicts its dataset's
validation split (no retraining), and a temperature is fitted on those predictions as training now does.

The test predictions are not recomputed: the stored ones are what the run is judged on, and they only serve
here to measure on test what the temperature changed (core.evaluation.calibration.calibrate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.evaluation.calibration import Calibration, calibrate, rescale_threshold
from core.evaluation.decision import label_ids
from core.serving.inference import load_predictor
from core.serving.predict_service import predict_batches
from core.training.data import load_splits
from core.training.run import prediction_records


@dataclass(frozen=True)
class Reevaluated:
    validation_predictions: list[dict]  # as training stores them (core.training.run.prediction_records)
    calibration: Calibration
    threshold: float | None  # a saved two-class threshold moved onto the calibrated probabilities


def reevaluate(output_dir: Path, dataset_dir: Path, labels: list[str], test_predictions: pd.DataFrame,
               threshold: float | None) -> Reevaluated:
    """The run's validation predictions and calibration. `test_predictions`: its stored test predictions
    (columns true_label, probabilities); `threshold`: its saved two-class threshold, if any, on the raw
    probabilities it was chosen on — returned on the calibrated ones, so it makes the same decisions."""
    dataset_dir = Path(dataset_dir)
    val = load_splits(dataset_dir, labels)["val"]
    predictor = load_predictor(Path(output_dir))
    inputs = val.inputs if predictor.task == "text" else [dataset_dir / path for path in val.inputs]
    rows = list(predict_batches(predictor, inputs))
    val_probabilities = np.array([[row[label] for label in labels] for row in rows], dtype=float) \
        .reshape(len(rows), len(labels))
    test_probabilities = np.asarray(test_predictions["probabilities"].tolist(), dtype=float) \
        .reshape(len(test_predictions), len(labels))
    calibration = calibrate(val_probabilities, val.labels, test_probabilities,
                            label_ids(test_predictions["true_label"], labels))
    moved = None if threshold is None else rescale_threshold(threshold, calibration.temperature)
    return Reevaluated(prediction_records(val, val_probabilities, labels), calibration, moved)
