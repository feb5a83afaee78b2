"""A run whose files were deleted by hand (its model folder, its whole run folder, or its dataset's folder) shows a
clear state on every page and on the command line: the stored numbers stay, and what no longer works says so in
one sentence instead of a traceback. The runs are real (tests/finished_runs.py); only files are removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from core.artifacts import missing_model_message, model_files_missing
from core.jobs.runner import execute_run
from storage import run_queue
from storage.paths import run_dir, run_files
from storage.processes import process_identity
from storage.run_requests import enqueue
from storage.runs import get_run, list_runs
from tests.conftest import ROOT
from tests.finished_runs import text_run, use_run
from tests.test_predict_page import open_predict
from tests.test_results_page import metric, open_results
from tests.test_runs_page import open_runs_page
from tests.tiny_training import make_dataset, train_tiny

REMOVED = {"model folder": lambda run_id: run_files(run_id).model,
           "whole run folder": lambda run_id: run_dir(run_id)}


@pytest.fixture(params=list(REMOVED))
def run_without_model(request, tuneboard_home) -> int:
    """A finished text run whose saved model was deleted by hand."""
    run_id = use_run(text_run(), tuneboard_home)
    shutil.rmtree(REMOVED[request.param](run_id))
    return run_id


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_model_folder_without_its_weights_is_missing_too(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    folder = run_dir(run_id)
    assert not model_files_missing(folder)
    (run_files(run_id).model / "model.safetensors").unlink()  # tuneboard.json alone does not make a model
    assert model_files_missing(folder)


@pytest.mark.slow  # a finished run (CLI process)
def test_results_show_the_stored_numbers_and_say_the_model_files_are_missing(run_without_model):
    at = open_results(run_without_model)
    assert [w.value for w in at.warning if "model files" in w.value] == [
        f"{missing_model_message(run_without_model)} The numbers below are the ones stored when it finished; "
        "it cannot predict until retrained."]
    stored = get_run(run_without_model).metrics
    assert metric(at, "Accuracy").value == f"{stored['accuracy']:.1%}"
    assert metric(at, "Macro-F1").value == f"{stored['macro_f1']:.1%}"


@pytest.mark.slow  # a finished run (CLI process)
def test_predict_says_the_model_files_are_missing_and_how_to_get_them_back(run_without_model):
    at = open_predict()
    assert [e.value for e in at.error] == [
        f"The model files of run {run_without_model} are missing; retrain it (Retry on Runs)."]
    assert len(at.text_area) == 0  # nothing offered that cannot work


@pytest.mark.slow  # a finished run and a CLI process
def test_cli_predict_exits_non_zero_with_the_plain_sentence(run_without_model, tuneboard_home):
    env = {**os.environ, "TUNEBOARD_HOME": str(tuneboard_home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "predict", "--run", str(run_without_model), "--text", "hi"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip() == f"The model files of run {run_without_model} are missing; retrain it (Retry on Runs)."
    assert done.stdout == ""


@pytest.mark.slow  # a finished run (CLI process)
def test_runs_page_says_so_and_offers_retry(run_without_model):
    at = open_runs_page(run_without_model)
    assert not at.exception
    assert missing_model_message(run_without_model) in [w.value for w in at.warning]
    at.button(key=f"runs_retry_{run_without_model}").click().run()
    assert not at.exception
    retry = max(r.id for r in list_runs())
    assert retry != run_without_model and get_run(retry).status == "queued"
    assert get_run(retry).config == get_run(run_without_model).config


@pytest.mark.slow  # a finished run (CLI process)
def test_a_succeeded_run_with_its_model_offers_no_retry(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    at = open_runs_page(run_id)
    assert not at.exception
    assert not [b for b in at.button if b.key == f"runs_retry_{run_id}"]
    assert not [w for w in at.warning if "missing" in w.value]


DATASET_MISSING = ("The files of dataset '{}' are missing, so it cannot be trained on again; "
                   "upload it again on the Data page.")


@pytest.mark.slow  # a finished run (CLI process)
def test_a_deleted_dataset_folder_keeps_results_and_says_so_on_runs(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    dataset = get_run(run_id).dataset
    shutil.rmtree(tuneboard_home / dataset.path)
    at = open_results(run_id)
    assert "The dataset's files are missing" in " ".join(w.value for w in at.warning)
    assert metric(at, "Accuracy").value == f"{get_run(run_id).metrics['accuracy']:.1%}"
    at = open_runs_page(run_id)
    assert not at.exception
    assert DATASET_MISSING.format(dataset.name) in [w.value for w in at.warning]


def test_training_on_a_deleted_dataset_fails_in_one_sentence(tuneboard_home):
    dataset_id = make_dataset(name="tickets")
    run_id = enqueue(dataset_id, {"model": "tiny"})
    shutil.rmtree(tuneboard_home / "datasets" / str(dataset_id))
    worker_id = process_identity()
    run_queue.claim_next(worker_id)
    assert execute_run(run_id, worker_id, train_fn=train_tiny).status == "failed"
    assert get_run(run_id).error == DATASET_MISSING.format("tickets")
