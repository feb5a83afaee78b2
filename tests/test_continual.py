"""Continue training (core/training/continual.py) through `python -m core train --from-run`: a finished LoRA run
learns a newer version of its dataset, and the result says on the same test rows what it gained and forgot."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from core.datasets.versions import examples_with_ids
from storage.datasets import get_dataset
from storage.runs import get_run, predictions
from tests.conftest import ROOT
from tests.finished_runs import HAM, SPAM, messages

BILLS = ["Invoice {n} attached: payment of {n}0 euros due for the {thing} order",
         "Reminder: invoice {n} for {thing} is overdue, please pay {n}0 euros",
         "Your {thing} invoice number {n} is ready, amount due {n}0 euros"]


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("message,category\n")
        f.writelines('"{}",{}\n'.format(text.replace('"', '""'), label) for text, label in rows)
    return path


def _cli(home: Path, *args: str) -> tuple[dict, str]:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "core", "train", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return (json.loads(done.stdout) if "--json" in args else {}), done.stdout + done.stderr


@pytest.mark.slow  # trains MiniLM with LoRA three times in `python -m core train` processes
def test_continue_a_lora_run_on_added_rows_and_on_a_new_class(tmp_path, tuneboard_home):
    rng = random.Random(5)
    ham, spam = messages(100, HAM, rng), messages(50, SPAM, rng)
    first = _write(tmp_path / "v1.csv", [(t, "ham") for t in ham[:60]] + [(t, "spam") for t in spam[:30]])
    # The offline MiniLM on short inputs: a random tiny model's frozen features carry too little for LoRA to learn a
    # class from a few dozen rows (tests/test_methods_learn.py)
    parent, _ = _cli(tuneboard_home, "--data", str(first), "--model", "minilm", "--method", "lora", "--epochs",
                     "3", "--batch-size", "8", "--max-length", "24", "--json")
    assert parent["status"] == "succeeded"
    v1 = parent["dataset"]["id"]

    # 1) a version with added rows of the same classes
    more = _write(tmp_path / "more.csv", [(t, "ham") for t in ham[60:]] + [(t, "spam") for t in spam[30:]]
                  + [(ham[0], "ham")])  # one row already stored: kept as it is
    added, _ = _cli(tuneboard_home, "--from-run", str(parent["run_id"]), "--data", str(more), "--epochs", "2",
                    "--batch-size", "8", "--max-length", "24", "--replay", "0.3", "--json")
    assert added["status"] == "succeeded"
    v2 = get_dataset(added["dataset"]["id"])
    assert (v2.version, v2.parent_id, v2.changes["added"], v2.changes["already_there"]) == (2, v1, 60, 1)
    run = get_run(added["run_id"])
    assert run.config["from_run"] == parent["run_id"] and run.config["method"] == "lora"  # the parent's settings
    continual = added["continual"]
    assert continual["from_run"] == parent["run_id"] and continual["from_version"] == 1
    trained = continual["trained_on"]
    assert trained["changed"] == sum(1 for s in examples_with_ids(v2.id).query("row_id.str.startswith('v2-')")["split"]
                                     if s == "train")
    assert trained["replayed"] == round(0.3 * trained["old_available"]) > 0
    sets = continual["sets"]
    assert set(sets) == {"all", "old", "added"}
    # "before" is the parent itself: on version 1's test rows it scores exactly what the parent scored on them
    parent_right = sum(p.true_label == p.predicted_label for p in predictions(parent["run_id"], "test"))
    assert sets["old"]["examples"] == len(predictions(parent["run_id"], "test"))
    assert sets["old"]["before"]["correct"] == parent_right
    assert sets["all"]["examples"] == sets["old"]["examples"] + sets["added"]["examples"]
    assert sets["all"]["after"]["accuracy"] == pytest.approx(added["metrics"]["accuracy"])
    for figures in sets.values():
        for side in ("before", "after"):
            assert figures[side]["low"] <= figures[side]["accuracy"] <= figures[side]["high"]

    # 2) a version with a new class: the head grows, the old rows are kept
    bills = _write(tmp_path / "bills.csv", [(t, "bill") for t in messages(60, BILLS, rng)])
    grown, text = _cli(tuneboard_home, "--from-run", str(added["run_id"]), "--data", str(bills), "--epochs", "4",
                       "--batch-size", "8", "--max-length", "24", "--replay", "0.5")
    assert "Continued from run" in text and "forgetting" in text and "->" in text
    newest = max((r for r in [get_run(i) for i in range(1, 10)] if r is not None), key=lambda r: r.id)
    continual = newest.metrics["continual"]
    assert continual["head"]["added"] == ["bill"] and continual["head"]["shared"] == ["ham", "spam"]
    assert continual["head"]["parameters_added"] > 0
    assert get_dataset(newest.dataset_id).labels == ["bill", "ham", "spam"]
    added_rows = continual["sets"]["added"]
    assert added_rows["before"]["correct"] == 0  # the parent could not answer "bill"
    assert added_rows["after"]["accuracy"] > 0.5 and added_rows["p_better"] < 0.05  # it learned the new class
    assert continual["sets"]["old"]["after"]["accuracy"] > 0.5  # and kept answering the old ones


def test_a_carried_head_answers_as_before_on_standardised_features():
    """Head only: the cached-features trainer standardises the features; a continued run's head, carried from its
    parent, takes raw ones, so it is unfolded first (and folded back after training) without changing an answer."""
    import torch
    from torch import nn

    from core.training.features import HeadOnFeatures

    torch.manual_seed(0)
    head = nn.Linear(8, 3)
    train, x = torch.randn(50, 8) * 3 + 1, torch.randn(10, 8) * 3 + 1
    raw = head(x).detach().clone()
    wrapped = HeadOnFeatures(head, train).eval()
    assert not torch.allclose(wrapped(x), raw, atol=1e-3)  # standardised features into a raw head: other answers
    wrapped.unfold_standardisation()
    assert torch.allclose(wrapped(x), raw, atol=1e-5)
    wrapped.fold_standardisation()
    assert torch.allclose(head(x), raw, atol=1e-5)
