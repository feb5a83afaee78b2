"""Quality of the defaults: every tuning method with the Best preset on the default models, on SMS spam and on
the ants/bees photos, each through `python -m core train` (one data folder, so the dataset is stored once and the
same fixed test split judges every method). Beside them, measured in the same run on the same split: the
untuned baselines every run records (majority class, zero-shot) and, for SMS, a bag-of-words model
(TF-IDF + logistic regression, scikit-learn); and the published results from ../shared/datasets/README.md.

Quick mode trains head only with the Quick preset. The full table needs about five hours on 2 CPU cores (most of it
full fine-tuning and prompt tuning of MiniLM on 5,574 texts), so it keeps each finished row in
bench/results/.quality-progress.json, with its data folder beside it: run it again after a stop and it goes on
where it stopped; `--budget MINUTES` stops starting new trainings after that long and the table names the methods
not measured yet. When every row is in, the progress file is removed, so the next run measures afresh.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ANTS_BEES, ROOT, SMS, markdown_table, minority_f1, require, train_with_cli, verdict

TEXT_METHODS = ("head", "lora", "full", "bitfit", "ia3", "prefix", "prompt")
IMAGE_METHODS = ("head", "lora", "full", "bitfit", "ia3")
TARGET_SPAM_F1 = 0.95
TARGET_ANTS_BEES_ACCURACY = 0.95
PROGRESS = ROOT / "bench" / "results" / ".quality-progress.json"
PROGRESS_HOME = ROOT / "bench" / "results" / ".quality-home"
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

    from core.datasets.store import load_examples

    frame = load_examples(dataset_id)
    train, test = frame[frame.split != "test"], frame[frame.split == "test"]  # train + val: nothing to stop early
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    model = LogisticRegression(C=20.0, max_iter=2000, class_weight="balanced")
    model.fit(vectorizer.fit_transform(train.input), train.label)
    predicted = model.predict(vectorizer.transform(test.input))
    return {"accuracy": accuracy_score(test.label, predicted), "macro_f1": f1_score(test.label, predicted, average="macro"),
            "minority_f1": f1_score(test.label, predicted, pos_label="spam", average="binary")}


class Progress:
    """Finished rows by (dataset, method, preset), saved after each: a stopped full run loses no training."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path and path.exists() else {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, key: str, row: dict[str, Any]) -> None:
        self.rows[key] = row
        if self.path:
            self.path.write_text(json.dumps(self.rows, indent=2, default=float))


def train_all(home: Path, data: Path, name: str, methods: tuple[str, ...], preset: str, progress: Progress,
              deadline: float | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for the methods trained (or found in `progress`), and the methods skipped because time ran out."""
    rows, skipped = [], []
    for method in methods:
        key = f"{name}:{method}:{preset}"
        row = progress.get(key)
        if row is None and deadline is not None and time.time() > deadline:
            skipped.append(method)
            continue
        if row is None:
            run = train_with_cli(home, data, "--method", method, "--preset", preset)
            metrics = run.result["metrics"]
            label, f1 = minority_f1(metrics)
            row = {"method": method, "preset": preset, "accuracy": metrics["accuracy"],
                   "macro_f1": metrics["macro_f1"], "minority_class": label, "minority_f1": f1,
                   "train_seconds": run.result["train_seconds"], "epochs_run": run.result["training"].get("epochs_run"),
                   "trainable_params": run.result["trainable_params"], "baselines": run.result["baselines"],
                   "dataset_id": _dataset_id(home, run.result["run_id"]), "test_examples": _support(metrics)}
            progress.put(key, row)
        rows.append(row)
    return rows, skipped


def _support(metrics: dict[str, Any]) -> int:
    return sum(v["support"] for v in metrics["per_class"].values())


def _dataset_id(home: Path, run_id: int) -> int:
    import os

    os.environ["TUNEBOARD_HOME"] = str(home)
    from storage.runs import get_run

    return get_run(run_id).dataset_id


def run(quick: bool, budget_minutes: float | None = None) -> dict[str, Any]:
    preset = "quick" if quick else "best"
    text_methods, image_methods = (("head",), ("head",)) if quick else (TEXT_METHODS, IMAGE_METHODS)
    deadline = time.time() + budget_minutes * 60 if budget_minutes else None
    with tempfile.TemporaryDirectory(prefix="tuneboard-bench-quality-") as scratch:
        # The full run keeps its data folder, so a resumed run judges on the same stored split.
        home = Path(scratch) if quick else PROGRESS_HOME
        home.mkdir(parents=True, exist_ok=True)
        progress = Progress(None if quick else PROGRESS)
        # Photos first: five methods there cost less than one full fine-tuning on the texts.
        images, images_skipped = train_all(home, require(ANTS_BEES), "ants_bees", image_methods, preset, progress,
                                           deadline)
        sms, sms_skipped = train_all(home, require(SMS), "sms", text_methods, preset, progress, deadline)
        bow = bag_of_words(home, sms[0]["dataset_id"]) if sms else None
    if not quick and not images_skipped and not sms_skipped:
        PROGRESS.unlink(missing_ok=True)
        shutil.rmtree(PROGRESS_HOME, ignore_errors=True)
    best_spam = max((r["minority_f1"] for r in sms), default=0.0)
    best_image = max((r["accuracy"] for r in images), default=0.0)
    return {"sms": sms, "sms_bag_of_words": bow, "ants_bees": images, "preset": preset,
            "not_measured": {"sms": sms_skipped, "ants_bees": images_skipped}, "budget_minutes": budget_minutes,
            "target_spam_f1": TARGET_SPAM_F1, "target_ants_bees_accuracy": TARGET_ANTS_BEES_ACCURACY,
            "spam_f1_target_met": best_spam >= TARGET_SPAM_F1,
            "ants_bees_target_met": best_image >= TARGET_ANTS_BEES_ACCURACY}


def _method_rows(rows: list[dict[str, Any]], with_minority: bool) -> list[list[Any]]:
    out = []
    for r in rows:
        row = [r["method"], r["preset"], r["accuracy"], r["macro_f1"]]
        if with_minority:
            row.append(r["minority_f1"])
        out.append(row + [f"{r['trainable_params']:,}", r.get("epochs_run") or "—", r["train_seconds"]])
    return out


def _baseline_rows(rows: list[dict[str, Any]], with_minority: bool) -> list[list[Any]]:
    baselines = rows[0]["baselines"] if rows else {}
    names = {"majority": "untuned: always the most common class", "zero_shot": "untuned: zero-shot MiniLM"}
    out = []
    for key, name in names.items():
        if key in baselines:
            out.append([name, "—", baselines[key]["accuracy"], baselines[key]["macro_f1"]]
                       + (["—"] if with_minority else []) + ["0", "—", "—"])
    return out


def _not_measured(result: dict[str, Any], name: str) -> list[str]:
    skipped = result.get("not_measured", {}).get(name) or []
    if not skipped:
        return []
    return ["", f"Not measured yet: {', '.join(skipped)} — this run had a time budget (`--budget`) and stopped "
                "before them; `python -m bench --only quality` trains them and keeps the rows above."]


def _target_line(published: str, target: float, rows: list[dict[str, Any]], key: str, met: bool) -> str:
    if not rows:
        return f"Published: {published}. Target ≥ {target}: nothing measured yet."
    best = max(rows, key=lambda r: r[key])
    return f"Published: {published}. Target ≥ {target}: best {best[key]:.3f} ({best['method']}) — {verdict(met)}."


def table(result: dict[str, Any]) -> str:
    sms, images, bow = result["sms"], result["ants_bees"], result["sms_bag_of_words"]
    bow_rows = [["bag of words: TF-IDF + logistic regression", "—", bow["accuracy"], bow["macro_f1"],
                 bow["minority_f1"], "—", "—", "—"]] if bow else []
    test_texts = sms[0]["test_examples"] if sms else "the"
    test_photos = images[0]["test_examples"] if images else "the"
    return "\n".join([
        f"Ants/bees ({test_photos} test photos: the val/ folder):",
        "",
        markdown_table(["method", "preset", "accuracy", "macro-F1", "trainable parameters", "epochs run", "training s"],
                       _method_rows(images, False) + _baseline_rows(images, False)),
        *_not_measured(result, "ants_bees"),
        "",
        _target_line(PUBLISHED["ants_bees"], result["target_ants_bees_accuracy"], images, "accuracy",
                     result["ants_bees_target_met"]),
        "",
        f"SMS spam ({test_texts} test messages; spam is the rare class):",
        "",
        markdown_table(["method", "preset", "accuracy", "macro-F1", "spam F1", "trainable parameters", "epochs run",
                        "training s"],
                       _method_rows(sms, True) + _baseline_rows(sms, True) + bow_rows),
        *_not_measured(result, "sms"),
        "",
        _target_line(PUBLISHED["sms"], result["target_spam_f1"], sms, "minority_f1", result["spam_f1_target_met"]),
    ])


if __name__ == "__main__":
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
