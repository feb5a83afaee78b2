"""Warm single-text prediction latency of a finished run, as the Predict page experiences it.

    .venv/bin/python bench/predict_latency.py                      # trains a MiniLM run on SMS data first
    TUNEBOARD_HOME=... .venv/bin/python bench/predict_latency.py --run 7   # an existing finished run
    .venv/bin/python bench/predict_latency.py --busy                # while a training run uses the CPU
    .venv/bin/python bench/predict_latency.py --all-threads         # torch's default threads, for comparison

Without --run, a MiniLM head-only run (the default text model; max_length from the run's preset) is
trained through the real command line on a stratified sample of the SMS spam collection in a temporary
data folder. Then the run is loaded once (`core.inference.load_predictor`, as the page's cache does),
warmed up, and 200 different real SMS texts are predicted one at a time through
`core.predict_service.predict_one` — the call the page makes. The weights' values do not change the cost,
so any finished MiniLM run gives the same timings. With --busy, a MiniLM full fine-tuning run trains in a
background process (through the same command line) while the predictions are timed: the usual situation
when someone tries a model while the next one trains.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMS = ROOT.parent / "shared" / "datasets" / "sms_spam" / "SMSSpamCollection.tsv"
TARGET_P95_MS = 50.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    position = share * (len(ordered) - 1)  # linear interpolation between the closest ranks
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def sms_texts() -> tuple[list[str], list[str]]:
    import pandas as pd

    frame = pd.read_csv(SMS, sep="\t", dtype=str, keep_default_na=False)
    return frame["SMS"].tolist(), frame["Label"].tolist()


def sms_sample(home: Path, rows: int) -> Path:
    """A stratified sample of the SMS collection, written as an upload would be."""
    import pandas as pd

    frame = pd.read_csv(SMS, sep="\t", dtype=str, keep_default_na=False)
    sample = frame.groupby("Label", group_keys=False).sample(frac=rows / len(frame), random_state=0)
    data = home / "sms_sample.tsv"
    sample.to_csv(data, sep="\t", index=False)
    return data


def train_command(data: Path, method: str, epochs: int) -> list[str]:
    return [sys.executable, "-m", "core", "train", "--data", str(data), "--model", "minilm", "--method", method,
            "--epochs", str(epochs), "--json"]


def train_minilm_run(home: Path, train_rows: int) -> int:
    """A MiniLM head-only run on a stratified sample of the SMS data; returns its run id."""
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(train_command(sms_sample(home, train_rows), "head", 1),
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["run_id"]


def start_background_training(home: Path) -> subprocess.Popen:
    """A MiniLM full fine-tuning run in its own process, to keep the CPU busy while predictions are timed."""
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(train_command(sms_sample(home, 2000), "full", 5), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(20)  # past model loading and tokenising: into the training steps
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=int, help="A finished run in TUNEBOARD_HOME (default: train a MiniLM run).")
    parser.add_argument("--predictions", type=int, default=200, help="Timed single-text predictions.")
    parser.add_argument("--warmup", type=int, default=10, help="Untimed predictions first.")
    parser.add_argument("--train-rows", type=int, default=600, help="SMS rows sampled when training a run.")
    parser.add_argument("--busy", action="store_true", help="Time while a training run uses the CPU.")
    parser.add_argument("--all-threads", action="store_true",
                        help="Let torch use every CPU thread (the page uses predict_service.SINGLE_INPUT_THREADS).")
    args = parser.parse_args()

    scratch = None
    if args.run is None:
        scratch = tempfile.TemporaryDirectory(prefix="tuneboard-bench-")
        os.environ["TUNEBOARD_HOME"] = scratch.name
        start = time.perf_counter()
        run_id = train_minilm_run(Path(scratch.name), args.train_rows)
        print(f"trained run {run_id} (minilm, head) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    else:
        run_id = args.run

    import torch

    from core.inference import load_predictor
    from core.predict_service import SINGLE_INPUT_THREADS, predict_one
    from storage.results import run_result

    run = run_result(run_id)
    start = time.perf_counter()
    predictor = load_predictor(run.output_dir)
    load_seconds = time.perf_counter() - start

    texts, _ = sms_texts()
    step = max(1, len(texts) // (args.predictions + args.warmup))
    chosen = texts[::step][: args.predictions + args.warmup]  # spread over the file: short and long messages
    threads = None if args.all_threads else SINGLE_INPUT_THREADS
    busy_scratch = tempfile.TemporaryDirectory(prefix="tuneboard-bench-busy-") if args.busy else None
    background = start_background_training(Path(busy_scratch.name)) if busy_scratch else None
    for text in chosen[: args.warmup]:
        predict_one(predictor, text, run.labels, run.threshold, threads)
    timed = chosen[args.warmup:]
    latencies_ms = []
    for text in timed:
        start = time.perf_counter()
        predict_one(predictor, text, run.labels, run.threshold, threads)
        latencies_ms.append((time.perf_counter() - start) * 1000)
    if background is not None:
        still_training = background.poll() is None
        background.terminate()
        background.wait()
        if not still_training:
            print("warning: the background training ended before the timing did", file=sys.stderr)

    tokens = [len(predictor.tokenizer(t, truncation=True, max_length=predictor.max_length or 128)["input_ids"])
              for t in timed]
    report = {
        "run": run_id, "model": run.model, "method": run.method, "max_length": predictor.max_length,
        "predictions": len(latencies_ms), "load_seconds": round(load_seconds, 2),
        "p50_ms": round(percentile(latencies_ms, 0.50), 1), "p95_ms": round(percentile(latencies_ms, 0.95), 1),
        "p99_ms": round(percentile(latencies_ms, 0.99), 1), "mean_ms": round(statistics.fmean(latencies_ms), 1),
        "max_ms": round(max(latencies_ms), 1),
        "tokens_median": int(statistics.median(tokens)), "tokens_max": max(tokens),
        "threads_per_prediction": threads or torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2), "busy": args.busy, "machine": platform.machine(),
        "target_p95_ms": TARGET_P95_MS,
    }
    print(json.dumps(report, indent=2))
    for folder in (scratch, busy_scratch):
        if folder is not None:
            folder.cleanup()
    return 0 if report["p95_ms"] < TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
