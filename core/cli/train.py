"""`python -m core train --data PATH [...]` — register a dataset, record a run, and train it here or queue it.

Without --background the run trains in this process (the CLI acts as the run's worker, so no background
worker can take it) and, with --json, one JSON object with the test results is printed on stdout.
With --background the run is queued for `python -m core worker` and its id is printed at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.catalog import DEFAULT_MODELS
from core.methods import METHODS, get_method
from core.run_config import RunConfig

PRESET_CHOICES = ("quick", "balanced", "best")


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, metavar="PATH",
                      help="A CSV/TSV/XLSX of texts and labels, a folder of class subfolders of images, or a zip.")
    data.add_argument("--test-data", metavar="PATH", help="A separate test set (otherwise a fixed split is made).")
    data.add_argument("--text-column", metavar="C", help="The column holding the text (guessed when left out).")
    data.add_argument("--label-column", metavar="C", help="The column holding the label (guessed when left out).")
    data.add_argument("--name", help="A name for the dataset (default: the file or folder name).")
    model = parser.add_argument_group("model and training")
    model.add_argument("--model", metavar="KEY|HF_ID|DIR",
                       help="Catalog key, Hugging Face id or local folder (default: the offline model for the task).")
    model.add_argument("--method", choices=list(METHODS), default="lora", help=RunConfig.help("method"))
    model.add_argument("--preset", choices=PRESET_CHOICES, default="quick", help=RunConfig.help("preset"))
    model.add_argument("--epochs", type=int, help=RunConfig.help("epochs"))
    model.add_argument("--lr", type=float, dest="learning_rate", help=RunConfig.help("learning_rate"))
    model.add_argument("--batch-size", type=int, help=RunConfig.help("batch_size"))
    model.add_argument("--max-length", type=int, help=RunConfig.help("max_length"))
    model.add_argument("--seed", type=int, default=42, help=RunConfig.help("seed"))
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="Print one JSON object (stdout) instead of a summary.")
    output.add_argument("--background", action="store_true",
                        help="Queue the run for a background worker and print its id at once.")


def run_config(args: argparse.Namespace, task: str) -> RunConfig:
    return RunConfig(
        model=args.model or DEFAULT_MODELS[task], method=args.method, preset=args.preset,
        learning_rate=args.learning_rate, epochs=args.epochs, batch_size=args.batch_size,
        max_length=args.max_length, seed=args.seed,
    )


def result_json(run) -> dict[str, Any]:
    """The run as issue 3 specifies the CLI's JSON: status, test metrics, confusion matrix, baselines, costs."""
    metrics = run.metrics or {}
    out: dict[str, Any] = {
        "run_id": run.id, "status": run.status,
        "metrics": {"accuracy": metrics.get("accuracy"), "macro_f1": metrics.get("macro_f1"),
                    "per_class": metrics.get("per_class", {})},
        "confusion_matrix": metrics.get("confusion_matrix", {"labels": [], "matrix": []}),
        "baselines": metrics.get("baselines", {}),
        "train_seconds": run.train_seconds, "train_samples_per_second": run.samples_per_second,
        "trainable_params": run.trainable_params, "total_params": run.total_params, "device": run.device,
        "training": run.training or {},
    }
    if run.error:
        out["error"] = run.error
    return out


def _fail(message: str, as_json: bool, code: str) -> int:
    if as_json:
        print(json.dumps({"status": "error", "code": code, "error": message}))
    print(message, file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    from core.datasets import register_path
    from core.ingest import DataError
    from storage.datasets import get_dataset
    from storage.run_requests import enqueue
    from storage.workers import alive_workers

    # 1) the dataset (a stored one is reused when the same content and choices were registered before)
    try:
        dataset_id = register_path(args.data, text_column=args.text_column, label_column=args.label_column,
                                   test_path=args.test_data, name=args.name)
    except DataError as error:
        return _fail(str(error), args.json, error.code)
    except FileNotFoundError:
        return _fail(f"There is no file or folder at {args.data}; check the path.", args.json, "not_found")
    dataset = get_dataset(dataset_id)
    # 2) the settings, checked before anything is queued
    config = run_config(args, dataset.task)
    if dataset.task not in get_method(config.method).tasks:
        return _fail(f"{get_method(config.method).name} works on {' and '.join(get_method(config.method).tasks)} "
                     f"data only; pick another --method for this {dataset.task} dataset.", args.json, "method_task")
    name = f"{config.method} · {config.model}"
    # 3a) queue it
    if args.background:
        run_id = enqueue(dataset_id, config.to_dict(), name=name)
        print(json.dumps({"run_id": run_id, "status": "queued"}) if args.json else run_id)
        if not alive_workers():
            print("No worker is running yet: start one with `python -m core worker` (or open the dashboard).",
                  file=sys.stderr)
        return 0
    # 3b) or train it here
    return _train_here(dataset_id, dataset.name, config, name, args.json)


def _train_here(dataset_id: int, dataset_name: str, config: RunConfig, name: str, as_json: bool) -> int:
    from core.runner import execute_run
    from storage import run_queue
    from storage.paths import run_files
    from storage.processes import process_identity
    from storage.run_requests import enqueue_claimed
    from storage.runs import get_run

    worker_id = process_identity()
    run_id = enqueue_claimed(dataset_id, config.to_dict(), worker_id, name=name)
    print(f"Run {run_id}: {config.method} on {config.model}, dataset '{dataset_name}' (log: {run_files(run_id).log})",
          file=sys.stderr)
    try:
        execute_run(run_id, worker_id, echo=lambda line: print(line, file=sys.stderr), heartbeat_seconds=5.0)
    except KeyboardInterrupt:
        run_queue.mark_cancelled(run_id, worker_id)
        print(f"Run {run_id} cancelled.", file=sys.stderr)
        return 130
    run = get_run(run_id)
    result = result_json(run)
    if as_json:
        print(json.dumps(result, indent=2))
    elif run.status == "succeeded":
        print(f"Run {run_id} succeeded: test accuracy {result['metrics']['accuracy']:.4f}, "
              f"macro-F1 {result['metrics']['macro_f1']:.4f}, {run.train_seconds:.1f} s on {run.device}.")
    else:
        print(f"Run {run_id} {run.status}: {run.error}")
    return 0 if run.status == "succeeded" else 1
