""""Fastest good model" (core/methods/quick_choice.py): head only trains first; LoRA follows only when head only
falls short on its validation examples, queued in the same write that records the head-only run."""

from __future__ import annotations

import pandas as pd
import pytest

from types import SimpleNamespace

from core.methods.quick_choice import chain_note, first_run, follow_up
from core.run_config import RunConfig
from storage import run_queue
from storage.db import session_factory
from storage.models import Dataset
from storage.paths import datasets_dir, run_files
from storage.processes import process_identity
from storage.run_requests import enqueue
from storage.runs import get_run, list_runs
from tests.test_training_real import sms_slice
from tests.tiny_training import make_dataset


def test_what_follows_takes_its_own_methods_preset_and_keeps_the_other_settings():
    first = first_run(RunConfig(model="minilm", preset="quick", seed=7, max_length=32, learning_rate=0.5, epochs=3))
    assert (first.method, first.then_method, first.learning_rate, first.epochs) == ("head", "lora", None, None)
    assert follow_up(first, 0.95, run_id=1) is None  # good enough: nothing follows
    assert follow_up(first, None, run_id=1) is None  # no validation examples: nothing to judge by
    then = follow_up(first, 0.5, run_id=1)
    assert (then.method, then.then_method, then.learning_rate, then.batch_size) == ("lora", None, None, None)
    assert then.chosen_after == 1
    assert (then.seed, then.max_length, then.preset) == (7, 32, "quick")
    assert follow_up(then, 0.1, run_id=2) is None  # the chain ends after LoRA


def test_a_run_no_longer_owned_by_its_worker_queues_nothing_after_it():
    run_id = enqueue(make_dataset(), first_run(RunConfig(model="tiny")).to_dict())
    assert run_queue.claim_next("w1") == (run_id, False)
    then = run_queue.FollowUp(follow_up(first_run(RunConfig(model="tiny")), 0.1, run_id).to_dict(), "lora · tiny")
    recorded = run_queue.finish(run_id, "someone-else", metrics={}, predictions=[], trainable_params=1,
                                total_params=1, train_seconds=1.0, samples_per_second=1.0, device="cpu",
                                artifact_dir="x", size_bytes=1, then=then)
    assert not recorded and [r.id for r in list_runs()] == [run_id]


def stored_dataset(frame: pd.DataFrame, name: str) -> int:
    """A text dataset stored as ingestion stores one, from a frame with input, label, split and source."""
    from core.datasets.files import write_examples

    with session_factory().begin() as s:
        dataset = Dataset(name=name, task="text", labels=sorted(frame["label"].unique()), num_examples=len(frame))
        s.add(dataset)
        s.flush()
        folder = datasets_dir() / str(dataset.id)
        folder.mkdir(parents=True)
        write_examples(folder, frame)
        dataset.path = str(folder.relative_to(datasets_dir().parent))
        dataset.split_counts = frame["split"].value_counts().to_dict()
        return dataset.id


def train_next(expected_run: int) -> None:
    """Claim the oldest queued run, which must be `expected_run`, and train it for real in this process."""
    from core.jobs.runner import execute_run

    worker = process_identity()
    assert run_queue.claim_next(worker) == (expected_run, False)
    assert execute_run(expected_run, worker).status == "succeeded", get_run(expected_run).error


@pytest.mark.slow  # trains MiniLM twice on 600 texts: about a minute
def test_head_only_short_of_good_on_sms_is_followed_by_lora_which_scores_higher(tmp_path):
    frame = pd.read_csv(sms_slice(tmp_path / "sms") / "examples.csv")
    dataset_id = stored_dataset(frame, "sms")
    head_id = enqueue(dataset_id, first_run(RunConfig(model="minilm", preset="quick")).to_dict(), name="head")
    train_next(head_id)
    assert "below 0.90: a LoRA run on the same data is queued next" in run_files(head_id).log.read_text()
    [lora] = [r for r in list_runs() if r.id != head_id]
    assert (lora.status, lora.config["method"], lora.config["then_method"]) == ("queued", "lora", None)
    assert lora.config["chosen_after"] == head_id
    assert lora.name == f"lora · minilm · after run {head_id}" and lora.estimate  # the queue can place it

    train_next(lora.id)
    head, lora = get_run(head_id), get_run(lora.id)
    assert lora.metrics["macro_f1"] > head.metrics["macro_f1"] + 0.05
    assert lora.metrics["accuracy"] > lora.metrics["baselines"]["majority"]["accuracy"]
    assert run_queue.claim_next(process_identity()) is None  # the chain ends after LoRA
    # Results says which of the two is better on validation, on both runs' pages.
    from tests.test_results_page import open_results

    for run_id in (head_id, lora.id):
        at = open_results(run_id)
        assert not at.exception
        note = next(i.value for i in at.info if "Fastest good model" in i.value)
        assert f"so LoRA followed (run #{lora.id})" in note and "better of the two is **LoRA" in note


@pytest.mark.slow  # trains a MiniLM head on 60 texts: seconds
def test_head_only_good_enough_on_validation_ends_the_choice():
    dataset_id = make_dataset(rows=60)  # two classes a frozen MiniLM separates at once
    head_id = enqueue(dataset_id, first_run(RunConfig(model="minilm", preset="quick")).to_dict())
    train_next(head_id)
    assert "good enough, so LoRA does not follow" in run_files(head_id).log.read_text()
    assert [r.id for r in list_runs()] == [head_id] and get_run(head_id).metrics["macro_f1"] >= 0.9


def test_the_runs_settings_say_tuneboard_chose_the_method_and_what_may_follow():
    from core.settings_table import settings_table

    table = settings_table("text", first_run(RunConfig(model="minilm")).to_dict(), {}).set_index("setting")
    assert table.loc["Method", "value"] == "head" and "Fastest good model" in table.loc["Method", "from"]
    assert table.loc["Then method", "value"] == "lora" and "below 0.90" in table.loc["Then method", "from"]
    chosen = settings_table("text", RunConfig(model="minilm", method="head").to_dict(), {}).set_index("setting")
    assert chosen.loc["Method", "from"] == "your choice" and "Then method" not in chosen.index


def test_continuing_a_head_only_run_chosen_this_way_keeps_its_method_and_queues_nothing_after():
    from core.training.continual import continue_config

    continued = continue_config(first_run(RunConfig(model="minilm")).to_dict(), from_run=3, replay=0.25)
    assert (continued.method, continued.then_method, continued.from_run) == ("head", None, 3)
    assert continued.chosen_after is None


def test_results_say_which_of_the_two_runs_is_better_on_validation_or_why_nothing_followed():
    first = SimpleNamespace(id=1, config=first_run(RunConfig(model="minilm")).to_dict())
    second = SimpleNamespace(id=2, config=follow_up(RunConfig(**first.config), 0.41, run_id=1).to_dict())
    chosen = SimpleNamespace(id=3, config=RunConfig(model="minilm", method="lora").to_dict())
    scores = {1: 0.41, 2: 0.37, 3: 0.9}
    for run in (first, second):  # the same answer on both runs' pages, "this one" on the better one's
        note = chain_note(run, [second, first, chosen], scores.get)
        assert "below 0.90, so LoRA followed (run #2): 0.37" in note and "**Head only, run #1**" in note
    assert chain_note(first, [first, second], scores.get).endswith("(this one).")
    assert chain_note(second, [first, second], {1: 0.41, 2: 0.6}.get).endswith("**LoRA, run #2** (this one).")
    assert "was queued after it" in chain_note(first, [first], scores.get)  # LoRA not finished yet
    assert "no other method followed" in chain_note(first, [first], {1: 0.95}.get)
    assert chain_note(chosen, [first, second, chosen], scores.get) is None  # the user chose LoRA
