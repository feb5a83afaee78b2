"""The "Load example" dataset (core/datasets/examples.py): it ingests with nothing to fix, has the four intended
classes, is byte-for-byte the same in every process, needs more than one keyword per class, and (slow)
a head-only Quick run on the bundled MiniLM learns it far above the majority baseline."""

from __future__ import annotations

import collections
import hashlib
import os
import re
import subprocess
import sys

import pytest

from core.datasets.store import dataset_dir, save_dataset
from core.datasets.examples import EXAMPLE_SOURCE, example_file, example_rows
from core.ingest import ingest_bytes
from core.run_config import RunConfig
from storage.datasets import get_dataset, list_datasets
from tests.conftest import ROOT

CLASSES = {"account": 120, "billing": 170, "delivery": 160, "technical problem": 150}


def test_the_example_ingests_with_nothing_to_fix_and_the_intended_classes():
    name, data = example_file()
    ingested = ingest_bytes(name, data)  # exactly what the Data page does with an upload
    try:
        assert [f.message for f in ingested.report.findings if f.severity != "info"] == []
        assert (ingested.task, ingested.text_column, ingested.label_column) == ("text", "message", "category")
        assert ingested.report.rows_read == ingested.report.rows_kept == sum(CLASSES.values())
        assert ingested.report.class_counts == CLASSES
        # Every class is in every part, with enough test examples for a readable confusion matrix.
        for part in ("train", "val", "test"):
            frame = ingested.frame[ingested.frame["split"] == part]
            assert set(frame["label"]) == set(CLASSES)
        assert ingested.split_counts["test"] >= 50
    finally:
        ingested.cleanup()
    assert "not real customer data" in EXAMPLE_SOURCE  # what the page says about where it comes from


@pytest.mark.slow  # a Python process
def test_the_example_is_the_same_in_every_process():
    # A fresh interpreter with another string-hash seed: no set or dict-of-str order may leak into the file.
    code = "import hashlib; from core.datasets.examples import example_file; print(hashlib.sha256(example_file()[1]).hexdigest())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == hashlib.sha256(example_file()[1]).hexdigest()
    # The same bytes are the same dataset: loading and saving it twice stores it once.
    first, second = ingest_bytes(*example_file()), ingest_bytes(*example_file())
    try:
        assert save_dataset(first, "example") == save_dataset(second, "example again")
    finally:
        first.cleanup()
        second.cleanup()
    assert [(d.name, d.num_examples, d.labels) for d in list_datasets()] == [("example", 600, sorted(CLASSES))]


def test_no_single_word_gives_a_class_away():
    """A word found in one class only never covers more than a third of it: a model has to learn phrasing."""
    words = collections.defaultdict(list)
    for text, label in example_rows():
        words[label].append(set(re.findall(r"[a-z]+", text.lower())))
    assert len({text for text, _ in example_rows()}) == len(example_rows())  # every message differs
    for label, messages in words.items():
        elsewhere = set().union(*(w for other, sets in words.items() if other != label for w in sets))
        own = collections.Counter(w for message in messages for w in message - elsewhere)
        word, count = own.most_common(1)[0]
        assert count / len(messages) < 1 / 3, f"'{word}' marks {count} of {len(messages)} {label} messages"


@pytest.mark.slow
def test_a_head_only_quick_run_on_minilm_learns_the_example(tmp_path):
    from core.training import train_run
    from tests.test_methods_train import Recorder

    ingested = ingest_bytes(*example_file())
    try:
        dataset = get_dataset(save_dataset(ingested, "example"))
    finally:
        ingested.cleanup()
    config = RunConfig(model="minilm", method="head", preset="quick")  # what the README's first model uses
    result = train_run(dataset_dir(dataset), dataset.labels, "text", config, tmp_path / "run", Recorder())
    metrics, baselines = result.metrics, result.metrics["baselines"]
    assert metrics["accuracy"] >= baselines["majority"]["accuracy"] + 0.4  # majority: 28%
    assert metrics["macro_f1"] >= 0.85
    # The untuned model already knows some English; tuning must still buy something a demo can show.
    assert metrics["accuracy"] > baselines["zero_shot"]["accuracy"]
    assert metrics["accuracy"] < 1.0  # not trivially separable: Results has mistakes to show
