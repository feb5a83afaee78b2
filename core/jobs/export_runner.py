"""Building one queued export in the background: `python -m core.jobs.export_runner EXPORT_ID --worker-id W`.

The worker starts this child for an export it claimed (storage.export_queue), as it starts core.jobs.runner for a
run: the page's thread never writes, quantizes or checks a model. The child stores each step on the export's row,
and at the end whether the export is offered (with its zip) or refused, or why it could not be made. Its output
goes to the export's own log (runs/<run>/exports/<export>/export.log).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Any

from core.artifacts import missing_model_message, model_files_missing
from storage.export_queue import export_folder, fail_export, finish_export, get_export, report_export
from storage.models import OFFERED, REFUSED, SUCCEEDED
from storage.paths import data_home
from storage.runs import get_run

EXPORT_LOG = "export.log"
log = logging.getLogger("tuneboard.export")


class RunNotExportableError(ValueError):
    """The run cannot be exported (missing, unfinished or without its files); the message says what to do."""


def export_arguments(run_id: int) -> dict[str, Any]:
    """core.export.export_run's arguments for a finished run, from its row: its folder, dataset and the numbers
    the model card quotes."""
    run = get_run(run_id)
    if run is None:
        raise RunNotExportableError(f"There is no run {run_id}; `python -m core runs` lists them.")
    if run.status != SUCCEEDED or not run.artifact_dir:
        raise RunNotExportableError(f"Run {run.id} is {run.status}, not finished; only a succeeded run can be exported.")
    if model_files_missing(data_home() / run.artifact_dir):
        raise RunNotExportableError(missing_model_message(run.id))
    return {"run_dir": data_home() / run.artifact_dir, "dataset_dir": data_home() / run.dataset.path,
            "dataset_name": run.dataset.name, "run_metrics": run.metrics or None, "threshold": run.threshold,
            "temperature": float((run.calibration or {}).get("temperature") or 1.0),
            "min_confidence": run.min_confidence, "training": run.training or None}


def export_name(run_id: int, fmt: str) -> str:
    """The export folder's (and zip's) name: what a user sees in their downloads."""
    return f"tuneboard-run-{run_id}-{fmt}"


def build_export(export_id: int, worker_id: str) -> int:
    """Build, verify and record one export; 0 when its outcome (offered, refused or a plain failure) is stored."""
    from core.export import ExportError, export_run, make_zip  # torch and the exporters: the child's own work

    job = get_export(export_id)
    if job is None:
        return 0  # its run was deleted meanwhile
    try:
        arguments = export_arguments(job.run_id)
        out_dir = export_folder(job.run_id, job.id) / export_name(job.run_id, job.format)
        result = export_run(fmt=job.format, out_dir=out_dir,
                            progress=lambda step: _step(export_id, worker_id, step), **arguments)
        zipped = None
        if result.accepted:
            _step(export_id, worker_id, "Zipping the export for download")
            zipped = make_zip(result.path)
    except (ExportError, RunNotExportableError) as error:
        log.info("export %d cannot be made: %s %s", export_id, error, getattr(error, "detail", ""))
        fail_export(export_id, worker_id, str(error))
        return 0
    except Exception:  # noqa: BLE001 - recorded as a failure with its traceback in the log, never left running
        traceback.print_exc()
        fail_export(export_id, worker_id, "The export failed unexpectedly; its log on the server has the details "
                                          f"({export_folder(job.run_id, job.id) / EXPORT_LOG}).")
        return 1
    finish_export(export_id, worker_id, status=OFFERED if result.accepted else REFUSED, result=result.to_dict(),
                  path=result.path, zip_path=zipped)
    log.info("export %d %s: %s", export_id, "offered" if result.accepted else "refused", result.reason)
    return 0


def _step(export_id: int, worker_id: str, step: str) -> None:
    log.info("export %d: %s", export_id, step)
    if not report_export(export_id, worker_id, step):
        raise SystemExit(0)  # the row is no longer ours (its worker was declared dead): stop quietly


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("export_id", type=int)
    parser.add_argument("--worker-id", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    return build_export(args.export_id, args.worker_id)


if __name__ == "__main__":
    sys.exit(main())

