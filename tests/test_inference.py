"""A saved run reloads and predicts what it predicted at evaluation time; `python -m core predict` agrees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.__main__ import main as cli_main
from core.catalog import ModelLoadError
from core.datasets.files import read_examples
from core.serving.inference import load_predictor
from core.ingest import DataError, ingest_bytes
from core.run_config import RunConfig
from core.training import train_run
from tests.finished_runs import image_run, text_run, use_run
from tests.test_bad_inputs import zip_bomb
from tests.test_ingest_images import class_folders, photo
from tests.test_methods_train import IMAGE_LABELS, TEXT_LABELS, Recorder, write_image_dataset, write_text_dataset

CASES = [
    ("text", "tiny-bert", "full"), ("text", "tiny-bert", "lora"), ("text", "tiny-bert", "prompt"),
    ("text", "tiny-bert", "prefix"), ("text", "tiny-bert", "head"),
    ("image", "tiny-image", "lora"), ("image", "tiny-image", "head"), ("image", "tiny-vit", "ia3"),
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {"text": write_text_dataset(root / "text"), "image": write_image_dataset(root / "image")}


def split_test_inputs(dataset_dir: Path, task: str) -> list:
    frame = read_examples(dataset_dir)
    inputs = frame[frame["split"] == "test"]["input"].tolist()
    return inputs if task == "text" else [dataset_dir / p for p in inputs]


@pytest.mark.parametrize("task,model,method", CASES, ids=[f"{m}-{k}" for _, m, k in CASES])
@pytest.mark.slow  # trains tiny models: seconds each
def test_a_saved_run_predicts_what_it_predicted_at_evaluation(task, model, method, datasets, tmp_path):
    labels = TEXT_LABELS if task == "text" else IMAGE_LABELS
    config = RunConfig(model=model, method=method, epochs=2, learning_rate=5e-3, seed=11)
    result = train_run(datasets[task], labels, task, config, tmp_path, Recorder())

    predictor = load_predictor(tmp_path)
    assert predictor.labels == labels and not predictor.model.training
    predicted = predictor.predict(split_test_inputs(datasets[task], task))
    assert [list(p) for p in predicted] == [labels] * len(predicted)  # label -> probability, dataset label order
    assert [max(p, key=p.get) for p in predicted] == [p["predicted_label"] for p in result.predictions]
    np.testing.assert_allclose([list(p.values()) for p in predicted],
                               [p["probabilities"] for p in result.predictions], atol=1e-4)
    # Only safe formats on disk: nothing that loading would have to unpickle.
    saved = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert not [n for n in saved if n.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle"))]
    assert (tmp_path / "model" / "tuneboard.json").is_file()
    if method in ("lora", "prompt", "prefix", "ia3"):
        assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.slow  # trains a tiny model
def test_the_saved_hf_folder_carries_labels_and_its_tokenizer(datasets, tmp_path):
    train_run(datasets["text"], TEXT_LABELS, "text", RunConfig(model="tiny-bert", method="lora", epochs=1),
              tmp_path, Recorder())
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}
    assert (tmp_path / "model" / "model.safetensors").is_file() and (tmp_path / "model" / "tokenizer.json").is_file()
    info = json.loads((tmp_path / "model" / "tuneboard.json").read_text())
    assert info["task"] == "text" and info["labels"] == TEXT_LABELS and info["method"] == "lora"
    assert info["config"]["model"] == "tiny-bert" and info["max_length"] == 64


@pytest.mark.slow  # trains a tiny model
def test_images_predict_the_same_from_a_path_or_an_opened_image(datasets, tmp_path):
    train_run(datasets["image"], IMAGE_LABELS, "image", RunConfig(model="tiny-image", method="full", epochs=1),
              tmp_path, Recorder())
    predictor = load_predictor(tmp_path)
    paths = split_test_inputs(datasets["image"], "image")[:3]
    from_paths = predictor.predict(paths)
    from_images = predictor.predict([Image.open(p) for p in paths])
    np.testing.assert_allclose([list(p.values()) for p in from_paths], [list(p.values()) for p in from_images])
    assert all(abs(sum(p.values()) - 1) < 1e-5 for p in from_paths)


@pytest.mark.parametrize("task,model", [("text", "tiny-bert"), ("image", "tiny-image")])
@pytest.mark.slow  # trains tiny models twice
def test_a_saved_model_folder_is_a_base_model_for_a_new_run(task, model, datasets, tmp_path):
    labels = TEXT_LABELS if task == "text" else IMAGE_LABELS
    train_run(datasets[task], labels, task, RunConfig(model=model, method="full", epochs=1), tmp_path / "first",
              Recorder())
    config = RunConfig(model=str(tmp_path / "first" / "model"), method="head", epochs=2)
    result = train_run(datasets[task], labels, task, config, tmp_path / "second", Recorder())
    assert len(result.predictions) == len(split_test_inputs(datasets[task], task))
    # Head only: the backbone saved by the first run is carried over unchanged.
    first, second = load_predictor(tmp_path / "first").model, load_predictor(tmp_path / "second").model
    heads = ("classifier", "_fc")
    backbone = {k: v for k, v in first.state_dict().items() if not k.startswith(heads)}
    assert backbone and all(torch.equal(v, second.state_dict()[k]) for k, v in backbone.items())


def test_a_missing_model_is_a_plain_error(tmp_path):
    with pytest.raises(ModelLoadError, match="No saved model was found"):
        load_predictor(tmp_path)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_cli_predict_prints_what_the_saved_model_says(tuneboard_home, capsys):
    run_id = use_run(text_run(), tuneboard_home)
    text = "WINNER!! Claim your FREE prize now"
    assert cli_main(["predict", "--run", str(run_id), "--text", text, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    from storage.paths import data_home
    from storage.runs import get_run

    (expected,) = load_predictor(data_home() / get_run(run_id).artifact_dir).predict([text])
    (item,) = out["predictions"]
    assert item["input"] == text and item["label"] == max(expected, key=expected.get)
    assert item["probabilities"] == pytest.approx(expected, abs=1e-6)

    csv = tuneboard_home / "batch.csv"
    csv.write_text("id,message\n1,see you at lunch tomorrow then\n2,FREE entry! text WIN to 80123 now\n")
    assert cli_main(["predict", "--run", str(run_id), "--file", str(csv)]) == 0
    printed = capsys.readouterr().out
    assert "see you at lunch" in printed and "FREE entry" in printed and printed.count("->") == 2


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_cli_predict_on_an_image_folder(tuneboard_home, capsys):
    trained = image_run()
    run_id = use_run(trained, tuneboard_home)
    folder = trained.data / "bees"
    assert cli_main(["predict", "--run", str(run_id), "--file", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["predictions"]) == len(list(folder.glob("*.png")))
    assert all(set(p["probabilities"]) == {"ants", "bees"} for p in out["predictions"])


@pytest.mark.slow  # trains a run first: about 15 s
def test_cli_predict_reads_a_file_as_the_data_page_does(tuneboard_home, capsys, tmp_path):
    """--file goes through the Predict page's reader: the Data page's refusals, unreadable images named, the rest scored."""
    run_id = use_run(image_run(), tuneboard_home)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_bomb())
    with pytest.raises(DataError) as on_data:
        ingest_bytes("bomb.zip", bomb.read_bytes())
    assert cli_main(["predict", "--run", str(run_id), "--file", str(bomb)]) == 2
    assert capsys.readouterr().err.strip() == on_data.value.message

    files = class_folders(2) | {"ants/cut.jpg": photo(11, size=(64, 64))[:300]}
    for name, content in files.items():
        (tmp_path / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "photos" / name).write_bytes(content)
    assert cli_main(["predict", "--run", str(run_id), "--file", str(tmp_path / "photos"), "--json"]) == 0
    printed = capsys.readouterr()
    out = json.loads(printed.out)
    assert [p["input"] for p in out["predictions"]] == sorted(name for name in files if name != "ants/cut.jpg")
    (warning,) = out["warnings"]
    assert warning.startswith("Skipped 1 image that could not be read: 'ants/cut.jpg: damaged or cut off")
    assert warning in printed.err


@pytest.mark.parametrize("args,message", [
    (["--run", "999", "--text", "hi"], "There is no run 999"),
    (["--run", "{run}", "--image", "x.png"], "classifies texts"),
])
@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_cli_predict_refuses_with_a_plain_message(args, message, tuneboard_home, capsys):
    run_id = use_run(text_run(), tuneboard_home)
    assert cli_main(["predict", *[a.format(run=run_id) for a in args]]) == 2
    assert message in capsys.readouterr().err
