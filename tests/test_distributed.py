"""One run on several processes (RunConfig.devices; core/training/distributed.py, core/jobs/distributed_launch.py):
queued from the command line, trained by a real worker through torchrun with the gloo backend on this CPU, two
processes against one with the same global batch. Quality must stay within a stated tolerance, and a Cancel stops
every process. (On a GPU machine the same path runs one process per GPU with nccl: docs/BENCHMARKS.md.)"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import psutil
import pytest

from storage.run_requests import request_cancel, request_resume
from storage.paths import run_files
from storage.runs import get_run, predictions
from tests.conftest import ROOT
from tests.finished_runs import HAM, SPAM, messages
from tests.test_worker import wait_for

pytestmark = pytest.mark.slow  # real runs in worker processes

# Both runs see the same examples in the same global batches of 16; only the order of the two halves' gradient sums
# and the dropout draws differ. Allowed: test accuracy 0.05 apart (2 of 40 messages) and the mean probability given
# to the true class 0.05 apart (it moves long before an answer flips).
TOLERANCE = 0.05
SETTINGS = ["--model", "minilm", "--method", "lora", "--max-length", "16", "--batch-size", "16", "--seed", "1",
            "--epochs", "2"]
# Cancel and kill -9 check processes, not learning: the tiny random-weight BERT starts and steps far faster.
TINY = ("--model", "tiny-bert", "--early-stopping-patience", "0")


def _messages_csv(path, n: int = 160) -> str:
    rng = random.Random(3)
    rows = [(t, "ham") for t in messages(n // 2, HAM, rng)] + [(t, "spam") for t in messages(n // 2, SPAM, rng)]
    rng.shuffle(rows)
    with path.open("w", encoding="utf-8") as f:
        f.write("message,category\n")
        f.writelines('"{}",{}\n'.format(text.replace('"', '""'), label) for text, label in rows)
    return str(path)


def _queue(home, data: str, *extra: str) -> int:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "train", "--data", data, *SETTINGS, *extra, "--background",
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["run_id"]


def _worker(home, once: bool, **env_extra: str) -> subprocess.Popen:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1", **env_extra}
    return subprocess.Popen([sys.executable, "-m", "core", "worker", "--poll-seconds", "0.3"] + (["--once"] if once else []),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _training_processes(run_id: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = process.info["cmdline"] or []
        if "core.jobs.runner" in line and str(run_id) in line:
            found.append(process)
    return found


@pytest.mark.timeout(1200)
def test_two_processes_train_a_run_as_well_as_one_with_the_same_global_batch(tuneboard_home, tmp_path):
    data = _messages_csv(tmp_path / "messages.csv")
    one = _queue(tuneboard_home, data)
    two = _queue(tuneboard_home, data, "--devices", "2")
    worker = _worker(tuneboard_home, once=True)
    output = worker.communicate(timeout=1100)[0]
    assert worker.returncode == 0, output
    single, parallel = get_run(one), get_run(two)
    assert (single.status, parallel.status) == ("succeeded", "succeeded"), (single.error, parallel.error)
    log = run_files(two).log.read_text()
    assert "Data-parallel: 2 processes, 8 examples each per batch (16 in all)." in log
    assert "Data-parallel" not in run_files(one).log.read_text()
    for run in (single, parallel):  # each learned
        majority = run.metrics["baselines"]["majority"]["accuracy"]
        assert run.metrics["accuracy"] >= majority + 0.2, (run.id, run.metrics["accuracy"], majority)
    assert abs(single.metrics["accuracy"] - parallel.metrics["accuracy"]) <= TOLERANCE
    sure = [_true_class_probability(run.id) for run in (single, parallel)]
    assert abs(sure[0] - sure[1]) <= TOLERANCE, sure
    assert single.samples_per_second > 0 and parallel.samples_per_second > 0
    print(f"accuracy: 1 process {single.metrics['accuracy']:.3f}, 2 processes {parallel.metrics['accuracy']:.3f}; "
          f"mean probability of the true class {sure[0]:.3f} against {sure[1]:.3f}; "
          f"samples/s: {single.samples_per_second:.1f} against {parallel.samples_per_second:.1f}")


def _true_class_probability(run_id: int) -> float:
    run = get_run(run_id)
    rows = predictions(run_id)
    return sum(r.probabilities[run.dataset.labels.index(r.true_label)] for r in rows) / len(rows)


@pytest.mark.timeout(900)
def test_cancel_stops_every_process_of_a_run_on_two_processes(tuneboard_home, tmp_path):
    run_id = _queue(tuneboard_home, _messages_csv(tmp_path / "messages.csv"), *TINY, "--devices", "2", "--epochs", "300")
    worker = _worker(tuneboard_home, once=False)
    try:
        wait_for(lambda: (get_run(run_id).step or 0) > 0, timeout=600)  # both processes are training
        assert len(_training_processes(run_id)) == 2
        asked = time.monotonic()
        request_cancel(run_id)
        wait_for(lambda: get_run(run_id).status == "cancelled", timeout=60)
        wait_for(lambda: not _training_processes(run_id), timeout=30)
        print(f"cancelled, every process gone, {time.monotonic() - asked:.1f} s after the request")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.timeout(900)
def test_kill_9_of_the_worker_stops_both_processes_and_resume_goes_on_from_the_checkpoint(tuneboard_home, tmp_path):
    run_id = _queue(tuneboard_home, _messages_csv(tmp_path / "messages.csv"), *TINY, "--devices", "2", "--epochs", "8")
    worker = _worker(tuneboard_home, once=False, TUNEBOARD_CHECKPOINT_SECONDS="0")  # a checkpoint after every step
    try:
        wait_for(lambda: (get_run(run_id).step or 0) >= 3 and run_files(run_id).has_checkpoint(), timeout=600)
        worker.kill()  # kill -9: torchrun's agent dies with it, and its two processes with the agent
        worker.wait(timeout=30)
        wait_for(lambda: not _training_processes(run_id), timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert _worker(tuneboard_home, once=True).wait(timeout=120) == 0  # a restart finds the run interrupted
    assert get_run(run_id).status == "interrupted"
    request_resume(run_id)
    again = _worker(tuneboard_home, once=True)
    output = again.communicate(timeout=700)[0]
    run = get_run(run_id)
    assert (run.status, run.attempt) == ("succeeded", 2), (run.status, run.error, output[-2000:])
    log = run_files(run_id).log.read_text()
    assert "Resumed from the checkpoint" in log and log.count("Data-parallel: 2 processes") == 2
