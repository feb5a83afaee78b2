"""The estimate's probe: real training steps of the run's own model, method and batches, timed in a child
process, cached per choice; the estimate built from it; the rough estimate when no probe can run.

No assertion here is about speed (that is the benchmark's: estimate against actual in docs/BENCHMARKS.md); these
check that the probe measures the work the run will do and that the estimate adds it up."""

from __future__ import annotations

import dataclasses

import pytest

from core.run_config import RunConfig
from core.training import probe as probe_module
from core.training.estimate import from_probe
from core.training.probe import Probe, cached_probe, measure, probe_key
from tests.test_methods_train import IMAGE_LABELS, TEXT_LABELS, write_image_dataset, write_text_dataset

SPLITS = {"train": 48, "val": 16, "test": 16}


@pytest.fixture(autouse=True)
def probing(monkeypatch):
    monkeypatch.setenv("TUNEBOARD_ESTIMATE", "probe")
    monkeypatch.setattr(probe_module, "_failed", set())  # each test starts without remembered failures


@pytest.mark.slow  # a child process imports torch and trains a few steps
def test_a_probe_times_training_steps_and_is_asked_only_once(tmp_path):
    data = write_text_dataset(tmp_path / "text", n=80)
    config = RunConfig(model="tiny-bert", method="full", batch_size=4)
    probe = measure(data, TEXT_LABELS, "text", config)
    assert probe is not None
    assert probe.train_seconds_per_example > 0 and probe.eval_seconds_per_example > 0
    assert probe.startup_seconds > 0 and probe.checkpoint_seconds >= 0
    assert probe.peak_memory_bytes > 100 * 2**20  # a Python process with torch loaded holds more than this
    # cached under the key of the speed-relevant settings: asking again starts no child
    assert cached_probe(probe_key(data, "text", config)) == probe
    assert measure(data, TEXT_LABELS, "text", dataclasses.replace(config, learning_rate=1e-3)) == probe
    assert cached_probe(probe_key(data, "text", dataclasses.replace(config, batch_size=8))) is None


@pytest.mark.slow  # a child process imports torch
def test_head_only_probes_the_backbone_pass_not_training_steps(tmp_path):
    data = write_image_dataset(tmp_path / "image")
    probe = measure(data, IMAGE_LABELS, "image", RunConfig(model="tiny-image", method="head"))
    assert probe is not None and probe.train_seconds_per_example == 0 and probe.eval_seconds_per_example > 0
    assert not probe.features_cached and probe.decode_seconds_per_example > 0


@pytest.mark.slow  # the child process starts and fails
def test_a_probe_that_cannot_run_answers_none_and_is_not_retried(tmp_path, monkeypatch):
    data = write_text_dataset(tmp_path / "text")
    config = RunConfig(model="no-such-model-anywhere", method="full")
    assert measure(data, TEXT_LABELS, "text", config) is None
    assert probe_module.is_known(probe_key(data, "text", config))  # the page does not wait for it again


def test_the_estimate_adds_up_start_up_training_evaluation_and_checkpoints():
    probe = Probe(startup_seconds=10.0, train_seconds_per_example=0.5, eval_seconds_per_example=0.1,
                  checkpoint_seconds=2.0, peak_memory_bytes=3 * 10**9, features_cached=False, probe_seconds=5.0)
    config = RunConfig(model="minilm", method="full", epochs=2, batch_size=16)
    guess = from_probe("text", config, SPLITS, probe)
    # 10 start-up + 2 epochs x 48 x 0.5 training + ((2 epochs + the stored predictions) x 16 validation
    # + 2 x 16 test and zero-shot) x 0.1 + (2 epoch checkpoints + 48 s / 180 s + the saved model) x 2
    expected = 10 + 48 + 8.0 + (2 + 48 / 180 + 1) * 2
    assert guess["seconds"] == pytest.approx(expected, abs=0.1)
    # Memory: the probe's peak, raised by what a whole run holds beyond it (measured: RUN_OVER_PROBE_MEMORY).
    assert (guess["memory_bytes"], guess["epochs"], guess["how"]) == (int(3 * 10**9 * 1.2), 2, "measured")


def test_head_only_on_cached_features_costs_start_up_and_the_head():
    probe = Probe(startup_seconds=10.0, train_seconds_per_example=0.0, eval_seconds_per_example=0.1,
                  checkpoint_seconds=0.0, peak_memory_bytes=10**9, features_cached=False, probe_seconds=5.0)
    config = RunConfig(model="minilm", method="head")
    extracting = from_probe("text", config, SPLITS, probe)["seconds"]
    cached = from_probe("text", config, SPLITS, dataclasses.replace(probe, features_cached=True))["seconds"]
    assert extracting - cached == pytest.approx(80 * 0.1, abs=0.1)  # one backbone pass over the 80 examples


def test_images_are_decoded_once_a_run_not_once_an_epoch():
    probe = Probe(startup_seconds=10.0, train_seconds_per_example=0.5, eval_seconds_per_example=0.1,
                  checkpoint_seconds=0.0, peak_memory_bytes=10**9, features_cached=False, probe_seconds=5.0,
                  decode_seconds_per_example=0.05)
    without = dataclasses.replace(probe, decode_seconds_per_example=0.0)
    for epochs in (1, 4):
        config = RunConfig(model="efficientnet-lite0", method="lora", epochs=epochs)
        seconds = [from_probe("image", config, SPLITS, each)["seconds"] for each in (probe, without)]
        added = seconds[0] - seconds[1]
        assert added == pytest.approx(80 * 0.05, abs=0.1)  # the 80 images of SPLITS, once whatever the epochs
