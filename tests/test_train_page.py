"""The Train page (AppTest): choose dataset, model, method, preset and settings; see the cost; launch into the queue."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from storage.runs import list_runs
from tests.conftest import ROOT
from tests.tiny_training import make_dataset


def open_train_page(**state) -> AppTest:
    """The app on the Train page; `state` presets widgets (by key) before the first run."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page("pages/train.py").run()


# The tiny random-weight BERT keeps parameter counting instant (the default model takes seconds to build).
TINY_TEXT = {"train_model_text": "other", "train_model_other": "tiny-bert"}


def test_without_datasets_the_page_says_to_upload_one():
    at = open_train_page()
    assert not at.exception
    assert "No datasets yet" in at.info[0].value


@pytest.mark.slow  # over a second: Train, then Runs
def test_launch_queues_a_run_with_the_chosen_settings_and_runs_lists_it():
    dataset_id = make_dataset(name="tickets")
    at = open_train_page(**TINY_TEXT)
    assert not at.exception
    assert at.radio(key="train_method_text").options == ["Fastest good model",
        "Full fine-tuning", "LoRA", "Prompt tuning", "Prefix tuning", "IA3", "BitFit", "Head only", "Few-shot (SetFit)"]
    at.radio(key="train_method_text").set_value("ia3")
    at.radio(key="train_preset").set_value("balanced")
    at.number_input(key="train_adv_epochs").set_value(2)
    at.number_input(key="train_adv_seed").set_value(7)
    at.checkbox(key="train_adv_class_weighting").check()
    at.run()
    cards = {m.label: m.value for m in at.metric}
    assert cards["Runs on"] == "CPU" and cards["Trainable parameters"] not in ("", "—", "0")
    assert any("% of" in c.value for c in at.caption)  # trainable share of the total

    at.button(key="train_launch").click().run()
    assert not at.exception
    [run] = list_runs()
    assert (run.status, run.dataset_id) == ("queued", dataset_id)
    assert {k: run.config[k] for k in ("model", "method", "preset", "epochs", "seed", "class_weighting")} == {
        "model": "tiny-bert", "method": "ia3", "preset": "balanced", "epochs": 2, "seed": 7, "class_weighting": True}
    assert f"Queued run #{run.id}" in at.success[0].value

    at.switch_page("pages/runs.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table[["Run", "Status", "Method", "Dataset"]].values.tolist() == [[run.id, "queued", "ia3", "tickets"]]


@pytest.mark.slow  # about a second: several runs of the page
def test_compare_methods_queues_one_run_per_method():
    make_dataset()
    at = open_train_page(**TINY_TEXT)
    at.multiselect(key="train_compare_methods").set_value(["head", "bitfit", "lora"])
    at.run()
    at.button(key="train_compare").click().run()
    assert not at.exception
    runs = list_runs()
    assert sorted(r.config["method"] for r in runs) == ["bitfit", "head", "lora"]
    assert {r.config["model"] for r in runs} == {"tiny-bert"} and {r.status for r in runs} == {"queued"}
    assert "Queued runs" in at.success[0].value


def test_a_model_that_cannot_be_used_blocks_the_launch_with_a_plain_message(tmp_path):
    make_dataset()
    at = open_train_page(train_model_text="other", train_model_other=str(tmp_path / "no-such-folder"))
    assert not at.exception
    # The same sentence as for a folder outside the ones the page may read (tests/test_model_folders.py)
    assert "There is no model folder by that name" in at.error[0].value
    assert not [b for b in at.button if b.key == "train_launch"]  # the page stops before Launch


@pytest.fixture
def image_dataset(tmp_path) -> int:
    from PIL import Image

    from core.datasets.store import register_path

    for label, colour in (("ants", (200, 40, 40)), ("bees", (40, 40, 200))):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (20, 20), tuple(max(0, c - 6 * i) for c in colour)).save(tmp_path / "photos" / label / f"{i}.png")
    return register_path(tmp_path / "photos")


@pytest.mark.slow  # about a second: several runs of the page
def test_an_image_dataset_offers_image_models_and_methods_only(image_dataset):
    at = open_train_page(train_model_image="other", train_model_other="tiny-image")
    assert not at.exception
    methods = at.radio(key="train_method_image").options
    assert "Prompt tuning" not in methods and "LoRA" in methods
    assert "EfficientNet-Lite0 (ImageNet)" in at.radio(key="train_model_image").options
    assert at.number_input(key="train_adv_image_size") is not None
    # Fastest good model (the default): each method's preset sets its own rate, epochs and batch.
    assert not {"train_adv_learning_rate", "train_adv_epochs", "train_adv_batch_size"} & {n.key for n in at.number_input}
    at.button(key="train_launch").click().run()
    [run] = list_runs()
    # Left to Tuneboard ("Fastest good model"): head only first, LoRA named as what follows if it falls short.
    assert (run.dataset_id, run.config["model"], run.config["method"], run.config["then_method"]) == (
        image_dataset, "tiny-image", "head", "lora")


@pytest.mark.slow  # the page times real training steps of the tiny model in a child process
def test_the_estimate_comes_from_timed_steps_and_stays_with_the_queued_run(monkeypatch):
    monkeypatch.setenv("TUNEBOARD_ESTIMATE", "probe")
    make_dataset(rows=60)
    at = open_train_page(**TINY_TEXT)
    assert not at.exception
    estimated = next(m for m in at.metric if m.label == "Estimated time")
    assert "timed on this machine" in estimated.proto.help
    # "Fastest good model" (the default): what LoRA would add if head only falls short is timed too.
    assert any(c.value.startswith("+ ") and c.value.endswith(" if LoRA follows") for c in at.caption)
    at.button(key="train_launch").click().run()
    [run] = list_runs()
    assert run.config["method"] == "head"
    assert run.estimate["how"] == "measured" and run.estimate["seconds"] > 0 and run.estimate["memory_bytes"] > 0


@pytest.mark.slow  # about a second: several runs of the page
def test_resume_automatically_is_kept_with_the_launched_run():
    make_dataset(name="tickets")
    at = open_train_page(**TINY_TEXT)
    assert at.checkbox(key="train_auto_resume").value is False
    at.button(key="train_launch").click().run()
    at.checkbox(key="train_auto_resume").check().run()
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert [run.auto_resume for run in sorted(list_runs(), key=lambda r: r.id)] == [False, True]
