"""Exports as background jobs: asked for on Results, built by the worker, recorded on their row, downloaded as a zip.

The queue's rules on a plain database (no models); then a real finished run (tiny-bert through `python -m core train`,
tests/finished_runs.py) exported by a real worker, and the Results page's Download tab before and after.
"""

from __future__ import annotations

import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs.worker import Worker, WorkerSettings
from storage.db import session_factory
from storage.export_queue import (
    RunNotExportable, claim_next_export, export_folder, fail_export, finish_export, get_export,
    interrupt_orphaned_exports, request_export, run_exports,
)
from storage.models import EXPORT_INTERRUPTED, EXPORT_RUNNING, OFFERED, QUEUED, REFUSED, SUCCEEDED, Dataset, Run
from storage.paths import data_home
from tests.conftest import ROOT
from tests.finished_runs import build_queued_exports, text_run, use_run

DEAD_WORKER = "elsewhere:1:0"  # another host's worker: only its heartbeat tells whether it is alive


def a_run(status: str = SUCCEEDED) -> int:
    with session_factory().begin() as s:
        dataset = Dataset(name="d", task="text", labels=["ham", "spam"])
        s.add(dataset)
        s.flush()
        run = Run(dataset_id=dataset.id, status=status, config={"method": "lora"})
        s.add(run)
        s.flush()
        return run.id


def test_asking_twice_builds_one_export_and_a_refused_one_may_be_asked_again(tuneboard_home):
    run_id = a_run()
    first = request_export(run_id, "onnx")
    assert request_export(run_id, "onnx").id == first.id  # queued: the same job
    assert request_export(run_id, "hf").id != first.id  # another format: its own job
    assert claim_next_export("w:1:1") == first.id
    assert request_export(run_id, "onnx").id == first.id  # running: still the same
    assert finish_export(first.id, "w:1:1", status=REFUSED, result={"reason": "int8 lost 3 points"},
                         path=export_folder(run_id, first.id) / "x", zip_path=None)
    again = request_export(run_id, "onnx")
    assert again.id != first.id and again.status == QUEUED  # refused: asking again builds it again
    assert get_export(first.id).path == f"runs/{run_id}/exports/{first.id}/x"  # stored relative to the data home
    assert [e.id for e in run_exports(run_id)] == sorted([first.id, again.id, first.id + 1], reverse=True)


def test_only_a_finished_run_can_be_exported(tuneboard_home):
    with pytest.raises(RunNotExportable, match="not a finished run"):
        request_export(a_run(status=QUEUED), "onnx")
    with pytest.raises(RunNotExportable):
        request_export(12345, "onnx")


def test_an_export_is_claimed_once_and_only_its_worker_records_it(tuneboard_home):
    job = request_export(a_run(), "onnx")
    assert claim_next_export("w:1:1") == job.id
    assert claim_next_export("w:2:2") is None  # nothing else queued
    assert not finish_export(job.id, "w:2:2", status=OFFERED, result={}, path=tuneboard_home, zip_path=None)
    assert not fail_export(job.id, "w:2:2", "not mine")
    assert get_export(job.id).status == EXPORT_RUNNING


def test_an_export_whose_worker_died_is_not_shown_as_running(tuneboard_home):
    job = request_export(a_run(), "onnx-int8")
    assert claim_next_export(DEAD_WORKER) == job.id
    assert interrupt_orphaned_exports(stale_seconds=3600) == []  # its heartbeat is recent: it may be alive
    assert interrupt_orphaned_exports(stale_seconds=-1) == [job.id]  # silent for longer than allowed: dead
    row = get_export(job.id)
    assert row.status == EXPORT_INTERRUPTED and "Ask for the export again" in row.error


def open_download_tab(run_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["run"] = str(run_id)
    at.run()
    at.switch_page("pages/results.py").run()
    assert not at.exception
    return at


@pytest.mark.slow  # a finished run (a CLI process), a page, then a real export by a real worker
def test_results_download_tab_queues_an_export_and_offers_its_zip_once_verified(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    at = open_download_tab(run_id)
    choices = at.selectbox(key=f"results_export_format_{run_id}").options
    assert "Adapter only" not in choices and "ONNX" in choices  # full fine-tuning: no adapter to offer
    assert any("Adapter only: not offered for this run" in c.value for c in at.caption)
    assert any("No export yet" in c.value for c in at.caption)

    at.selectbox(key=f"results_export_format_{run_id}").select("hf").run()  # the quickest to build and check
    at.button(key=f"results_export_build_{run_id}").click().run()
    assert not at.exception
    [job] = run_exports(run_id)
    assert (job.format, job.status) == ("hf", QUEUED)
    assert any("waiting for a worker" in m.value for m in at.markdown)
    adapter = request_export(run_id, "adapter")  # asked for anyway (the command line could): it fails plainly

    build_queued_exports()
    built = get_export(job.id)
    assert built.status == OFFERED, built.result.get("reason") or built.error
    assert built.result["pytorch_latency_ms_p50"] > 0 and built.result["pytorch_model_bytes"] > 0
    with zipfile.ZipFile(data_home() / built.zip_path) as archive:
        names = archive.namelist()
    assert any(n.endswith("README.md") for n in names) and any(n.endswith("model.safetensors") for n in names)
    log = (export_folder(run_id, job.id) / "export.log").read_text()
    assert "Checking transformers folder on the test set in a fresh process" in log  # the steps it reported
    failed = get_export(adapter.id)
    assert failed.status == "failed" and "no adapter to export" in failed.error and not failed.path

    at.run()
    assert not at.exception
    assert any("Reloaded without Tuneboard" in s.value for s in at.success)
    checks = next(d.value for d in at.dataframe if "latency, 1 input (ms)" in d.value.columns)
    assert list(checks["model"]) == ["trained model (PyTorch, in Tuneboard)", "transformers folder"]
    assert checks["test accuracy"].iloc[1] == pytest.approx(checks["test accuracy"].iloc[0])  # a float32 copy
    assert not at.get("download_button")  # the zip is read only when asked for
    at.button(key=f"results_export_prepare_{job.id}").click().run()
    buttons = at.get("download_button")
    assert len(buttons) == 1 and "tuneboard-run-" in buttons[0].proto.label
    assert any("no adapter to export" in e.value for e in at.error)  # the failed one says why
