"""The model catalog and the tuning-method registry: entries, name resolution, and plain load errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import CATALOG, DEFAULT_MODELS, ModelLoadError, is_available_offline, list_models, resolve_model
from core.methods import METHODS, get_method, methods_for
from core.run_config import RunConfig


def test_offline_defaults_are_in_the_catalog_and_available():
    for task, key in DEFAULT_MODELS.items():
        entry = CATALOG[key]
        assert entry.task == task and entry.offline and entry.source == "package"
        assert is_available_offline(entry)


def test_hub_entries_are_listed_as_needing_the_internet():
    hub = {e.key for e in CATALOG.values() if e.source == "hub"}
    assert {"distilbert-base-uncased", "bert-base-uncased", "roberta-base", "xlm-roberta-base",
            "google/vit-base-patch16-224-in21k", "microsoft/resnet-50", "facebook/convnext-tiny-224"} <= hub
    assert not any(CATALOG[k].offline for k in hub)


def test_every_entry_is_complete_and_test_models_are_marked():
    for entry in CATALOG.values():
        assert entry.name and entry.description and entry.task in ("text", "image")
        assert (entry.default_max_length if entry.task == "text" else entry.default_image_size)
        if entry.source == "config":
            assert entry.for_testing and "testing" in entry.name
    assert all(not e.for_testing for e in list_models())
    assert {e.key for e in list_models("image", include_testing=True)} >= {"tiny-image", "tiny-vit"}


def test_resolve_names_keys_hub_ids_and_folders(tmp_path: Path):
    assert resolve_model("minilm", "text").kind == "minilm"
    assert resolve_model("", "image").kind == "efficientnet"
    assert resolve_model("roberta-base", "text").kind == "hub"
    assert resolve_model("someone/some-model", "text").location == "someone/some-model"
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path), "text").kind == "local"


@pytest.mark.parametrize("name,task,words", [
    ("minilm", "image", "text model"),
    ("/no/such/folder", "text", "does not exist"),
])
def test_resolve_refuses_with_a_plain_sentence(name, task, words):
    with pytest.raises(ModelLoadError) as info:
        resolve_model(name, task)
    assert words in str(info.value) and "Traceback" not in str(info.value)


def test_a_folder_without_a_model_is_refused(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        resolve_model(str(tmp_path), "text")


@pytest.mark.parametrize("name", ["roberta-base", "no-such-org/no-such-model-xyz"])
def test_a_hub_model_that_cannot_be_downloaded_fails_with_a_plain_message(name):
    # HF_HUB_OFFLINE=1 (tests/conftest.py) makes the hub unreachable, as on an offline laptop.
    from core.models import build_model

    with pytest.raises(ModelLoadError) as info:
        build_model("text", RunConfig(model=name), ["a", "b"])
    message = str(info.value)
    assert name in message and "offline" in message
    assert "\n" not in message and "Error" not in message
    assert info.value.detail  # the library's text is kept for the log


def test_a_model_that_is_not_a_classifier_backbone_is_refused(tmp_path: Path):
    from core.models import build_model

    # A config of a kind transformers has no image-classification class for (a text-only model type).
    (tmp_path / "config.json").write_text('{"model_type": "distilbert"}')
    with pytest.raises(ModelLoadError, match="cannot be used as an image classifier|does not hold an image model"):
        build_model("image", RunConfig(model=str(tmp_path)), ["a", "b"])


def test_method_registry():
    assert list(METHODS) == ["full", "lora", "prompt", "prefix", "ia3", "bitfit", "head", "fewshot"]
    assert {m.key for m in methods_for("image")} == {"full", "lora", "ia3", "bitfit", "head"}
    assert {m.key for m in methods_for("text")} == set(METHODS)
    for method in METHODS.values():
        assert method.description.endswith(".") and len(method.description) < 120
    with pytest.raises(ValueError, match="Unknown tuning method"):
        get_method("magic")
