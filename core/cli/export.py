"""`python -m core export RUN --format hf|adapter|onnx|onnx-int8 --out PATH [--zip] [--json]`

RUN is a finished run's id (its folder, dataset and stored metrics come from the database) or a run folder
(then --dataset names the dataset folder whose test set verifies the export). The export is reloaded in a fresh
process and checked on the test set before it is offered; the exit code is 0 when it is offered, 1 when the check
refused it (the folder is kept for inspection, the reason is printed), 2 when it could not be made at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.jobs.export_runner import RunNotExportableError, export_arguments


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("run_ref", metavar="RUN", help="A finished run's id, or a run folder (with --dataset).")
    # Checked by hand, not with argparse's choices: a wrong format gets one plain sentence and exit code 2.
    parser.add_argument("--format", dest="fmt", required=True, metavar="FORMAT",
                        help="hf, adapter, onnx or onnx-int8.")
    parser.add_argument("--out", required=True, metavar="PATH", help="A new (or empty) folder to write the export to.")
    parser.add_argument("--dataset", metavar="FOLDER",
                        help="With a run folder: the stored dataset folder it was trained on (with examples.csv).")
    parser.add_argument("--zip", action="store_true", help="Also write PATH.zip when the export is offered.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a summary.")


def _run_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """export_run's arguments for RUN: from the run's row for an id, from the flags for a folder."""
    if args.run_ref.isdigit():
        return export_arguments(int(args.run_ref))
    folder = Path(args.run_ref).expanduser()
    if not folder.is_dir():
        raise RunNotExportableError(f"{args.run_ref} is neither a run id nor a run folder; `python -m core runs` lists "
                                 "the runs.")
    if not args.dataset:
        raise RunNotExportableError("With a run folder, give --dataset: the dataset folder it was trained on.")
    return {"run_dir": folder, "dataset_dir": Path(args.dataset).expanduser()}


def main(args: argparse.Namespace) -> int:
    from core.export import ExportError, check_format

    try:
        check_format(args.fmt)
        run_arguments = _run_arguments(args)
        from core.export import export_run, make_zip  # torch and the exporters: only once there is work to do

        result = export_run(fmt=args.fmt, out_dir=Path(args.out).expanduser(), **run_arguments)
    except (ExportError, RunNotExportableError) as error:
        if args.json:
            print(json.dumps({"status": "error", "error": str(error)}))
        print(str(error), file=sys.stderr)
        return 2
    zipped = make_zip(result.path) if args.zip and result.accepted else None
    if args.json:
        print(json.dumps({"status": "offered" if result.accepted else "refused", **result.to_dict(),
                          "zip": str(zipped) if zipped else None}, indent=2))
        return 0 if result.accepted else 1
    print(("Offered: " if result.accepted else "Refused: ") + result.reason)
    for check in result.checks:
        if check.error:
            print(f"  {check.name}: could not be run in a fresh process:\n    " + check.error.replace("\n", "\n    "))
        else:
            print(f"  {check.name}: test accuracy {check.accuracy:.1%} (trained model {result.pytorch_accuracy:.1%}), "
                  f"same top class {check.agreement:.1%}, max probability difference "
                  f"{check.max_probability_difference:.2g}, {check.latency_ms_p50:.1f} ms per input")
    print(f"  {result.model_bytes:,} bytes of weights, {result.size_bytes:,} bytes in {result.path}")
    if zipped:
        print(f"  zip: {zipped}")
    return 0 if result.accepted else 1
