"""Pilot-size data sets with Quick and every other setting left as the Train page leaves it (the default model and
method of the task): does a first model finish in under 10 minutes on this machine, and is it good enough?

- digits: 5,000 28-px grey digits in 10 classes, built offline by bench/digits.py (4,000 in train/, which Tuneboard
  splits into training and validation; 1,000 held out in test/). Target: under 10 minutes, >= 90% test accuracy.
- fortunes: 11k texts in 26 overlapping classes. Target: under 10 minutes, its accuracy beside a bag-of-words
  baseline's (TF-IDF of words and word pairs + logistic regression, fitted on the same training split, scored on
  the same test split).

Each run is estimated as the Train page does (a probe of real steps) and trained by a real worker
(`python -m core worker --once`), as bench/estimates.py does; the wall time is the run's, claimed to saved.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import markdown_table, require, verdict
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


def run(quick: bool) -> dict[str, Any]:
    from bench.digits import make_digits
    from core.run_config import RunConfig

    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-pilot-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    os.environ["TUNEBOARD_ESTIMATE"] = "probe"
    digits = make_digits(home / "digits")
    rows = []
    for name, path, model in (("digits (5,000 28-px images, 10 classes)", digits, "efficientnet-lite0"),
                              ("fortunes (11k texts, 26 classes)", require(FORTUNES), "minilm")):
        row = one_case(name, path, model, RunConfig.method)
        if "fortunes" in name:
            row["bag_of_words_accuracy"] = bag_of_words_accuracy(row["dataset_id"])
        rows.append(row)
    return {"rows": rows, "target_seconds": TARGET_SECONDS, "target_digits_accuracy": TARGET_DIGITS_ACCURACY}


def table(result: dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        fast = r["wall_seconds"] < result["target_seconds"]
        good = r["accuracy"] >= result["target_digits_accuracy"] if "digits" in r["data"] else True
        rows.append([r["data"], f"{r['model']} · {r['method']} · Quick", r.get("image_size") or "–",
                     f"{r['estimated_seconds']:.0f}", f"{r['wall_seconds']:.0f}", f"{r['accuracy']:.3f}",
                     f"{r['bag_of_words_accuracy']:.3f}" if "bag_of_words_accuracy" in r else "–",
                     f"{r['epochs_run']} of {r['epochs_planned']}", verdict(fast and good)])
    return "\n".join([
        markdown_table(["data", "run (defaults)", "image px", "estimated s", "actual s (claimed to saved)",
                        "test accuracy", "bag-of-words accuracy", "epochs", "target"], rows),
        "",
        f"Targets: under {result['target_seconds'] // 60} minutes; digits at least "
        f"{result['target_digits_accuracy']:.0%} on the 1,000 held-out images.",
    ])
