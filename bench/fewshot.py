"""Few examples per class: the few-shot method (SetFit recipe) against head only, LoRA and the zero-shot baseline.

For each data set (SMS spam, fortunes) a fixed random test sample is set aside first (--test-rows, seed 0); then
each draw (seeds 0..draws-1) picks k examples per class from the remaining rows as the training set. Every run
trains through `core.training.train_run` with the Quick preset on the bundled MiniLM, no validation split (there
is none to spare at this size: the head trains its planned epochs, LoRA its planned steps) and is scored on the
test sample. The zero-shot baseline (label names against texts, no training) depends only on the test sample,
so it is one number per data set.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.fewshot [--sizes 8,16] [--draws 5] [--test-rows 300] [--budget 60]
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench --only fewshot     # the full design, its table into docs/BENCHMARKS.md

Each finished run is kept in bench/results/.fewshot-progress.json, so a stopped benchmark goes on where it
stopped; --budget MINUTES starts no run after that long. The table goes to stdout and bench/results/fewshot.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import ROOT, SHARED, read_sms, require

FORTUNES = SHARED / "fortunes" / "fortunes.csv"
METHODS = ("fewshot", "head", "lora")
PROGRESS = ROOT / "bench" / "results" / ".fewshot-progress.json"
TABLE = ROOT / "bench" / "results" / "fewshot.md"


def load(name: str) -> pd.DataFrame:
    """(text, label) rows of a data set, as strings."""
    if name == "sms":
        frame = read_sms().rename(columns={"SMS": "text", "Label": "label"})
    else:
        frame = pd.read_csv(require(FORTUNES), dtype=str, keep_default_na=False).rename(columns={"category": "label"})
    return frame[["text", "label"]].reset_index(drop=True)


def test_sample(frame: pd.DataFrame, rows: int) -> np.ndarray:
    """Row numbers of the fixed test sample (seed 0): the same for every draw and method."""
    return np.sort(np.random.default_rng(0).choice(len(frame), size=min(rows, len(frame) // 2), replace=False))


def draw(frame: pd.DataFrame, test_rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k training rows per class from the rows outside the test sample."""
    rng = np.random.default_rng(seed)
    pool = frame.drop(index=test_rows)
    return np.concatenate([rng.choice(pool.index[pool["label"] == label].to_numpy(), size=k, replace=False)
                           for label in sorted(frame["label"].unique())])


def write_dataset(folder: Path, frame: pd.DataFrame, train_rows: np.ndarray, test_rows: np.ndarray) -> None:
    from core.datasets.files import COLUMNS, EXAMPLES_FILE

    folder.mkdir(parents=True, exist_ok=True)
    parts = [frame.loc[train_rows].assign(split="train"), frame.loc[test_rows].assign(split="test")]
    rows = pd.concat(parts).rename(columns={"text": "input"})
    rows["source"] = rows.index.astype(str)
    rows[COLUMNS].to_csv(folder / EXAMPLES_FILE, index=False)


def seed_zero_shot(folder: Path, labels: list[str], score: dict) -> None:
    """Every draw shares the test sample, so the zero-shot score a run records is the same each time: put it where
    train_run's cache looks (core.evaluation.baselines) instead of embedding the test sample again per draw."""
    import hashlib

    from core.evaluation.baselines import ZERO_SHOT_CACHE_VERSION
    from core.datasets.files import EXAMPLES_FILE
    from storage.paths import cache_dir

    digest = hashlib.sha256((folder / EXAMPLES_FILE).read_bytes())
    digest.update(json.dumps({"v": ZERO_SHOT_CACHE_VERSION, "labels": labels}).encode())
    path = cache_dir() / "baselines" / f"zero_shot_{digest.hexdigest()[:32]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(score))


def train_once(folder: Path, labels: list[str], method: str, seed: int) -> dict:
    from core.run_config import RunConfig
    from core.training import train_run
    from core.training.progress import NullReporter

    start = time.perf_counter()
    result = train_run(folder, labels, "text", RunConfig(model="minilm", method=method, preset="quick", seed=seed),
                       folder / f"run-{method}", NullReporter())
    shutil.rmtree(folder / f"run-{method}", ignore_errors=True)
    return {"macro_f1": result.metrics["macro_f1"], "accuracy": result.metrics["accuracy"],
            "train_seconds": result.train_seconds, "wall_seconds": round(time.perf_counter() - start, 2),
            "majority_macro_f1": result.metrics["baselines"]["majority"]["macro_f1"]}


def zero_shot(frame: pd.DataFrame, test_rows: np.ndarray, labels: list[str]) -> dict:
    from core.evaluation.baselines import zero_shot_baseline

    test = frame.loc[test_rows]
    ids = {label: i for i, label in enumerate(labels)}
    return zero_shot_baseline(test["text"].tolist(), np.array([ids[x] for x in test["label"]]), labels)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f} (one draw: no spread yet)"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f} (min {min(values):.3f}, n={len(values)})"


def runs_table(progress: dict) -> str:
    loads = progress.get("loads", [])
    lines = ["| data | per class | method | macro-F1 mean ± sd (min, draws) | training s (mean) | run wall s (mean) |",
             "|---|---|---|---|---|---|"]
    for key in sorted(progress.get("zero_shot", {})):
        lines.append(f"| {key} | any | zero-shot (no training) | {progress['zero_shot'][key]['macro_f1']:.3f} "
                     "(one test sample) | 0 | - |")
    runs = progress.get("runs", {})
    for data in ("sms", "fortunes"):
        for k in sorted({r["k"] for r in runs.values() if r["data"] == data}):
            for method in METHODS:
                rows = [r for r in runs.values() if r["data"] == data and r["k"] == k and r["method"] == method]
                if not rows:
                    continue
                lines.append(f"| {data} | {k} | {method} | {spread([r['macro_f1'] for r in rows])} | "
                             f"{statistics.mean(r['train_seconds'] for r in rows):.1f} | "
                             f"{statistics.mean(r['wall_seconds'] for r in rows):.1f} |")
            majority = [r["majority_macro_f1"] for r in runs.values() if r["data"] == data and r["k"] == k]
            lines.append(f"| {data} | {k} | majority class | {statistics.mean(majority):.3f} | 0 | - |")
    if loads:
        lines.append("")
        lines.append(f"Load average (1 min) when each run started: {min(loads):.1f} to {max(loads):.1f} "
                     f"(median {statistics.median(loads):.1f}) on {os.cpu_count()} cores.")
    return "\n".join(lines)


def measure(sizes: list[int], draws: int, test_rows_wanted: int, data: list[str], methods: list[str],
            budget_minutes: float | None, progress_file: Path | None = PROGRESS) -> dict:
    """Train every (size, draw, data set, method) not yet in the progress file; returns the progress (every run
    kept so far). Stops starting runs after `budget_minutes`."""
    os.environ.setdefault("TUNEBOARD_HOME", tempfile.mkdtemp(prefix="tb-fewshot-"))
    progress = json.loads(progress_file.read_text()) if progress_file and progress_file.is_file() else \
        {"runs": {}, "zero_shot": {}, "loads": []}
    progress["settings"] = {"test_rows": test_rows_wanted, "preset": "quick", "model": "minilm"}

    def keep() -> None:
        if progress_file:
            progress_file.parent.mkdir(parents=True, exist_ok=True)
            progress_file.write_text(json.dumps(progress, indent=1))

    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="fewshot-data-"))
    frames = {name: load(name) for name in data}
    for k in sizes:
        for seed in range(draws):
            for name, frame in frames.items():
                labels = sorted(frame["label"].unique())
                test_rows = test_sample(frame, test_rows_wanted)
                if name not in progress["zero_shot"]:
                    progress["zero_shot"][name] = zero_shot(frame, test_rows, labels)
                folder = work / f"{name}-{k}-{seed}"
                write_dataset(folder, frame, draw(frame, test_rows, k, seed), test_rows)
                seed_zero_shot(folder, labels, progress["zero_shot"][name])
                for method in methods:
                    key = f"{name}/{k}/{seed}/{method}"
                    if key in progress["runs"]:
                        continue
                    if budget_minutes is not None and time.monotonic() - start > budget_minutes * 60:
                        print(f"Budget spent; not started: {key} and later runs.", flush=True)
                        keep()
                        return progress
                    load_1 = os.getloadavg()[0]
                    row = {"data": name, "k": k, "seed": seed, "method": method, "load": load_1,
                           **train_once(folder, labels, method, seed)}
                    progress["runs"][key] = row
                    progress["loads"].append(load_1)
                    keep()
                    print(json.dumps(row), flush=True)
                shutil.rmtree(folder, ignore_errors=True)
    return progress


def run(quick: bool) -> dict:
    """`python -m bench --only fewshot`: the full design (5 draws of 8 and 16 per class, 300 test texts), going on
    from the progress file; --quick: one draw of 8 per class on SMS spam, from scratch."""
    if quick:
        return measure([8], 1, 100, ["sms"], list(METHODS), None, progress_file=None)
    return measure([8, 16], 5, 300, ["sms", "fortunes"], list(METHODS), None)


def table(result: dict) -> str:
    return runs_table(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,16")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--test-rows", type=int, default=300)
    parser.add_argument("--data", default="sms,fortunes")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budget", type=float, default=None, help="minutes; start no run after that long")
    parser.add_argument("--table", action="store_true", help="only print the table of the runs kept so far")
    args = parser.parse_args()
    if args.table:
        print(runs_table(json.loads(PROGRESS.read_text())))
        return
    progress = measure([int(x) for x in args.sizes.split(",")], args.draws, args.test_rows, args.data.split(","),
                       args.methods.split(","), args.budget)
    text = runs_table(progress)
    TABLE.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
