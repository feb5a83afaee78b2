"""Quality of the defaults: every tuning method with the Best preset on the default models, on SMS spam and on
the ants/bees photos, each through `python -m core train` (one data folder, so the dataset is stored once and the
same fixed test split judges every method). Beside them, measured in the same run on the same split: the
untuned baselines every run records (majority class, zero-shot) and, for SMS, a bag-of-words model
(TF-IDF + logistic regression, scikit-learn); and the published results from ../shared/datasets/README.md.

Quick mode trains head only with the Quick preset (the full table needs about two hours of CPU).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import ANTS_BEES, SMS, markdown_table, minority_f1, require, train_with_cli, verdict

TEXT_METHODS = ("head", "lora", "full", "bitfit", "ia3", "prefix", "prompt")
IMAGE_METHODS = ("head", "lora", "full", "bitfit", "ia3")
TARGET_SPAM_F1 = 0.95
TARGET_ANTS_BEES_ACCURACY = 0.95
PUBLISHED = {
    "sms": "bag-of-words linear models about 97-98% accuracy; fine-tuned transformers about 98-99%",
    "ants_bees": "ImageNet-pretrained ResNet-18 about 94-95% validation accuracy (fine-tuned or fixed features)",
}


def bag_of_words(home: Path, dataset_id: int) -> dict[str, Any]:
    """TF-IDF (word 1-2 grams) + logistic regression on the stored split: the classic spam baseline."""
    import os

    os.environ["TUNEBOARD_HOME"] = str(home)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from core.datasets import load_examples

    frame = load_examples(dataset_id)
    train, test = frame[frame.split != "test"], frame[frame.split == "test"]  # train + val: nothing to stop early
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    model = LogisticRegression(C=20.0, max_iter=2000, class_weight="balanced")
    model.fit(vectorizer.fit_transform(train.input), train.label)
    predicted = model.predict(vectorizer.transform(test.input))
    return {"accuracy": accuracy_score(test.label, predicted), "macro_f1": f1_score(test.label, predicted, average="macro"),
            "minority_f1": f1_score(test.label, predicted, pos_label="spam", average="binary")}


def train_all(home: Path, data: Path, methods: tuple[str, ...], preset: str) -> list[dict[str, Any]]:
    rows = []
    for method in methods:
        run = train_with_cli(home, data, "--method", method, "--preset", preset)
        metrics = run.result["metrics"]
        label, f1 = minority_f1(metrics)
        rows.append({"method": method, "preset": preset, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                     "minority_class": label, "minority_f1": f1, "train_seconds": run.result["train_seconds"],
                     "trainable_params": run.result["trainable_params"], "baselines": run.result["baselines"],
                     "dataset_id": _dataset_id(home, run.result["run_id"]), "test_examples": _support(metrics)})
    return rows


def _support(metrics: dict[str, Any]) -> int:
    return sum(v["support"] for v in metrics["per_class"].values())


def _dataset_id(home: Path, run_id: int) -> int:
    import os

    os.environ["TUNEBOARD_HOME"] = str(home)
    from storage import jobs

    return jobs.get_run(run_id).dataset_id


def run(quick: bool) -> dict[str, Any]:
    preset = "quick" if quick else "best"
    text_methods, image_methods = (("head",), ("head",)) if quick else (TEXT_METHODS, IMAGE_METHODS)
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-quality-") as scratch:
        home = Path(scratch)
        sms = train_all(home, require(SMS), text_methods, preset)
        bow = bag_of_words(home, sms[0]["dataset_id"])
        images = train_all(home, require(ANTS_BEES), image_methods, preset)
    best_spam = max(r["minority_f1"] for r in sms)
    best_image = max(r["accuracy"] for r in images)
    return {"sms": sms, "sms_bag_of_words": bow, "ants_bees": images, "preset": preset,
            "target_spam_f1": TARGET_SPAM_F1, "target_ants_bees_accuracy": TARGET_ANTS_BEES_ACCURACY,
            "spam_f1_target_met": best_spam >= TARGET_SPAM_F1,
            "ants_bees_target_met": best_image >= TARGET_ANTS_BEES_ACCURACY}


def _method_rows(rows: list[dict[str, Any]], with_minority: bool) -> list[list[Any]]:
    out = []
    for r in rows:
        row = [r["method"], r["preset"], r["accuracy"], r["macro_f1"]]
        if with_minority:
            row.append(r["minority_f1"])
        out.append(row + [f"{r['trainable_params']:,}", r["train_seconds"]])
    return out


def _baseline_rows(rows: list[dict[str, Any]], with_minority: bool) -> list[list[Any]]:
    baselines = rows[0]["baselines"]
    names = {"majority": "untuned: always the most common class", "zero_shot": "untuned: zero-shot MiniLM"}
    out = []
    for key, name in names.items():
        if key in baselines:
            out.append([name, "—", baselines[key]["accuracy"], baselines[key]["macro_f1"]]
                       + (["—"] if with_minority else []) + ["0", "—"])
    return out


def table(result: dict[str, Any]) -> str:
    sms, images, bow = result["sms"], result["ants_bees"], result["sms_bag_of_words"]
    best_spam = max(sms, key=lambda r: r["minority_f1"])
    best_image = max(images, key=lambda r: r["accuracy"])
    return "\n".join([
        f"SMS spam ({sms[0]['test_examples']} test messages; spam is the rare class):",
        "",
        markdown_table(["method", "preset", "accuracy", "macro-F1", "spam F1", "trainable parameters", "training s"],
                       _method_rows(sms, True) + _baseline_rows(sms, True)
                       + [["bag of words: TF-IDF + logistic regression", "—", bow["accuracy"], bow["macro_f1"],
                           bow["minority_f1"], "—", "—"]]),
        "",
        f"Published: {PUBLISHED['sms']}. Target spam-F1 ≥ {result['target_spam_f1']}: best {best_spam['minority_f1']:.3f} "
        f"({best_spam['method']}) — {verdict(result['spam_f1_target_met'])}.",
        "",
        f"Ants/bees ({images[0]['test_examples']} test photos: the val/ folder):",
        "",
        markdown_table(["method", "preset", "accuracy", "macro-F1", "trainable parameters", "training s"],
                       _method_rows(images, False) + _baseline_rows(images, False)),
        "",
        f"Published: {PUBLISHED['ants_bees']}. Target accuracy ≥ {result['target_ants_bees_accuracy']}: best "
        f"{best_image['accuracy']:.3f} ({best_image['method']}) — {verdict(result['ants_bees_target_met'])}.",
    ])


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
