"""Bookkeeping overhead, measured through the real worker and the real page.

1) Database bookkeeping during training: one LoRA run on SMS texts queued with `python -m core train
   --background` and trained by `python -m core worker --once` in a fresh data folder. The share is the time
   spent inside the run's DbReporter calls (progress rows, curve points, log lines, cancel checks) divided by
   the time inside the training function, as the run's log records it; the worker's own CPU time (claims,
   heartbeats, cancel polling) over its wall time while the child trained is shown beside it.
2) Watching a run: training steps per second of a LoRA run on SMS spam, trained by the worker that the real app
   (`streamlit run app.py`) starts, with no browser on the app, with Home open (only the sidebar's run notice
   looks again, every 5 s: pages/shared/run_notice.py) and with the Runs page open in headless Chromium
   (it refreshes itself every 2 s), read from the run's row. Needs Chromium and Playwright (as the browser test).
3) Runs page render time: the page script run by Streamlit's AppTest (server side: queries, frames, charts)
   with 10 finished runs (the baseline) and with 1,000, each run with a 100-point loss curve and per-epoch
   validation points, the newest run selected. Median of several renders.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import ROOT, SMS, launch_chromium, markdown_table, require, verdict, wait_for_app
from storage.paths import RunFiles

TARGET_SHARE_PERCENT = 1.0
RENDERS = 5


def bookkeeping(rows: int, method: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-overhead-") as scratch:
        home = Path(scratch)
        env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        data = home / "sms.tsv"
        lines = require(SMS).read_text(encoding="utf-8").splitlines(keepends=True)
        data.write_text("".join(lines[: rows + 1]), encoding="utf-8")
        queued = subprocess.run([sys.executable, "-m", "core", "train", "--data", str(data), "--method", method,
                                 "--preset", "quick", "--background"], cwd=ROOT, env=env, capture_output=True,
                                text=True, check=True)
        run_id = int(queued.stdout.strip())
        worker = subprocess.Popen([sys.executable, "-m", "core", "worker", "--once"], cwd=ROOT, env=env,
                                  stderr=subprocess.DEVNULL)
        process = psutil.Process(worker.pid)
        supervising_from: tuple[float, float] | None = None  # (time, worker CPU) when the training child appeared
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
        log = RunFiles(home / "runs" / str(run_id)).log.read_text()
        found = re.search(r"Finished in ([\d.]+) s; database bookkeeping took ([\d.]+) s", log)
        if not found:
            raise RuntimeError(f"the run did not finish: {log[-1500:]}")
        train_wall, reporter = float(found.group(1)), float(found.group(2))
        listed = json.loads(subprocess.run([sys.executable, "-m", "core", "runs", "--json"], cwd=ROOT, env=env,
                                           capture_output=True, text=True, check=True).stdout)
    return {"rows": rows, "method": method, "status": listed[0]["status"], "train_function_seconds": train_wall,
            "reporter_seconds": reporter, "reporter_share_percent": round(100 * reporter / train_wall, 3),
            "worker_supervising_seconds": round(supervised[0], 1),
            "worker_supervising_cpu_seconds": round(supervised[1], 3),
            "worker_share_percent": round(100 * supervised[1] / max(supervised[0], 1e-9), 3)}


def watching_cost(seconds: float) -> dict[str, Any]:
    """Steps/s of a training run with no page open, with the Runs page open, and closed again."""
    import shutil
    import signal
    import socket

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no Chromium on this machine (install Debian's chromium package)"}
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-watch-") as scratch:
        home = Path(scratch)
        os.environ["TUNEBOARD_HOME"] = str(home)
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("TUNEBOARD_NO_WORKER", None)
        subprocess.run([sys.executable, "-m", "core", "train", "--data", str(require(SMS)), "--method", "lora",
                        "--epochs", "5", "--background"], cwd=ROOT, env=env, check=True, capture_output=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        from storage.db import reset_engines
        from storage.runs import get_run
        from storage.workers import alive_workers

        reset_engines()

        def rate() -> float:
            first, start = get_run(1).step, time.monotonic()
            time.sleep(seconds)
            return (get_run(1).step - first) / (time.monotonic() - start)

        try:
            wait_for_app(url, 60)
            with sync_playwright() as p:
                browser = launch_chromium(p, chromium)
                page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                page.goto(url)  # the first visit starts the app's worker
                deadline = time.monotonic() + 300
                while get_run(1).step < 20 and time.monotonic() < deadline:  # into the training steps
                    time.sleep(2)
                page.goto("about:blank")
                time.sleep(5)
                closed = rate()
                page.goto(url)  # Home: only the sidebar's run notice looks again, every few seconds
                time.sleep(10)
                notice = rate()
                page.goto(f"{url}/runs")
                time.sleep(10)
                watched = rate()
                page.goto("about:blank")
                time.sleep(5)
                closed_again = rate()
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            for worker in alive_workers():
                try:
                    os.killpg(worker.pid, signal.SIGTERM)
                except OSError:
                    pass
            reset_engines()
    unwatched = (closed + closed_again) / 2
    return {"steps_per_second_unwatched": round(unwatched, 3), "steps_per_second_watched": round(watched, 3),
            "slowdown_percent": round(100 * (1 - watched / unwatched), 1), "seconds_each": seconds,
            "steps_per_second_notice": round(notice, 3), "notice_slowdown_percent": round(100 * (1 - notice / unwatched), 1),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def seed_runs(count: int) -> int:
    """`count` finished runs with curves, as a long-used installation would hold. Returns the newest id."""
    from sqlalchemy import insert

    from storage.db import session_factory
    from storage.models import Dataset, MetricPoint, Run, utcnow

    metrics = {"accuracy": 0.97, "macro_f1": 0.94, "per_class": {}, "confusion_matrix": {"labels": [], "matrix": []}}
    with session_factory().begin() as s:
        dataset = Dataset(name="sms", task="text", labels=["ham", "spam"], num_examples=5000,
                          split_counts={"train": 4000, "val": 500, "test": 500})
        s.add(dataset)
        s.flush()
        now = utcnow()
        runs = [dict(dataset_id=dataset.id, name=f"lora · minilm #{i}", status="succeeded", progress=1.0,
                     config={"model": "minilm", "method": "lora", "preset": "quick"}, metrics=metrics,
                     created_at=now, started_at=now, finished_at=now, train_seconds=60.0, message="Finished")
                for i in range(count)]
        ids = list(s.scalars(insert(Run).returning(Run.id), runs))
        points = [dict(run_id=run_id, step=step, epoch=step / 50, name="train_loss", value=1.0 / step)
                  for run_id in ids for step in range(1, 101)]
        points += [dict(run_id=run_id, step=50 * epoch, epoch=float(epoch), name=name, value=0.9)
                   for run_id in ids for epoch in (1, 2) for name in ("val_accuracy", "val_macro_f1", "val_loss")]
        s.execute(insert(MetricPoint), points)
    return max(ids)


def render_seconds(newest: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    timings = []
    for _ in range(RENDERS + 1):  # the first render imports and warms caches: not counted
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.query_params["run"] = str(newest)
        start = time.perf_counter()
        at.switch_page("pages/runs.py").run()
        timings.append(time.perf_counter() - start)
        if at.exception:
            raise RuntimeError(f"the Runs page failed: {at.exception[0].value}")
    return timings[1:]


def runs_page(counts: tuple[int, ...]) -> list[dict[str, Any]]:
    from storage.db import reset_engines

    out = []
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="tuneboard-bench-runs-") as home:
            os.environ["TUNEBOARD_HOME"] = home
            os.environ["TUNEBOARD_NO_WORKER"] = "1"  # the page, not a worker starting beside it
            reset_engines()
            newest = seed_runs(count)
            timings = render_seconds(newest)
            out.append({"runs": count, "median_seconds": round(statistics.median(timings), 3),
                        "max_seconds": round(max(timings), 3), "renders": len(timings)})
            reset_engines()
    return out


def run(quick: bool) -> dict[str, Any]:
    book = bookkeeping(rows=400 if quick else 1500, method="lora")
    watching = watching_cost(seconds=12 if quick else 40)
    pages = runs_page((10, 1000))
    return {"bookkeeping": book, "watching": watching, "runs_page": pages, "target_share_percent": TARGET_SHARE_PERCENT,
            "target_met": book["reporter_share_percent"] < TARGET_SHARE_PERCENT}


def table(result: dict[str, Any]) -> str:
    b = result["bookkeeping"]
    pages = result["runs_page"]
    return "\n".join([
        markdown_table(["run", "training function s", "DbReporter s", "share", "worker CPU s while supervising",
                        "worker share"],
                       [[f"{b['method']} Quick, {b['rows']:,} SMS texts ({b['status']})", b["train_function_seconds"],
                         b["reporter_seconds"], f"{b['reporter_share_percent']:.3f}%",
                         f"{b['worker_supervising_cpu_seconds']} of {b['worker_supervising_seconds']} s",
                         f"{b['worker_share_percent']:.3f}%"]]),
        "",
        f"Target: bookkeeping under {result['target_share_percent']:.0f}% of training time — "
        f"{verdict(result['target_met'])}.",
        "",
        *_watching_lines(result.get("watching")),
        markdown_table(["finished runs in the database", "Runs page render, median s", "slowest s", "renders"],
                       [[f"{p['runs']:,}" + (" (baseline)" if i == 0 else ""), p["median_seconds"], p["max_seconds"],
                         p["renders"]] for i, p in enumerate(pages)]),
        "",
        "Render = the page script run by Streamlit's AppTest on the server (database queries, tables, charts), "
        "with the newest run selected; the browser's drawing is not included.",
    ])


def _watching_lines(watching: dict[str, Any] | None) -> list[str]:
    if not watching:
        return []
    if "skipped" in watching:
        return [f"Watching a run: not measured ({watching['skipped']}).", ""]
    return [markdown_table(["LoRA on SMS spam, trained by the app's worker", "steps/s"], [
        ["no browser on the app (mean of before and after)", watching["steps_per_second_unwatched"]],
        *([["Home open: only the sidebar's run notice, looking every 5 s", watching["steps_per_second_notice"]]]
          if "steps_per_second_notice" in watching else []),
        ["the Runs page open, refreshing itself every 2 s (and the notice)", watching["steps_per_second_watched"]],
    ]), "", f"Watching the run costs it {watching['slowdown_percent']:.0f}% of its speed ({watching['seconds_each']:.0f} s "
        "each)" + (f"; the notice alone, on any other page, {watching['notice_slowdown_percent']:.0f}%"
                   if "notice_slowdown_percent" in watching else "") + ". With Streamlit's file watcher on (its default), the same measurement gave 2.6 against 0.3 steps/s: "
        "the watcher re-walked every library file under .venv after each refresh, so .streamlit/config.toml turns it "
        "off.", ""]


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
