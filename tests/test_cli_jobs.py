"""`python -m core runs | cancel | resume | worker` and `train --background` over the same job store."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import time

import pytest

from core.__main__ import main
from storage import run_queue
from storage.paths import run_files
from storage.run_requests import enqueue
from storage.runs import get_run, list_runs
from storage.workers import alive_workers
from tests.conftest import ROOT
from tests.tiny_training import make_dataset

CONFIG = {"model": "minilm", "method": "lora", "preset": "quick"}


def test_runs_lists_status_and_progress_as_a_table_and_as_json(capsys):
    dataset_id = make_dataset(name="support tickets")
    first, second = enqueue(dataset_id, CONFIG), enqueue(dataset_id, {**CONFIG, "method": "head"})
    run_queue.claim_next("w1")
    run_queue.report_progress(first, "w1", step=30, total_steps=120, epoch=0.5, eta_seconds=90.0)
    assert main(["runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "status", "progress"]
    assert table[1].split()[:5] == [str(second), "queued", "0%", "head", "minilm"]
    assert table[2].split()[:6] == [str(first), "running", "25%", "90s", "lora", "minilm"]
    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"], r["progress"], r["dataset"]) for r in rows] == [
        (second, "queued", 0.0, "support tickets"), (first, "running", 0.25, "support tickets")]


def test_runs_on_an_empty_store_says_how_to_start(capsys):
    assert main(["runs"]) == 0
    assert "No runs yet" in capsys.readouterr().out


def test_cancel_a_queued_run_and_refuse_a_finished_one(capsys):
    run_id = enqueue(make_dataset(), CONFIG)
    assert main(["cancel", str(run_id)]) == 0
    assert "now cancelled" in capsys.readouterr().out
    assert get_run(run_id).status == "cancelled"
    assert main(["cancel", str(run_id)]) == 1
    assert "already cancelled" in capsys.readouterr().err
    assert main(["cancel", "999"]) == 1
    assert "There is no run 999." in capsys.readouterr().err


def test_cancel_a_running_run_sets_the_request(capsys):
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    assert main(["cancel", str(run_id)]) == 0
    assert "cancel requested" in capsys.readouterr().out
    assert get_run(run_id).cancel_requested


def test_resume_an_interrupted_run_with_a_checkpoint(capsys):
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_queue.mark_interrupted(run_id, "w1", "Interrupted")
    assert main(["resume", str(run_id)]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    run_files(run_id).checkpoint.mkdir(parents=True)
    (run_files(run_id).checkpoint / "trainer.json").write_text("{}")
    assert main(["resume", str(run_id)]) == 0
    captured = capsys.readouterr()
    assert "will resume" in captured.out and "No worker is running" in captured.err
    assert get_run(run_id).resume_requested


@pytest.mark.slow  # a Python process
def test_runs_command_is_quick_because_it_does_not_import_torch():
    code = "import sys; from core.__main__ import main; main(['runs']); print('torch' in sys.modules)"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert time.monotonic() - started < 15


@pytest.mark.slow  # a worker process
def test_worker_once_on_an_empty_queue_exits_cleanly():
    out = subprocess.run([sys.executable, "-m", "core", "worker", "--once", "--poll-seconds", "0.1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "started: 1 run(s) at a time on CPU" in out.stderr and "stopped" in out.stderr
    assert alive_workers() == []


def test_worker_rejects_a_zero_concurrency(capsys):
    assert main(["worker", "--concurrency", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def write_texts(path, rows: int = 40):
    lines = ["text,label"] + [f"{'win a prize now' if i % 2 else 'lunch at noon?'} {i},{'spam' if i % 2 else 'ham'}"
                              for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_background_queues_the_run_and_prints_its_id(tmp_path, capsys):
    data = write_texts(tmp_path / "messages.csv")
    assert main(["train", "--data", str(data), "--method", "head", "--preset", "best", "--epochs", "3",
                 "--lr", "0.01", "--background"]) == 0
    captured = capsys.readouterr()
    run_id = int(captured.out.strip())
    assert "No worker is running" in captured.err
    run = get_run(run_id)
    assert run.status == "queued" and run.dataset.task == "text"
    assert {k: run.config[k] for k in ("model", "method", "preset", "epochs", "learning_rate", "seed")} == {
        "model": "minilm", "method": "head", "preset": "best", "epochs": 3, "learning_rate": 0.01, "seed": 42}
    # The same file again reuses the stored dataset.
    assert main(["train", "--data", str(data), "--json", "--background"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["status"] == "queued" and get_run(second["run_id"]).dataset_id == run.dataset_id
    assert run.auto_resume is False and get_run(second["run_id"]).auto_resume is False
    # --resume-automatically: any worker resumes it when its worker dies or stops
    assert main(["train", "--data", str(data), "--json", "--background", "--resume-automatically"]) == 0
    assert get_run(json.loads(capsys.readouterr().out)["run_id"]).auto_resume is True


def test_train_refuses_a_method_that_does_not_fit_the_data(tmp_path, capsys):
    from PIL import Image

    for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (16, 16), tuple(max(0, c - 5 * i) for c in colour)).save(tmp_path / "photos" / label / f"{i}.png")
    assert main(["train", "--data", str(tmp_path / "photos"), "--method", "prompt", "--background"]) == 2
    assert "Prompt tuning works on text data only" in capsys.readouterr().err
    assert list_runs() == []


def test_train_reports_unusable_data_in_one_sentence(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing.csv"), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["code"] == "not_found"
    assert "There is no file or folder" in captured.err


def test_train_refuses_a_device_and_a_fifo_without_reading_them(tmp_path, capsys):
    """Issue 22: `--data /dev/zero` read until a MemoryError, and a FIFO waited for a writer for ever."""
    import os
    import threading

    from core.ingest import DataError
    from core.ingest.unlabeled import read_path

    assert main(["train", "--data", "/dev/zero", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["code"] == "not_a_file"
    assert "/dev/zero is not a regular file (it is a device, a pipe or a socket). Give a file or a folder." in captured.err
    fifo = tmp_path / "messages.csv"
    os.mkfifo(fifo)
    # Should the command open the FIFO after all, a writer comes along after 20 s: the test then fails, not hangs.
    unblock = threading.Timer(20, lambda: open(fifo, "wb").close())
    unblock.start()
    try:
        assert main(["train", "--data", str(fifo), "--test-data", str(fifo), "--json"]) == 2
        assert json.loads(capsys.readouterr().out)["code"] == "not_a_file"
        with pytest.raises(DataError, match="is not a regular file"):  # predict --file reads through here
            read_path(Path("/dev/zero"), "text")
    finally:
        unblock.cancel()
    assert list_runs() == []


@pytest.mark.slow  # a `python -m core runs` process (about 2 s)
def test_a_closed_pipe_ends_the_command_quietly():
    """Issue 22: `python -m core runs | head` printed a BrokenPipeError traceback once head had gone."""
    enqueue(make_dataset(), CONFIG)
    child = subprocess.Popen([sys.executable, "-m", "core", "runs"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    child.stdout.close()  # the reader goes before the command prints
    _, errors = child.communicate(timeout=60)
    assert "BrokenPipeError" not in errors and "Traceback" not in errors
    assert child.returncode == 141


@pytest.mark.slow  # trains tiny-bert in a `python -m core train` process
def test_train_in_process_prints_the_result_json(tmp_path):
    """The real command and engine on a tiny random-weight BERT: the JSON issue 3 specifies, and a stored run."""
    data = write_texts(tmp_path / "messages.csv", rows=60)
    out = subprocess.run([sys.executable, "-m", "core", "train", "--data", str(data), "--model", "tiny-bert",
                          "--method", "lora", "--epochs", "2", "--batch-size", "8", "--seed", "3", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "succeeded"
    assert set(result) >= {"run_id", "metrics", "confusion_matrix", "baselines", "train_seconds",
                           "train_samples_per_second", "trainable_params", "total_params", "device"}
    assert set(result["metrics"]["per_class"]) == {"ham", "spam"}
    assert result["confusion_matrix"]["labels"] == ["ham", "spam"]
    assert sum(map(sum, result["confusion_matrix"]["matrix"])) == sum(
        c["support"] for c in result["metrics"]["per_class"].values())
    assert 0 < result["trainable_params"] < result["total_params"]
    assert result["device"].startswith("cpu") and "majority" in result["baselines"]
    run = get_run(result["run_id"])
    assert (run.status, run.config["epochs"], run.config["seed"], run.attempt) == ("succeeded", 2, 3, 1)
    # What the preset resolved to, as trained: the explicit epochs and batch, the preset's rate, the steps taken.
    training = result["training"]
    assert (training["epochs"], training["batch_size"], training["epochs_run"]) == (2, 8, 2)
    assert training["learning_rate"] > 0 and training["steps"] > 0
    assert training["max_length"] > 0 and training["image_size"] is None  # the length texts were cut to
    assert run.training == training
    assert "Test accuracy" in out.stderr  # progress lines go to stderr, the JSON alone to stdout


def test_train_flags_come_from_the_run_config_and_are_checked(tmp_path, capsys):
    """Every RunConfig setting is a flag (--lr kept beside --learning-rate); a setting the method does not read,
    or a value outside its bounds, is refused in plain words before anything is queued."""
    data = write_texts(tmp_path / "texts.csv")
    assert main(["train", "--data", str(data), "--method", "lora", "--lora-rank", "4", "--learning-rate", "0.002",
                 "--class-weighting", "--json", "--background"]) == 0
    run = get_run(json.loads(capsys.readouterr().out)["run_id"])
    assert (run.config["lora_rank"], run.config["learning_rate"], run.config["class_weighting"]) == (4, 0.002, True)

    assert main(["train", "--data", str(data), "--method", "full", "--lora-rank", "4", "--background"]) == 2
    assert "--lora-rank does not apply to Full fine-tuning on text data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", str(data), "--epochs", "0", "--background"])
    assert "Epochs must be between 1 and 500" in capsys.readouterr().err
    assert len(list_runs()) == 1
