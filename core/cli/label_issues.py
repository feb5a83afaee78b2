"""`python -m core label-issues --data FILE [--top N] [--json]` — the rows whose label the model most doubts.

The file is registered as `train` registers it (a stored copy is reused), then core.training.data_review ranks the
likely label errors: out-of-fold probabilities of the head-only model (5 folds over every kept row), confident
learning. Each row names its place in the file: `row` (1 = the first data row, the header not counted) for a table,
`file` for an image. Test rows that are near-copies of training rows follow with --near-copies.
Errors are one plain sentence on stderr and exit code 2, as `train`'s.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from core.cli.output import fail

DEFAULT_TOP = 100


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--data", required=True, metavar="FILE",
                        help="A CSV/TSV/XLSX of texts and labels, a folder of class subfolders of images, or a zip.")
    parser.add_argument("--text-column", metavar="C", help="The column holding the text (guessed when left out).")
    parser.add_argument("--label-column", metavar="C", help="The column holding the label (guessed when left out).")
    parser.add_argument("--model", metavar="KEY|HF_ID|DIR",
                        help="Catalog key, Hugging Face id or local folder (default: the offline model for the task).")
    parser.add_argument("--top", type=_positive, default=DEFAULT_TOP, metavar="N",
                        help=f"How many of the most doubted rows to print (default {DEFAULT_TOP}).")
    parser.add_argument("--near-copies", action="store_true",
                        help="Also list test rows that are near-copies of training rows.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object (stdout) instead of a table.")


def data_rows(path: Path) -> dict[str, int]:
    """A table file's sources ("line 12", "row 12") -> its data row number (1 = the first row under the header).
    Ingestion names a row by the line it starts on; a quoted cell may span lines, so the two can differ."""
    from core.ingest.columns import read_named_rows
    from core.ingest.limits import DEFAULT_LIMITS
    from core.ingest.report import Report

    named = read_named_rows(path.name, path.read_bytes(), Report(), DEFAULT_LIMITS)
    return {str(line): number for number, line in enumerate(named.line_numbers, start=1)}


def _place(source: str, rows: dict[str, int] | None) -> dict:
    match = re.fullmatch(r"(?:line|row) (\d+)", source)
    if rows is not None and match and match.group(1) in rows:
        return {"row": rows[match.group(1)]}
    return {"file": source}


def main(args: argparse.Namespace) -> int:
    from core.datasets.store import dataset_dir, register_path
    from core.ingest import DataError
    from storage.datasets import get_dataset

    path = Path(args.data).expanduser()
    try:
        dataset = get_dataset(register_path(path, text_column=args.text_column, label_column=args.label_column))
        rows = data_rows(path) if path.is_file() and dataset.task == "text" else None
    except DataError as error:
        return fail(str(error), args.json, error.code)
    except FileNotFoundError:
        return fail(f"There is no file or folder at {args.data}; check the path.", args.json, "not_found")
    from core.training.data_review import review_dataset  # torch: after the data is known to be good

    review = review_dataset(dataset_dir(dataset), dataset.labels, dataset.task, args.model)
    issues = [{**_place(i.source, rows), "split": i.split, "given": i.given, "suggested": i.suggested,
               "score": i.score, "input": i.input} for i in review.issues[:args.top]]
    out = {"dataset_id": dataset.id, "model": review.model, "examples": review.examples,
           "flagged": len(review.issues), "seconds": review.seconds, "issues": issues}
    if args.near_copies:
        out["near_copy_threshold"] = review.threshold
        out["near_copies"] = [{"test": _place(c.test_source, rows), "train": _place(c.train_source, rows),
                               "similarity": c.similarity, "test_input": c.test_input, "train_input": c.train_input}
                              for c in review.near_copies]
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(review.issues)} of {review.examples} rows have a label the model doubts "
          f"({review.seconds:.1f} s); the {len(issues)} most doubted:", file=sys.stderr)
    for i in issues:
        place = f"row {i['row']}" if "row" in i else i["file"]
        print(f"{place}\t{i['split']}\t{i['given']} -> {i['suggested']}\t{i['score']:.3f}\t{i['input'][:80]}")
    return 0
