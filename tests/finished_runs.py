"""Real finished runs for page tests, trained once per test session through the real command line.

`python -m core train ... --model tiny-bert|tiny-image --json` registers a small dataset and trains a
random-weights model on it (seconds on a CPU), exactly the path a user's run takes. Each trained data
folder is kept for the session; `use_run` copies it into a test's own empty data folder, so a test may
change the run (save a threshold) without affecting the next one. When tests run side by side (pytest -n 2),
the processes share one trained folder: the first to need it trains it under a lock, the others wait and read it
(tests/conftest.py says where: in the session's temporary folder, which pytest removes a few sessions later).
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

HAM = ["Are we still on for lunch at {n} with {name}?", "Sorry {name}, running {n} minutes late",
       "Can you pick up {thing} on the way home", "Happy birthday {name}! Hope you have a lovely day",
       "I'll call you back after the {thing} meeting", "Did {name} finish the report for {n} o'clock?",
       "Thanks for the {thing} last night, it was great", "The train is delayed again, home by {n}"]
SPAM = ["WINNER!! {name}, you have won a £{n}00 prize. Call 0906{n}123 now to claim",
        "FREE {thing} for you! Text WIN to 8{n}123 to enter", "URGENT {name}: your account is locked, verify at bit.ly/{n}x",
        "Congratulations, you are selected for a {thing} reward of ${n}000. Reply YES"]
NAMES = ["Sam", "Priya", "Tom", "Ana", "Li", "Omar", "Kate", "Joe"]
THINGS = ["milk", "pizza", "budget", "phone", "ticket", "holiday", "camera", "dinner"]


def messages(count: int, templates: list[str], rng: random.Random) -> list[str]:
    """`count` different messages from the templates (ingestion drops duplicates, so they must differ)."""
    found: set[str] = set()
    while len(found) < count:
        found.add(rng.choice(templates).format(n=rng.randint(1, 99), name=rng.choice(NAMES), thing=rng.choice(THINGS)))
    return sorted(found)


@dataclass(frozen=True)
class TrainedHome:
    home: Path  # the data folder holding the database, dataset and run
    run_id: int
    result: dict  # what `python -m core train --json` printed
    data: Path  # the uploaded file or folder the dataset came from


SCRATCH: Path | None = None  # set by tests/conftest.py for the session; a fresh temporary folder otherwise


def scratch() -> Path:
    global SCRATCH
    if SCRATCH is None:
        SCRATCH = Path(tempfile.mkdtemp(prefix="tuneboard-finished-runs-"))
        atexit.register(shutil.rmtree, SCRATCH, True)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return SCRATCH


def trained_once(name: str, train: Callable[[Path], tuple[Path, Path, dict]]) -> TrainedHome:
    """`train(folder)` -> (data, home, CLI result), run by the first process of the session that needs it."""
    folder = scratch() / name
    with (scratch() / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = folder / "trained.json"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a half-made folder from a process that died
            folder.mkdir(parents=True)
            data, home, result = train(folder)
            done.write_text(json.dumps({"data": str(data), "home": str(home), "result": result}))
        made = json.loads(done.read_text())
    return TrainedHome(Path(made["home"]), made["result"]["run_id"], made["result"], Path(made["data"]))


def train_with_cli(data: Path, home: Path, *args: str) -> dict:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "core", "train", "--data", str(data), "--json", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@functools.cache
def text_run() -> TrainedHome:
    """tiny-bert, full fine-tuning, 1 epoch, on 160 short messages: 120 ham, 40 spam."""
    def train(folder: Path) -> tuple[Path, Path, dict]:
        rng = random.Random(7)
        rows = [(text, "ham") for text in messages(120, HAM, rng)] + [(text, "spam") for text in messages(40, SPAM, rng)]
        rng.shuffle(rows)
        data = folder / "messages.csv"
        with data.open("w", encoding="utf-8") as f:
            f.write("message,category\n")
            f.writelines('"{}",{}\n'.format(text.replace('"', '""'), label) for text, label in rows)
        home = folder / "text_home"
        return data, home, train_with_cli(data, home, "--model", "tiny-bert", "--method", "full", "--epochs", "1")

    return trained_once("text_run", train)


@functools.cache
def image_run() -> TrainedHome:
    """tiny-image, full fine-tuning, 1 epoch, on 40 small drawings in two class folders."""
    def train(folder: Path) -> tuple[Path, Path, dict]:
        from PIL import Image, ImageDraw

        rng = random.Random(3)
        data = folder / "bugs"
        for label, colour in (("ants", (150, 60, 20)), ("bees", (240, 200, 30))):
            (data / label).mkdir(parents=True)
            for i in range(20):
                image = Image.new("RGB", (48, 40), (rng.randint(60, 120),) * 3)
                x, y = rng.randint(0, 24), rng.randint(0, 16)
                ImageDraw.Draw(image).ellipse((x, y, x + 20, y + 20), fill=colour)
                image.save(data / label / f"{label}_{i}.png")
        home = folder / "image_home"
        return data, home, train_with_cli(data, home, "--model", "tiny-image", "--method", "full", "--epochs", "1")

    return trained_once("image_run", train)


def use_run(trained: TrainedHome, home: Path) -> int:
    """Copy a trained data folder into `home` (a test's TUNEBOARD_HOME) and return the run id."""
    from storage.db import reset_engines

    reset_engines()
    shutil.copytree(trained.home, home, dirs_exist_ok=True)
    return trained.run_id


def build_queued_exports() -> None:
    """A real worker, as `python -m core worker --once` runs: it builds the exports queued in TUNEBOARD_HOME, stops."""
    from core.jobs.worker import Worker, WorkerSettings

    assert Worker(WorkerSettings(once=True, poll_seconds=0.1, heartbeat_seconds=0.5)).run() == 0
