"""`python -m core search --data PATH --method M --budget MINUTES` — find good settings within a time budget.

The dataset is registered as `train` registers it, and a search is queued (core.search); its trials are runs that
the workers train. Without --background the command waits for the search to end, printing each trial as it ends,
and starts a worker for that time when none is running (stopped again at the end); with --background it prints the
search's id at once. Either way the search lives in the database: Ctrl-C, a closed terminal or a restarted
worker do not lose it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

from core.catalog import DEFAULT_MODELS
from core.cli.output import fail
from core.cli.train import UPLOAD_HELP, add_upload_arguments
from core.methods import METHODS

POLL_SECONDS = 2.0


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, metavar="PATH", help=UPLOAD_HELP)
    add_upload_arguments(data)
    search = parser.add_argument_group("search")
    search.add_argument("--model", metavar="KEY|HF_ID|DIR",
                        help="Catalog key, Hugging Face id or local folder (default: the offline model for the task).")
    search.add_argument("--method", choices=list(METHODS), default="lora",
                        help="The tuning method whose settings are searched (each method says which, and their ranges).")
    search.add_argument("--budget", type=float, required=True, metavar="MINUTES",
                        help="Time for the whole search: no trial starts that its estimate says cannot finish in it.")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="Print one JSON object (stdout) at the end.")
    output.add_argument("--background", action="store_true",
                        help="Queue the search for the background workers and print its id at once.")


def main(args: argparse.Namespace) -> int:
    from core.datasets.store import register_path
    from core.ingest import DataError
    from core.search import SearchError, start_search
    from storage.datasets import get_dataset

    try:
        dataset_id = register_path(args.data, text_column=args.text_column, label_column=args.label_column,
                                   test_path=args.test_data, name=args.name)
    except DataError as error:
        return fail(str(error), args.json, error.code)
    except FileNotFoundError:
        return fail(f"There is no file or folder at {args.data}; check the path.", args.json, "not_found")
    dataset = get_dataset(dataset_id)
    try:
        search_id = start_search(dataset, args.model or DEFAULT_MODELS[dataset.task], args.method, args.budget)
    except SearchError as error:
        return fail(str(error), args.json, error.code)
    except ValueError as error:  # an unknown method
        return fail(str(error), args.json, "settings")
    if args.background:
        from storage.workers import alive_workers

        print(json.dumps({"search_id": search_id, "status": "running"}) if args.json else search_id)
        if not alive_workers():
            print("No worker is running yet: start one with `python -m core worker` (or open the dashboard).",
                  file=sys.stderr)
        return 0
    return wait_for(search_id, args.json)


def wait_for(search_id: int, as_json: bool) -> int:
    """Follow the search to its end (starting a worker for it when none runs), then print its pick."""
    from core.jobs.worker import PROJECT_ROOT
    from storage.models import SEARCH_RUNNING
    from storage.searches import get_search, request_stop
    from storage.workers import alive_workers

    worker = None
    if not alive_workers():
        worker = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL)
    print(f"Search {search_id}: started; its trials are runs (`python -m core runs`).", file=sys.stderr)
    shown: set[int] = set()
    try:
        while True:
            search = get_search(search_id)
            for trial in (search.summary or {}).get("trials", []):
                if trial["state"] in ("complete", "pruned", "failed", "skipped") and trial["number"] not in shown:
                    shown.add(trial["number"])
                    print(trial_line(trial), file=sys.stderr)
            if search.status != SEARCH_RUNNING:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        request_stop(search_id)
        print(f"Search {search_id}: stop requested; the trials in progress are cancelled.", file=sys.stderr)
        return 130
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait()
    search = get_search(search_id)
    result = search_json(search)
    print(json.dumps(result, indent=2) if as_json else summary_text(search))
    return 0 if search.best_run_id is not None else 1


def trial_line(trial: dict) -> str:
    settings = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial["params"].items())
    if trial["state"] == "complete":
        outcome = f"validation macro-F1 {trial['value']:.4f}"
    elif trial["state"] == "pruned" and trial.get("pruned") == "budget":
        outcome = f"stopped: at its pace it could not finish in the budget ({trial['seconds'] / 60:.0f} min in)"
    elif trial["state"] == "pruned":
        outcome = f"pruned after epoch {max(map(int, trial['curve']), default=0)}"
    elif trial["state"] == "skipped":
        outcome = f"skipped ({trial['note']})"
    else:
        outcome = f"failed{': ' + trial['note'] if trial['note'] else ''}"
    return f"  trial {trial['number']}: {outcome} ({settings})"


def search_json(search) -> dict:
    summary = search.summary or {}
    return {"search_id": search.id, "status": search.status, "message": search.message, "error": search.error,
            "budget_seconds": search.budget_seconds, "spent_seconds": search.spent_seconds,
            "best_run_id": search.best_run_id, "best": summary.get("best"), "pruning": summary.get("pruning"),
            "importances": (summary.get("importances") or {}).get("values", {}), "trials": summary.get("trials", [])}


def summary_text(search) -> str:
    summary = search.summary or {}
    best = summary.get("best")
    lines = [f"Search {search.id} {search.status}: {search.message}"]
    if best:
        lines.append(f"Best settings (run #{best['run_id']}): " + ", ".join(f"{k}={v}" for k, v in best["params"].items()))
        if best.get("test_macro_f1") is not None:
            lines.append(f"Validation macro-F1 {best['value']:.4f}; on the test set: accuracy "
                         f"{best['test_accuracy']:.4f}, macro-F1 {best['test_macro_f1']:.4f}.")
    pruning = summary.get("pruning") or {}
    if pruning.get("pruned"):
        lines.append(f"Pruning stopped {pruning['pruned']} trial(s) early and saved about "
                     f"{pruning['saved_seconds'] / 60:.1f} min ({100 * pruning['share_of_budget']:.0f}% of the budget).")
    return "\n".join(lines)
