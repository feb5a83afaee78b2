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
from core.cli.output import fail
from core.methods import METHODS, get_method, settings_for
from core.run_config import BOOL, CHOICE, INT, RunConfig, out_of_bounds, setting_fields
from core.training.presets import PRESETS

class SettingsError(ValueError):
    """Flags that cannot make a run: one plain sentence, and a stable `code` for --json."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bounded(kind: type, name: str):
    """An argparse type that parses a number and refuses it, in plain words, outside the setting's bounds."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        problem = out_of_bounds(name, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return parse


def add_setting_arguments(group) -> None:
    """One flag per RunConfig setting, built from the field's metadata (kind, bounds, help). Every flag
    defaults to None, meaning "not given": the RunConfig default or the preset decides."""
    for setting in setting_fields():
        meta = setting.metadata
        names = [_flag(setting.name), *meta.get("flags", ())]
        if meta["kind"] == BOOL:
            group.add_argument(*names, dest=setting.name, action=argparse.BooleanOptionalAction, help=meta["help"])
        elif meta["kind"] == CHOICE:
            group.add_argument(*names, dest=setting.name, choices=meta["choices"], help=meta["help"])
        else:
            kind = int if meta["kind"] == INT else float
            group.add_argument(*names, dest=setting.name, type=_bounded(kind, setting.name),
                               metavar=meta["kind"].upper(), help=meta["help"])


UPLOAD_HELP = "A CSV/TSV/XLSX of texts and labels, a folder of class subfolders of images, or a zip."


def add_upload_arguments(data: argparse._ArgumentGroup) -> None:
    """How an upload given with --data is read: train and search take the same."""
    data.add_argument("--test-data", metavar="PATH", help="A separate test set (otherwise a fixed split is made).")
    data.add_argument("--text-column", metavar="C", help="The column holding the text (guessed when left out).")
    data.add_argument("--label-column", metavar="C", help="The column holding the label (guessed when left out).")
    data.add_argument("--name", help="A name for the dataset (default: the file or folder name).")


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="PATH",
                      help=UPLOAD_HELP + " With --from-run: the new rows, stored as a new version of that run's "
                      "dataset (rows already in it are kept as stored).")
    data.add_argument("--dataset", type=int, metavar="ID",
                      help="A stored dataset (or version) id to train on, instead of --data.")
    add_upload_arguments(data)
    model = parser.add_argument_group("model and training")
    model.add_argument("--model", metavar="KEY|HF_ID|DIR",
                       help="Catalog key, Hugging Face id or local folder (default: the offline model for the task).")
    model.add_argument("--method", choices=list(METHODS), help=RunConfig.help("method") + f" (default: {RunConfig.method}"
                       "; with --from-run, the run's)")
    model.add_argument("--preset", choices=PRESETS, help=RunConfig.help("preset") + f" (default: {RunConfig.preset}; "
                       "with --from-run, the run's)")
    add_setting_arguments(parser.add_argument_group("settings (empty: the preset or the default decides)"))
    more = parser.add_argument_group("continue training (a finished run's model learns a newer version)")
    more.add_argument("--from-run", type=int, metavar="RUN_ID", help=RunConfig.help("from_run") + " Its method, model "
                      "and settings are kept unless given; the results compare it before and after on the same rows.")
    more.add_argument("--replay", type=float, metavar="SHARE", help=RunConfig.help("replay"))
    more.add_argument("--note", default="", help="With --from-run --data: a note saying what the new version holds.")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="Print one JSON object (stdout) instead of a summary.")
    output.add_argument("--background", action="store_true",
                        help="Queue the run for a background worker and print its id at once.")
    output.add_argument("--resume-automatically", action="store_true",
                        help="With --background: if its worker dies or stops, any worker resumes the run from its last "
                             "checkpoint instead of leaving it interrupted.")


def run_config(args: argparse.Namespace, task: str) -> RunConfig:
    """The RunConfig the flags describe. Raises SettingsError for a method that does not apply to the task, or a
    setting given that this task or method does not read."""
    method = get_method(args.method or RunConfig.method)
    if not method.applies_to(task):
        raise SettingsError(f"{method.name} works on {' and '.join(method.tasks)} data only; pick another --method "
                            f"for this {task} dataset.", "method_task")
    given = {f.name: getattr(args, f.name) for f in setting_fields() if getattr(args, f.name) is not None}
    applying = {f.name for f in settings_for(task, method)}
    ignored = [_flag(name) for name in given if name not in applying]
    if ignored:
        raise SettingsError(f"{', '.join(ignored)} do{'es' if len(ignored) == 1 else ''} not apply to {method.name} "
                            f"on {task} data; leave {'it' if len(ignored) == 1 else 'them'} out.", "setting_method")
    return RunConfig(model=args.model or DEFAULT_MODELS[task], method=method.key, preset=args.preset or RunConfig.preset,
                     **given)


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
    if metrics.get("continual"):
        out["continual"] = metrics["continual"]
    out["dataset"] = {"id": run.dataset_id, "version": run.dataset.version if run.dataset else None}
    if run.error:
        out["error"] = run.error
    return out


def main(args: argparse.Namespace) -> int:
    from core.datasets.store import register_path
    from core.ingest import DataError
    from core.jobs.submit import queue_run
    from storage.datasets import get_dataset
    from storage.workers import alive_workers

    # 1) the dataset (a stored one is reused when the same content and choices were registered before)
    if (args.data is None) == (args.dataset is None):
        return fail("Give the data to train on: --data PATH (a file or folder) or --dataset ID (a stored one).",
                     args.json, "no_data")
    if args.replay is not None and args.from_run is None:
        return fail("--replay only applies when continuing a run; add --from-run RUN_ID or leave it out.",
                     args.json, "setting_method")
    if args.replay is not None and not 0.0 <= args.replay <= 1.0:
        return fail(f"Replay is a share between 0 and 1; {args.replay:g} is not.", args.json, "out_of_bounds")
    try:
        if args.from_run is not None:
            from core.cli.continued import continued_dataset

            dataset_id = continued_dataset(args)
        elif args.dataset is not None:
            if get_dataset(args.dataset) is None:
                return fail(f"There is no dataset {args.dataset}; `python -m core runs` lists runs and their "
                             "datasets.", args.json, "not_found")
            dataset_id = args.dataset
        else:
            dataset_id = register_path(args.data, text_column=args.text_column, label_column=args.label_column,
                                       test_path=args.test_data, name=args.name)
    except DataError as error:
        return fail(str(error), args.json, error.code)
    except SettingsError as error:
        return fail(str(error), args.json, error.code)
    except FileNotFoundError:
        return fail(f"There is no file or folder at {args.data}; check the path.", args.json, "not_found")
    dataset = get_dataset(dataset_id)
    # 2) the settings, checked before anything is queued
    try:
        if args.from_run is not None:
            from core.cli.continued import continued_run_config

            config = continued_run_config(args, dataset)
        else:
            config = run_config(args, dataset.task)
    except SettingsError as error:
        return fail(str(error), args.json, error.code)
    name = f"{config.method} · {config.model}" + (f" · from run {config.from_run}" if config.from_run else "")
    # 3a) queue it
    if args.background:
        run_id = queue_run(dataset, config, name, auto_resume=args.resume_automatically)
        print(json.dumps({"run_id": run_id, "status": "queued"}) if args.json else run_id)
        if not alive_workers():
            print("No worker is running yet: start one with `python -m core worker` (or open the dashboard).",
                  file=sys.stderr)
        return 0
    # 3b) or train it here
    return _train_here(dataset, config, name, args.json)


def _train_here(dataset, config: RunConfig, name: str, as_json: bool) -> int:
    from core.jobs.runner import execute_run
    from core.jobs.submit import start_run_here
    from storage import run_queue
    from storage.paths import run_files
    from storage.processes import process_identity
    from storage.runs import get_run

    worker_id = process_identity()
    run_id = start_run_here(dataset, config, name, worker_id)
    print(f"Run {run_id}: {config.method} on {config.model}, dataset '{dataset.name}' (log: {run_files(run_id).log})",
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
        if result.get("continual"):
            from core.cli.continued import describe

            print(describe(result["continual"]))
    else:
        print(f"Run {run_id} {run.status}: {run.error}")
    return 0 if run.status == "succeeded" else 1
