"""What the job queue's bookkeeping costs a real training run, measured through the real worker.

    .venv/bin/python bench/job_overhead.py [--rows 1500] [--method lora] [--preset quick]

Queues one run on the first ROWS messages of the SMS spam data in a fresh data folder, trains it with
`python -m core worker --once`, and reports:
  * reporter share: time inside DbReporter calls (progress rows, curve points, log lines, cancel checks)
    divided by the time inside the training function, as the run's log records it;
  * worker share: CPU time of the worker process itself (claims, heartbeats, cancel polling) divided by
    its wall time, overall and while the training child ran.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SMS = ROOT.parent / "shared" / "datasets" / "sms_spam" / "SMSSpamCollection.tsv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--method", default="lora")
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tuneboard-overhead-"))
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    data = home / "sms.tsv"
    data.write_text("".join(SMS.read_text(encoding="utf-8").splitlines(keepends=True)[: args.rows + 1]), encoding="utf-8")

    queued = subprocess.run([sys.executable, "-m", "core", "train", "--data", str(data), "--method", args.method,
                             "--preset", args.preset, "--background"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=True)
    run_id = int(queued.stdout.strip())
    started = time.monotonic()
    worker = subprocess.Popen([sys.executable, "-m", "core", "worker", "--once"], cwd=ROOT, env=env,
                              stderr=subprocess.DEVNULL)
    process, cpu = psutil.Process(worker.pid), 0.0
    supervising_from: tuple[float, float] | None = None  # (time, cpu) when the training child appeared
    supervised = (0.0, 0.0)
    while worker.poll() is None:
        try:
            times = process.cpu_times()
            cpu = times.user + times.system
            if process.children():
                supervising_from = supervising_from or (time.monotonic(), cpu)
                supervised = (time.monotonic() - supervising_from[0], cpu - supervising_from[1])
        except psutil.Error:
            break
        time.sleep(0.5)
    wall = time.monotonic() - started
    log = (home / "runs" / str(run_id) / "train.log").read_text()
    found = re.search(r"Finished in ([\d.]+) s; database bookkeeping took ([\d.]+) s", log)
    if not found:
        print(log[-2000:], file=sys.stderr)
        return 1
    train_wall, reporter = float(found.group(1)), float(found.group(2))
    runs = json.loads(subprocess.run([sys.executable, "-m", "core", "runs", "--json"], cwd=ROOT, env=env,
                                     capture_output=True, text=True, check=True).stdout)
    print(json.dumps({
        "rows": args.rows, "method": args.method, "preset": args.preset, "status": runs[0]["status"],
        "accuracy": runs[0]["accuracy"], "train_function_seconds": train_wall, "reporter_seconds": reporter,
        "reporter_share_percent": round(100 * reporter / train_wall, 3),
        "worker_cpu_seconds": round(cpu, 3), "worker_wall_seconds": round(wall, 1),
        "worker_share_percent": round(100 * cpu / wall, 3),
        # the same while a child trained (leaves out the worker's own start-up imports)
        "worker_supervising_cpu_seconds": round(supervised[1], 3), "worker_supervising_seconds": round(supervised[0], 1),
        "worker_supervising_share_percent": round(100 * supervised[1] / max(supervised[0], 1e-9), 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
