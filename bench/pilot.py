"""Pilot-size data with Quick and every other setting left as the Train page leaves it: the default model of the task
and the default method, "Fastest good model" (core/methods/quick_choice.py: head only first, LoRA only when head
only falls short on validation). Does a good model come in under 10 minutes on this machine, and how much sooner
than LoRA Quick alone (the default before), at what accuracy?

- digits: 5,000 28-px grey digits in 10 classes, built offline by bench/digits.py (4,000 in train/, which Tuneboard
  splits into training and validation; 1,000 held out in test/). Target: under 10 minutes, >= 90% test accuracy.
- fortunes: 11k texts in 26 overlapping classes. Target: under 10 minutes, its accuracy beside a bag-of-words
  baseline's (TF-IDF of words and word pairs + logistic regression, fitted on the same training split, scored on
  the same test split).
- SMS spam (all 5,574) and ants/bees (398 photos): where a frozen backbone already separates the classes.

Each run is estimated as the Train page does (a probe of real steps) and trained by a real worker
(`python -m core worker --once`, once per run of the chain). Time to the final model: the first run claimed to the
last saved. Where the chain ends at head only, LoRA Quick alone is trained as well for the comparison; where LoRA
follows, the chain's LoRA run is that same run (same settings and seed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ANTS_BEES, ROOT, SMS, markdown_table, require, verdict
from bench.estimates import FORTUNES, one_case

TARGET_SECONDS, TARGET_DIGITS_ACCURACY = 600, 0.90


def bag_of_words_accuracy(dataset_id: int) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from core.datasets.files import read_examples
    from core.datasets.store import dataset_dir
    from storage.datasets import get_dataset

    frame = read_examples(dataset_dir(get_dataset(dataset_id)))
    train, test = frame[frame["split"] != "test"], frame[frame["split"] == "test"]  # training and validation texts
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                          LogisticRegression(max_iter=2000, C=10.0))
    model.fit(train["input"], train["label"])
    return float((model.predict(test["input"]) == test["label"]).mean())


def run_summary(run) -> dict[str, Any]:
    from storage.results import best_validation_f1

    return {"id": run.id, "method": run.config["method"],
            "wall_seconds": (run.finished_at - run.started_at).total_seconds(),
            "estimated_seconds": (run.estimate or {}).get("seconds"),
            "val_macro_f1": best_validation_f1(run.id),
            "accuracy": run.metrics["accuracy"], "macro_f1": run.metrics["macro_f1"],
            "image_size": (run.training or {}).get("image_size")}


def default_chain(path: Path, model: str) -> dict[str, Any]:
    """The Train page's defaults launched once; a worker trains the run and whatever follows it."""
    from core.datasets.store import register_path
    from core.jobs.submit import run_estimate
    from core.methods.quick_choice import first_run
    from core.run_config import RunConfig
    from storage.datasets import get_dataset
    from storage.run_requests import enqueue
    from storage.runs import get_run, list_runs

    dataset = get_dataset(register_path(path))
    config = first_run(RunConfig(model=model, preset="quick"))
    estimate = run_estimate(dataset, config)  # the probe, as the Train page runs it before launch
    enqueue(dataset.id, config.to_dict(), name=f"{config.method} · {model}", estimate=estimate)
    # `worker --once` trains until the queue is empty: the run and whatever it queued after it.
    subprocess.run([sys.executable, "-m", "core", "worker", "--once"], cwd=ROOT, capture_output=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    runs = sorted((get_run(r.id) for r in list_runs() if r.dataset_id == dataset.id), key=lambda r: r.id)
    failed = [r for r in runs if r.status != "succeeded"]
    if failed:
        raise RuntimeError(f"run {failed[0].id} ({path.name}) {failed[0].status}: {failed[0].error}")
    return {"dataset_id": dataset.id, "runs": [run_summary(r) for r in runs],
            "seconds_to_final": (runs[-1].finished_at - runs[0].started_at).total_seconds()}


def run(quick: bool) -> dict[str, Any]:
    from bench.digits import make_digits

    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-pilot-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    os.environ["TUNEBOARD_ESTIMATE"] = "probe"
    cases = [("SMS spam (5,574 texts, 2 classes)", require(SMS), "minilm"),
             ("ants/bees (398 photos, 2 classes)", require(ANTS_BEES), "efficientnet-lite0")]
    if not quick:
        cases += [("digits (5,000 28-px images, 10 classes)", make_digits(home / "digits"), "efficientnet-lite0"),
                  ("fortunes (11k texts, 26 classes)", require(FORTUNES), "minilm")]
    rows = []
    for name, path, model in cases:
        row = {"data": name, "model": model, **default_chain(path, model)}
        final = row["runs"][-1]
        if final["method"] == "lora":  # the chain's LoRA run is LoRA Quick alone: the same settings and seed
            row["lora_alone"] = {"wall_seconds": final["wall_seconds"], "accuracy": final["accuracy"],
                                 "macro_f1": final["macro_f1"]}
        else:
            alone = one_case(name, path, model, "lora")
            row["lora_alone"] = {"wall_seconds": alone["wall_seconds"], "accuracy": alone["accuracy"],
                                 "macro_f1": alone["macro_f1"]}
        if "fortunes" in name:
            row["bag_of_words_accuracy"] = bag_of_words_accuracy(row["dataset_id"])
        rows.append(row)
    return {"rows": rows, "target_seconds": TARGET_SECONDS, "target_digits_accuracy": TARGET_DIGITS_ACCURACY}


def _chain_text(runs: list[dict[str, Any]]) -> str:
    first = runs[0]
    text = f"head only: {first['wall_seconds']:.0f} s, validation macro-F1 {first['val_macro_f1']:.3f}"
    return text + (f"; LoRA followed: {runs[1]['wall_seconds']:.0f} s" if len(runs) > 1 else "; nothing followed")


def table(result: dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        final, alone = r["runs"][-1], r["lora_alone"]
        fast = r["seconds_to_final"] < result["target_seconds"]
        good = final["accuracy"] >= result["target_digits_accuracy"] if "digits" in r["data"] else True
        rows.append([r["data"], _chain_text(r["runs"]), final["image_size"] or "–", f"{r['seconds_to_final']:.0f}",
                     f"{final['accuracy']:.3f} / {final['macro_f1']:.3f}",
                     f"{alone['wall_seconds']:.0f}", f"{alone['accuracy']:.3f} / {alone['macro_f1']:.3f}",
                     f"{r['bag_of_words_accuracy']:.3f}" if "bag_of_words_accuracy" in r else "–",
                     verdict(fast and good)])
    return "\n".join([
        markdown_table(["data", "Fastest good model (the default): what ran", "image px",
                        "s to the final model (first claimed to last saved)", "final test accuracy / macro-F1",
                        "LoRA Quick alone (the default before): s", "its test accuracy / macro-F1",
                        "bag-of-words accuracy", "target"], rows),
        "",
        f"Default model of each task, Quick preset. Targets: the final model in under "
        f"{result['target_seconds'] // 60} minutes; digits at least {result['target_digits_accuracy']:.0%} on the "
        "1,000 held-out images. Head only's validation macro-F1 decides whether LoRA follows (below 0.90).",
    ])
