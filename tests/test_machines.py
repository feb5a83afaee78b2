"""Workers on several machines: a second "machine" on this one, and the data folder a worker must share.

The second machine is a worker in its own UTS namespace (`unshare --uts`, as root) with its own hostname. That is
what makes a machine "other" to Tuneboard: a process's identity is host:pid:start (storage.processes), and a worker
judges a run's owner on another host only by its heartbeat, never by its pid. What it shares with this machine is
what real machines share: the data folder (here the same directory; there a mounted volume) and the database over
TCP (PostgreSQL on 127.0.0.1). A network namespace is not used: it would cut the worker off from the server on the
loopback address, which a real second machine reaches over its network.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from storage.data_folder import MARK_FILE, bind_data_folder
from storage.paths import database_url, run_files
from storage.run_requests import enqueue
from storage.runs import get_run
from storage.workers import alive_workers
from tests.conftest import ROOT
from tests.test_worker import wait_for
from tests.tiny_training import make_dataset

OTHER_HOST = "tuneboard-machine-b"
HEARTBEAT_TIMEOUT = 6.0  # seconds (the default is 60); the worker heartbeats every 2 s


def other_machine_works() -> None:
    """`unshare --uts` needs root (CAP_SYS_ADMIN): CI runs as root; elsewhere the test skips and says why."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command (util-linux) to give a worker its own hostname")
    probe = subprocess.run(["unshare", "--uts", "hostname", OTHER_HOST], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --uts is not allowed here (needs root): {probe.stderr.strip()}")


@pytest.fixture
def machines(tuneboard_home: Path):
    """start(host, step_seconds, *flags): `python -m core worker` on this machine (host None) or on `host` (its own
    UTS namespace), training tests.tiny_training's steps of `step_seconds`."""
    started: list[subprocess.Popen] = []

    def start(host: str | None, step_seconds: float, *flags: str) -> subprocess.Popen:
        env = {**os.environ, "TUNEBOARD_TRAIN_FN": "tests.tiny_training:train_tiny", "TINY_STEP_SECONDS": str(step_seconds)}
        command = [sys.executable, "-m", "core", "worker", "--poll-seconds", "0.2",
                   "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT), *flags]
        if host is not None:  # unshare and sh exec into the worker: the process we hold is the worker itself
            command = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *command]
        log = (tuneboard_home.parent / f"worker-{len(started)}.log").open("ab")
        started.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        process.wait(timeout=10)


def worker_log(home: Path, index: int) -> str:
    return (home.parent / f"worker-{index}.log").read_text()


@pytest.mark.slow  # worker processes on two "machines", a heartbeat timeout, training twice
@pytest.mark.postgresql
def test_kill_9_of_a_worker_on_another_machine_interrupts_its_run_after_the_heartbeat_timeout_and_another_resumes_it(
        machines, tuneboard_home):
    other_machine_works()
    dataset_id = make_dataset()
    # 300 steps each: at 0.1 s a step on the other machine, long enough to still be training when it is killed
    auto = enqueue(dataset_id, {"model": "tiny", "epochs": 30}, name="resume automatically", auto_resume=True)
    waits = enqueue(dataset_id, {"model": "tiny", "epochs": 30}, name="waits for the user")
    other = machines(OTHER_HOST, 0.1, "--concurrency", "2")
    # 1) the other machine takes both runs; its row says where it is, what it trains on and what it trains now
    wait_for(lambda: all((get_run(r).step or 0) >= 12 for r in (auto, waits)), timeout=90)  # two checkpoints each
    assert {get_run(r).worker_id.split(":")[0] for r in (auto, waits)} == {OTHER_HOST}
    [row] = alive_workers()
    assert (row.hostname, row.current_runs, row.data_home) == (OTHER_HOST, [auto, waits], str(tuneboard_home))
    assert row.device.startswith("CPU")
    assert psutil.Process(other.pid).cmdline()[1:4] == ["-m", "core", "worker"]  # the worker itself, not unshare
    # 2) a worker on this machine starts (training faster: 0.01 s a step) and leaves the other machine's runs alone
    here = machines(None, 0.01)
    wait_for(lambda: len(alive_workers()) == 2, timeout=30)
    time.sleep(HEARTBEAT_TIMEOUT / 2)
    assert {get_run(r).worker_id.split(":")[0] for r in (auto, waits)} == {OTHER_HOST}
    assert {get_run(r).status for r in (auto, waits)} == {"running"}  # still training: the kill lands mid-run
    # 3) kill -9 the other machine's worker (its training processes die with it)
    children = psutil.Process(other.pid).children(recursive=True)
    os.kill(other.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    other.wait(timeout=10)
    psutil.wait_procs(children, timeout=10)
    # 4) this machine cannot see that process: only the heartbeat timeout tells, then the run set to resume
    # automatically is resumed here from its checkpoint, and the other waits for the user as before
    wait_for(lambda: get_run(waits).status == "interrupted", timeout=HEARTBEAT_TIMEOUT + 30)
    noticed_after = time.monotonic() - killed_at
    # its last heartbeat was at most 2 s before the kill, and the check runs every timeout / 2
    assert noticed_after >= HEARTBEAT_TIMEOUT - 2.5, noticed_after
    wait_for(lambda: get_run(auto).status == "succeeded", timeout=90)
    assert get_run(waits).status == "interrupted"  # not resumed meanwhile
    resumed, waiting = get_run(auto), get_run(waits)
    assert (resumed.attempt, resumed.step, resumed.worker_id.split(":")[0]) == (2, 300, socket.gethostname())
    assert resumed.metrics["resumed_from_step"] >= 10  # from the checkpoint, not from the start
    log = run_files(auto).log.read_text()
    assert f"Interrupted: its worker ({OTHER_HOST}:" in log and "resuming it automatically" in log
    assert f"Resumed from step {resumed.metrics['resumed_from_step']}" in log
    assert (waiting.status, waiting.resume_requested, waiting.attempt) == ("interrupted", False, 1)
    assert "Resume it from the last checkpoint or retry it." in waiting.message
    assert here.poll() is None
    assert [w.hostname for w in alive_workers(stale_seconds=HEARTBEAT_TIMEOUT)] == [socket.gethostname()]
    print(f"the other machine's runs were noticed {noticed_after:.1f} s after the kill "
          f"(heartbeat timeout {HEARTBEAT_TIMEOUT:g} s)")


@pytest.mark.slow  # worker processes (each imports the job code: a second or two)
@pytest.mark.both_databases
def test_a_worker_refuses_to_start_with_a_data_folder_the_database_does_not_belong_to(tuneboard_home, tmp_path):
    bind_data_folder("the app")
    url = database_url()  # the SQLite file inside tuneboard_home, or the test's PostgreSQL database
    env = {**os.environ, "DATABASE_URL": url}

    def worker_in(home: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core", "worker", "--once"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env={**env, "TUNEBOARD_HOME": str(home)})

    # a folder of its own (a local disk instead of the shared one): no mark
    empty = worker_in(tmp_path / "local-disk")
    assert empty.returncode == 2
    assert (f"The data folder {tmp_path / 'local-disk'} is not the one this database belongs to (it has no "
            f"{MARK_FILE} file; the database's datasets and runs are in another folder): start with TUNEBOARD_HOME "
            "set to the data folder the app and the other workers share") in empty.stderr
    # another Tuneboard's data folder: another database's mark
    elsewhere = tmp_path / "other-tuneboard"
    elsewhere.mkdir()
    (elsewhere / MARK_FILE).write_text("9b2e6c1e-0000-4000-8000-000000000000\n")
    foreign = worker_in(elsewhere)
    assert foreign.returncode == 2
    assert f"The data folder {elsewhere} belongs to another database" in foreign.stderr
    assert alive_workers() == [] and "started" not in empty.stderr + foreign.stderr  # neither registered
    # the shared folder itself: it starts (and, with --once and nothing queued, stops)
    shared = worker_in(tuneboard_home)
    assert shared.returncode == 0 and "started" in shared.stderr, shared.stderr
