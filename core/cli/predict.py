"""`python -m core predict --run RUN_ID (--text TEXT | --image PATH | --file CSV_OR_FOLDER) [--json]`

Loads the run's saved model and prints each input's label and class probabilities. Uses the same model
loading, the same two-class threshold and the same table reading as the Predict page, so both agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.predict_service import IMAGE_SUFFIXES


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    # dest run_id: `args.run` is the dispatcher's callback (core/__main__.py)
    parser.add_argument("--run", dest="run_id", type=int, required=True, metavar="RUN_ID", help="A finished run's id.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="One text to classify (text runs).")
    source.add_argument("--image", metavar="PATH", help="One image file to classify (image runs).")
    source.add_argument("--file", metavar="CSV_OR_FOLDER",
                        help="A CSV of texts (the text column is guessed unless --text-column) or a folder of images.")
    parser.add_argument("--text-column", metavar="C", help="With --file CSV: the column holding the texts.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")


class PredictError(ValueError):
    """Something the user must fix before predicting; the message says what."""


def _inputs(args: argparse.Namespace, task: str) -> tuple[list[Any], list[str]]:
    """(inputs for the model, how each is shown)."""
    from core.predict_service import BatchError, guess_text_column, read_table

    if args.text is not None:
        if task != "text":
            raise PredictError(f"Run {args.run_id} classifies images; give --image or --file with a folder of images.")
        return [args.text], [args.text]
    if args.image is not None:
        if task != "image":
            raise PredictError(f"Run {args.run_id} classifies texts; give --text or --file with a CSV.")
        path = Path(args.image)
        if not path.is_file():
            raise PredictError(f"There is no image at {path}; check the path.")
        return [path], [str(path)]
    path = Path(args.file)
    if path.is_dir():
        if task != "image":
            raise PredictError(f"Run {args.run_id} classifies texts; give a CSV file, not a folder.")
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise PredictError(f"The folder {path} holds no images (jpg, png, bmp, gif, webp or tiff).")
        return files, [str(p.relative_to(path)) for p in files]
    if not path.is_file():
        raise PredictError(f"There is no file or folder at {path}; check the path.")
    if task != "text":
        raise PredictError(f"Run {args.run_id} classifies images; give a folder of images.")
    try:
        frame = read_table(path.name, path.read_bytes())
    except BatchError as error:
        raise PredictError(str(error)) from error
    column = args.text_column or guess_text_column(frame)
    if column not in frame.columns:
        raise PredictError(f"{path.name} has no column '{column}'; its columns are: {', '.join(frame.columns)}.")
    texts = frame[column].astype(str).tolist()
    return texts, texts


def predict_for_run(args: argparse.Namespace) -> dict[str, Any]:
    """{"run_id", "labels", "predictions": [{"input", "label", "probabilities"}]} or raises PredictError."""
    from core.artifacts import missing_model_message, model_files_missing
    from core.catalog import ModelLoadError
    from core.threshold import decide
    from storage.paths import data_home
    from storage.runs import get_run

    run = get_run(args.run_id)
    if run is None:
        raise PredictError(f"There is no run {args.run_id}; `python -m core runs` lists them.")
    if run.status != "succeeded" or not run.artifact_dir:
        raise PredictError(f"Run {args.run_id} is {run.status}, not finished; only a succeeded run can predict.")
    if model_files_missing(data_home() / run.artifact_dir):  # e.g. its folder was deleted by hand
        raise PredictError(missing_model_message(run.id))
    inputs, shown = _inputs(args, run.dataset.task)
    from core.inference import load_predictor  # torch: imported only once there is something to load

    try:
        predictor = load_predictor(data_home() / run.artifact_dir)
    except ModelLoadError as error:
        raise PredictError(str(error)) from error
    labels = predictor.labels
    predictions = []
    for name, probabilities in zip(shown, predictor.predict(inputs)):
        predictions.append({"input": name, "label": decide(probabilities, labels, run.threshold),
                            "probabilities": {label: round(float(probabilities[label]), 6) for label in labels}})
    return {"run_id": run.id, "labels": labels, "threshold": run.threshold, "predictions": predictions}


def main(args: argparse.Namespace) -> int:
    try:
        result = predict_for_run(args)
    except PredictError as error:
        if args.json:
            print(json.dumps({"status": "error", "error": str(error)}))
        print(str(error), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for item in result["predictions"]:
        ranked = sorted(item["probabilities"].items(), key=lambda kv: kv[1], reverse=True)
        shown = item["input"] if len(item["input"]) <= 60 else item["input"][:57] + "..."
        print(f"{shown}\n  -> {item['label']}   " + "  ".join(f"{label} {p:.3f}" for label, p in ranked))
    return 0
