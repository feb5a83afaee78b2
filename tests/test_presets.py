"""Presets: what a RunConfig's blanks resolve to, and that the user's explicit settings win."""

from __future__ import annotations

import pytest

from core.run_config import RunConfig
from core.training.presets import PRESETS, epochs_for, resolve


@pytest.mark.parametrize("task", ["text", "image"])
def test_head_only_waits_longer_before_stopping_than_backbone_methods(task):
    head = resolve(task, RunConfig(method="head"))
    lora = resolve(task, RunConfig(method="lora"))
    assert head.early_stopping_patience > lora.early_stopping_patience >= 1


def test_prompt_tuning_runs_all_its_epochs():
    """Its validation score stays flat for several epochs before it climbs again (core/training/presets.py)."""
    assert resolve("text", RunConfig(method="prompt")).early_stopping_patience == 0
    assert resolve("text", RunConfig(method="prefix")).early_stopping_patience >= 1


def test_explicit_settings_override_the_preset():
    config = RunConfig(method="lora", preset="best", early_stopping_patience=0, epochs=3, learning_rate=0.5,
                       batch_size=7, max_length=33)
    values = resolve("text", config)
    assert (values.early_stopping_patience, values.epochs, values.learning_rate, values.batch_size,
            values.max_length) == (0, 3, 0.5, 7, 33)
    assert values.min_steps == 0  # an explicit epoch count is respected as given
    assert epochs_for(values, steps_per_epoch=1) == 3


@pytest.mark.parametrize("method", ["full", "lora", "bitfit", "head"])
def test_presets_grow_from_quick_to_best(method):
    epochs = [resolve("text", RunConfig(method=method, preset=p)).epochs for p in PRESETS]
    assert epochs == sorted(epochs) and epochs[0] < epochs[-1]


def test_small_datasets_get_more_epochs_up_to_the_ceiling():
    values = resolve("text", RunConfig(method="lora", preset="quick"))
    assert epochs_for(values, steps_per_epoch=1000) == values.epochs
    assert values.epochs < epochs_for(values, steps_per_epoch=5) <= values.max_epochs


def test_a_method_that_does_not_apply_is_refused_in_plain_words():
    with pytest.raises(ValueError, match="does not apply to image data"):
        resolve("image", RunConfig(method="prompt"))


def test_estimates_of_time_and_memory_grow_with_the_image_size():
    from core.training.estimate import estimate

    small = estimate("image", RunConfig(model="efficientnet-lite0", method="full", image_size=224), 200)
    large = estimate("image", RunConfig(model="efficientnet-lite0", method="full", image_size=320), 200)
    default = estimate("image", RunConfig(model="efficientnet-lite0", method="full"), 200)
    assert large["seconds"] > default["seconds"] > small["seconds"]  # the default is 288 px
    assert large["memory_bytes"] > default["memory_bytes"] > small["memory_bytes"]
