"""What every benchmark shares: where the real data is, how the machine is described, how a table is written,
and how a training run is timed the way a user waits for it (the command line, in a fresh data folder).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from storage.paths import RunFiles

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SMS = SHARED / "sms_spam" / "SMSSpamCollection.tsv"
ANTS_BEES = SHARED / "hymenoptera"


class MissingData(RuntimeError):
    """A benchmark's data set is not on this machine (../shared/datasets is not part of the repository)."""


def require(path: Path) -> Path:
    if not path.exists():
        raise MissingData(f"{path} is missing; the benchmarks read the real data sets from ../shared/datasets.")
    return path


def read_sms() -> pd.DataFrame:
    """The SMS collection as the app reads it: 5,574 rows. Its quote marks are text: pandas' default quoting would
    join the lines between two of them (5,572 rows)."""
    return pd.read_csv(require(SMS), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)


def sms_sample(rows: int | None, folder: Path) -> Path:
    """A stratified sample of `rows` SMS messages (all of them for None), written as a user would upload it."""
    frame = read_sms()
    if rows and rows < len(frame):
        frame = frame.groupby("Label", group_keys=False).sample(frac=rows / len(frame), random_state=0)
    path = folder / f"sms_{len(frame)}.tsv"
    frame.to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_NONE)
    return path


def machine() -> dict[str, Any]:
    """Cores, GPU and the load at the start: a busy machine makes every absolute speed lower."""
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    cpu_model = ""
    try:
        cpu_model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu_model = platform.processor()
    return {"cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu": cpu_model, "gpu": gpu, "python": platform.python_version(), "date": date.today().isoformat(),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def machine_line(info: dict[str, Any]) -> str:
    gpu = f"GPU {info['gpu']}" if info.get("gpu") else "no GPU"
    return (f"{info['cores']} cores ({info.get('cpu') or 'CPU'}), {gpu}, Python {info['python']}, {info['date']}, "
            f"load average {info['load_average_1min']} at the start")


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


@dataclass
class CliRun:
    """One `python -m core train ... --json` as a user runs it: wall time includes start-up and model loading."""

    wall_seconds: float
    result: dict[str, Any]
    log: str


def train_with_cli(home: Path, data: Path, *args: str) -> CliRun:
    """Train through the real command line in the data folder `home` (fresh: no cached features or baselines)."""
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "core", "train", "--data", str(data), *args, "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"training failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    log_file = RunFiles(home / "runs" / str(result["run_id"])).log
    return CliRun(wall, result, log_file.read_text() if log_file.exists() else "")


def minority_f1(metrics: dict[str, Any]) -> tuple[str, float]:
    """The F1 of the rarest class (spam in SMS spam): accuracy alone hides it."""
    per_class = metrics["per_class"]
    label = min(per_class, key=lambda k: per_class[k]["support"])
    return label, per_class[label]["f1"]


def wait_for_app(url: str, seconds: float) -> None:
    """Until the Streamlit server at url answers its health check (or `seconds` pass: the next step then fails)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)


def launch_chromium(playwright, chromium: str):
    """Headless Chromium as the benchmarks drive it: nothing of its own in the background to blur the timings."""
    return playwright.chromium.launch(executable_path=chromium, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])
