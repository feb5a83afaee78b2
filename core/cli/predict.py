"""`python -m core predict --run RUN_ID (--text TEXT | --image PATH | --file CSV_OR_FOLDER) [--json]`

Loads the run's saved model and prints each input's label and class probabilities. Uses the same model
loading, the same two-class threshold and the same upload reading (core.ingest.unlabeled: the Data page's
limits and messages) as the Predict page, so both agree. Files left out of a --file (not images,
unreadable) are named on stderr and under "warnings" in --json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    # dest run_id: `args.run` is the dispatcher's callback (core/__main__.py)
    parser.add_argument("--run", dest="run_id", type=int, required=True, metavar="RUN_ID", help="A finished run's id.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="One text to classify (text runs).")
    source.add_argument("--image", metavar="PATH", help="One image file to classify (image runs).")
    source.add_argument("--file", metavar="CSV_OR_FOLDER",
                        help="A CSV / TSV / Excel table of texts (the text column is guessed unless --text-column), "
                        "or a folder or zip of images.")
    parser.add_argument("--text-column", metavar="C", help="With --file CSV: the column holding the texts.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")


class PredictError(ValueError):
    """Something the user must fix before predicting; the message says what."""


@dataclass
class Inputs:
    items: list[Any]  # texts, image paths, or uploaded image files (with `load`)
    shown: list[str]  # how each item is printed
    load: Callable[[Any], Any] | None = None  # item -> model input, a batch at a time (core.serving.predict_service)
    warnings: list[str] = field(default_factory=list)  # what was left out of a --file and why, in plain words


def _inputs(args: argparse.Namespace, task: str) -> Inputs:
    if args.text is not None:
        if task != "text":
            raise PredictError(f"Run {args.run_id} classifies images; give --image or --file with a folder of images.")
        return Inputs([args.text], [args.text])
    if args.image is not None:
        if task != "image":
            raise PredictError(f"Run {args.run_id} classifies texts; give --text or --file with a CSV.")
        path = Path(args.image)
        if not path.exists():
            raise PredictError(f"There is no image at {path}; check the path.")
        if not path.is_file():  # a device or a FIFO would be read forever, or wait for a writer
            raise PredictError(f"{path} is not a regular file (it is a folder, a device or a pipe); give an image file.")
        return Inputs([path], [str(path)])
    return _file_inputs(args, task)


def _file_inputs(args: argparse.Namespace, task: str) -> Inputs:
    """--file through the Predict page's reader (core.ingest.unlabeled), with its limits and messages."""
    from core.ingest import DataError
    from core.ingest.unlabeled import ImageFiles, read_path

    path = Path(args.file).expanduser()
    if not path.exists():
        raise PredictError(f"There is no file or folder at {path}; check the path.")
    if path.is_dir() and task != "image":
        raise PredictError(f"Run {args.run_id} classifies texts; give a CSV file, not a folder.")
    try:
        read = read_path(path, task)
    except DataError as error:
        raise PredictError(error.message) from error
    warnings = [f.message for f in read.report.findings if f.severity != "info"]
    if isinstance(read, ImageFiles):
        return Inputs(read.entries, read.names, read.load, warnings)
    column = args.text_column or read.text_column
    if column not in read.frame.columns:
        raise PredictError(f"{path.name} has no column '{column}'; its columns are: {', '.join(read.frame.columns)}.")
    texts = read.frame[column].tolist()
    return Inputs(texts, texts, warnings=warnings)


def predict_for_run(args: argparse.Namespace) -> dict[str, Any]:
    """{"run_id", "labels", "predictions": [{"input", "label", "probabilities"}]} or raises PredictError."""
    from core.artifacts import missing_model_message, model_files_missing
    from core.catalog import ModelLoadError
    from core.evaluation.decision import DecisionRule
    from storage.paths import data_home
    from storage.runs import get_run

    run = get_run(args.run_id)
    if run is None:
        raise PredictError(f"There is no run {args.run_id}; `python -m core runs` lists them.")
    if run.status != "succeeded" or not run.artifact_dir:
        raise PredictError(f"Run {args.run_id} is {run.status}, not finished; only a succeeded run can predict.")
    if model_files_missing(data_home() / run.artifact_dir):  # e.g. its folder was deleted by hand
        raise PredictError(missing_model_message(run.id))
    inputs = _inputs(args, run.dataset.task)
    from core.serving.inference import load_predictor  # torch: imported only once there is something to load
    from core.serving.predict_service import predict_batches

    try:
        predictor = load_predictor(data_home() / run.artifact_dir)
    except ModelLoadError as error:
        raise PredictError(str(error)) from error
    labels = predictor.labels
    rule = DecisionRule.of_run(run)  # calibrated, the saved threshold, uncertain below the operating point
    predictions = []
    for name, probabilities in zip(inputs.shown, predict_batches(predictor, inputs.items, inputs.load)):
        label, confidence, uncertain, calibrated = rule.decide_one(probabilities)
        predictions.append({"input": name, "label": label, "confidence": round(confidence, 6), "uncertain": uncertain,
                            "probabilities": {label: round(p, 6) for label, p in calibrated.items()}})
    return {"run_id": run.id, "labels": labels, "threshold": run.threshold, "min_confidence": run.min_confidence,
            "temperature": rule.temperature, "predictions": predictions, "warnings": inputs.warnings}


def main(args: argparse.Namespace) -> int:
    try:
        result = predict_for_run(args)
    except PredictError as error:
        if args.json:
            print(json.dumps({"status": "error", "error": str(error)}))
        print(str(error), file=sys.stderr)
        return 2
    for warning in result["warnings"]:  # e.g. the unreadable images, by name, that were left out
        print(warning, file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for item in result["predictions"]:
        ranked = sorted(item["probabilities"].items(), key=lambda kv: kv[1], reverse=True)
        shown = item["input"] if len(item["input"]) <= 60 else item["input"][:57] + "..."
        print(f"{shown}\n  -> {item['label']}   " + "  ".join(f"{label} {p:.3f}" for label, p in ranked))
    return 0
