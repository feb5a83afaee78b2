"""What an open page costs the machine while a run is live: the CPU time the app's server and the browser use per
second of wall time, with no page open, with Home open (only the sidebar's run notice looks again, every 5 s:
pages/shared/run_notice.py) and with the Runs page open (it redraws its table and the selected run every 2 s).

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.notice_cost [--seconds 30]

CPU seconds, not training steps: on a shared machine the steps a run makes in a minute move with everyone else's
load (bench/overhead.py's watching_cost measured 0.05 steps/s in every state at a load average of 19), while the
CPU time the server and the browser take is theirs alone, and on a CPU-bound machine it is what training loses:
0.05 CPU s per second on a 2-core machine is about 2.5% of its capacity. A run is queued with no worker
(TUNEBOARD_NO_WORKER=1), so the pages behave as during training (the notice ticks, Runs refreshes) while nothing
else of Tuneboard uses the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil

from bench.common import ROOT, SMS, launch_chromium, require, wait_for_app

STATES = {"no page open": None, "Home open (the run notice only)": "", "Runs open (2 s refresh and the notice)": "runs"}


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its children, now."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def measure(seconds: float) -> dict[str, Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no Chromium on this machine (install Debian's chromium package)"}
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-notice-") as scratch:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEBOARD_HOME": scratch, "TUNEBOARD_NO_WORKER": "1"}
        subprocess.run([sys.executable, "-m", "core", "train", "--data", str(require(SMS)), "--method", "head",
                        "--background"], cwd=ROOT, env=env, check=True, capture_output=True)  # queued, never trained
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_app(url, 120)
            with sync_playwright() as p:
                browser = launch_chromium(p, chromium)
                browser_pid = next((c.pid for c in psutil.Process().children(recursive=True)
                                    if "chrom" in c.name().lower()), None)
                page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                page.goto(url)
                page.get_by_role("heading", name="Tuneboard").wait_for(timeout=120_000)  # imports done once
                for name, path in STATES.items():
                    page.goto("about:blank" if path is None else f"{url}/{path}")
                    time.sleep(8)  # the page drawn, its timers running
                    load = os.getloadavg()[0]
                    server_before, start = tree_cpu_seconds(server.pid), time.monotonic()
                    browser_before = tree_cpu_seconds(browser_pid) if browser_pid else 0.0
                    time.sleep(seconds)
                    wall = time.monotonic() - start
                    rows.append({"state": name, "server_cpu_per_s": round((tree_cpu_seconds(server.pid) - server_before) / wall, 4),
                                 "browser_cpu_per_s": round(((tree_cpu_seconds(browser_pid) if browser_pid else 0.0)
                                                             - browser_before) / wall, 4),
                                 "load_average": round(load, 2), "seconds": round(wall, 1)})
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return {"rows": rows, "cores": psutil.cpu_count()}


def table(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"Not measured: {result['skipped']}."
    lines = ["| while a run is queued or running | app server CPU s per s | browser CPU s per s | share of the "
             f"{result['cores']} cores (both) | load average |", "|---|---|---|---|---|"]
    for row in result["rows"]:
        both = row["server_cpu_per_s"] + row["browser_cpu_per_s"]
        lines.append(f"| {row['state']} | {row['server_cpu_per_s']:.3f} | {row['browser_cpu_per_s']:.3f} | "
                     f"{100 * both / result['cores']:.1f}% | {row['load_average']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    measured = measure(parser.parse_args().seconds)
    print(json.dumps(measured))
    print(table(measured))
