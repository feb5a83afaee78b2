"""deploy/compose.yaml, started without containers: each Tuneboard service's command (the app, two workers, the API)
as a plain process on this machine, with the environment the file gives it, against a PostgreSQL database instead of
the `postgres` service. The containers are not started here (no registry for images, no container runtime in CI);
what is tested is that the file's commands and settings make a working deployment together."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from storage.paths import database_url
from storage.run_requests import enqueue
from storage.runs import get_run
from storage.workers import alive_workers
from tests.conftest import ROOT
from tests.live_app import free_port, wait_until_answers
from tests.tiny_training import make_dataset

COMPOSE = ROOT / "deploy" / "compose.yaml"


def local_command(command: list[str], port: int | None) -> list[str]:
    """The container's command on this machine: this Python, loopback instead of every address, a free port."""
    local = [sys.executable, "-m", "streamlit"] + command[1:] if command[0] == "streamlit" else [sys.executable] + command[1:]
    local = ["127.0.0.1" if part == "0.0.0.0" else part for part in local]
    for flag in ("--server.port", "--port"):
        if flag in local:
            local[local.index(flag) + 1] = str(port)
    return local


def local_environment(service: dict, home: Path) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in (service.get("environment") or {}).items()}}
    env.update(DATABASE_URL=database_url(), TUNEBOARD_HOME=str(home), TUNEBOARD_PASSWORD="a long test passphrase",
               TUNEBOARD_TRAIN_FN="tests.tiny_training:train_tiny")
    return env


@pytest.mark.slow  # the app, two workers and the API as processes: tens of seconds on 2 cores
@pytest.mark.postgresql
def test_the_compose_services_started_as_processes_make_a_working_deployment(tuneboard_home):
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == {"postgres", "app", "worker", "gpu-worker", "api"}
    assert services["gpu-worker"]["command"] == services["worker"]["command"]  # the same worker, given GPUs
    assert services["app"]["environment"]["TUNEBOARD_NO_WORKER"] == "1"  # only the workers train
    started: list[subprocess.Popen] = []
    ports = {"app": free_port(), "api": free_port()}
    try:
        for name in ("app", "worker", "api"):
            service = services[name]
            for i in range(service.get("deploy", {}).get("replicas", 1)):
                log = (tuneboard_home.parent / f"{name}-{i}.log").open("ab")
                started.append(subprocess.Popen(
                    local_command(service["command"], ports.get(name)), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                    env=local_environment(service, tuneboard_home)))
        by_name = dict(zip(["app", "worker-0", "worker-1", "api"], started))
        details = lambda: f"logs in {tuneboard_home.parent}"  # noqa: E731
        wait_until_answers(by_name["app"], f"http://127.0.0.1:{ports['app']}/_stcore/health", 120, "the app", details)
        wait_until_answers(by_name["api"], f"http://127.0.0.1:{ports['api']}/openapi.json", 120, "the API", details)
        deadline = time.monotonic() + 60
        while len(alive_workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(alive_workers()) == 2  # the two replicas, and no worker of the app's
        run_id = enqueue(make_dataset(), {"model": "tiny", "epochs": 1})
        deadline = time.monotonic() + 90
        while get_run(run_id).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert get_run(run_id).status == "succeeded"
        assert all(p.poll() is None for p in started), details()
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
