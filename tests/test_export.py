"""Exporting a run: each format loads with its own library in a fresh process and predicts what Tuneboard's
predictor predicts; an export is verified on the test set before it is offered; the model card shows user text as
typed; the command line answers a wrong request with one plain sentence.

Tiny random-weight models only (tiny-bert, tiny-image): accuracies mean nothing, agreement with the trained model
does. The fresh processes here are the tests' own (`python -I`, plain library code), independent of the export's
own check (core/export/fresh_check.py), so a check that passed wrongly would still be caught.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.__main__ import main as cli_main
from core.export import ExportError, export_run
from core.export.result import allowed_drop
from core.export.markdown_text import md
from core.run_config import RunConfig
from core.serving.inference import load_predictor
from core.training import train_run
from core.training.progress import NullReporter
from tests.finished_runs import text_run, use_run
from tests.rendered_markdown import live_markup, rendered_text
from tests.test_methods_train import IMAGE_LABELS, TEXT_LABELS, WORDS, write_image_dataset, write_text_dataset

SAME_PROBABILITIES = 1e-4  # a float32 copy in another runtime: differences are ~1e-7, anything near 1e-4 is a bug
NASTY_LABELS = ["<b>*x*</b>", "[win](https://evil.example) | 1. list"]  # sorted: a run's label order


# (learning rate, epochs) that make each tiny run depend on its input: at the higher rates of other tests a random
# tiny-bert settles on one answer for every text, and the comparisons below would hold for any wrong export too.
TRAINING = {"full": (1e-3, 6), "lora": (2e-3, 6), "prompt": (3e-2, 6)}


def wake_batch_norm(run: Path, dataset: Path) -> None:
    """tiny-image's random layers shrink activations about tenfold per block, so in eval mode it gives the same
    answer for every image until its batch-norm statistics are learned (hundreds of steps at momentum 0.01). Set
    them at once from the training images, as a longer run would, and save the run's weights with them."""
    import torch
    from safetensors.torch import save_file

    from core.models.image_inputs import eval_tensor, load_working_image

    predictor = load_predictor(run)
    model = predictor.model.to("cpu").to(memory_format=torch.contiguous_format)
    frame = pd.read_csv(dataset / "examples.csv", dtype=str, keep_default_na=False)
    images = [dataset / p for p in frame[frame["split"] == "train"]["input"]]
    pixels = torch.stack([eval_tensor(load_working_image(p, predictor.image), predictor.image) for p in images])
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: one batch of all training images sets them exactly
    with torch.no_grad():
        model.train()(pixel_values=pixels)
    save_file({k: v.contiguous() for k, v in model.eval().state_dict().items()}, str(run / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs trained once for the module, on demand: runs(task, model, method) -> (run folder, dataset folder)."""
    root = tmp_path_factory.mktemp("export-runs")
    data = {"text": write_text_dataset(root / "text", n=80), "image": write_image_dataset(root / "image", n=40)}
    trained: dict[tuple, tuple[Path, Path]] = {}

    def get(task: str, model: str, method: str) -> tuple[Path, Path]:
        key = (task, model, method)
        if key not in trained:
            with pytest.MonkeyPatch.context() as patch:  # caches under the module's own data folder, not ~/.tuneboard
                patch.setenv("TUNEBOARD_HOME", str(root / "home"))
                folder = root / f"{model}-{method}"
                labels = TEXT_LABELS if task == "text" else IMAGE_LABELS
                learning_rate, epochs = TRAINING[method]
                config = RunConfig(model=model, method=method, epochs=epochs, learning_rate=learning_rate,
                                   batch_size=8, seed=11)
                train_run(data[task], labels, task, config, folder, NullReporter())
                if model == "tiny-image":
                    wake_batch_norm(folder, data[task])
            trained[key] = (folder, data[task])
        return trained[key]
    return get


def split_inputs(dataset: Path, task: str) -> list:
    frame = pd.read_csv(dataset / "examples.csv", dtype=str, keep_default_na=False)
    inputs = frame[frame["split"] == "test"]["input"].tolist()
    return inputs if task == "text" else [str(dataset / p) for p in inputs]


def fresh_process(code: str, *args: str) -> object:
    """Run `code` in an isolated interpreter (no PYTHONPATH, so no Tuneboard) and return the JSON it prints."""
    done = subprocess.run([sys.executable, "-I", "-c", code, *args], capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(Path.home())})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PLAIN_TRANSFORMERS = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
folder, texts = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
tokenizer = AutoTokenizer.from_pretrained(folder)
with torch.no_grad():
    logits = model(**tokenizer(texts, truncation=True, padding=True, return_tensors="pt")).logits
print(json.dumps({"probabilities": logits.softmax(-1).tolist(), "id2label": model.config.id2label}))
"""

PLAIN_PEFT = """
import json, sys
import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer
folder, texts = sys.argv[1], json.loads(sys.argv[2])
base = AutoModelForSequenceClassification.from_pretrained(folder + "/base")
model = PeftModel.from_pretrained(base, folder + "/adapter").eval()
tokenizer = AutoTokenizer.from_pretrained(folder + "/base")
with torch.no_grad():
    logits = model(**tokenizer(texts, truncation=True, padding=True, return_tensors="pt",
                                 return_token_type_ids=False)).logits
print(json.dumps({"probabilities": logits.softmax(-1).tolist(), "type": type(model).__name__}))
"""


def assert_same_predictions(got, expected) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    # The trained model's answers vary with the input well beyond the tolerance, or agreeing would prove nothing.
    assert np.ptp(expected[:, 0]) > 5 * SAME_PROBABILITIES, np.ptp(expected[:, 0])
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    np.testing.assert_allclose(got, expected, atol=SAME_PROBABILITIES)


def assert_offered_and_exact(result, examples: int) -> None:
    assert result.accepted, result.reason
    assert result.test_examples == examples and result.agreement == 1.0
    assert result.export_accuracy == result.pytorch_accuracy
    assert result.max_probability_difference < SAME_PROBABILITIES
    assert 0 < result.model_bytes <= result.size_bytes and result.latency_ms_p50 > 0
    assert (result.path / "README.md").is_file() and (result.path / "verification.json").is_file()


@pytest.mark.slow  # trains a tiny model, exports it, starts fresh processes
def test_hf_export_of_a_lora_text_run_loads_with_plain_transformers(runs, tmp_path):
    run, dataset = runs("text", "tiny-bert", "lora")
    result = export_run(run, "hf", tmp_path / "hf", dataset_dir=dataset)
    texts = split_inputs(dataset, "text")
    assert_offered_and_exact(result, len(texts))
    assert not (result.path / "tuneboard.json").exists()  # nothing Tuneboard-specific is needed to load it
    loaded = fresh_process(PLAIN_TRANSFORMERS, str(result.path), json.dumps(texts))
    assert loaded["id2label"] == {"0": "neg", "1": "pos"}
    assert_same_predictions(loaded["probabilities"], load_predictor(run).predict_proba(texts))


@pytest.mark.slow  # trains a tiny model, exports it twice, starts fresh processes
def test_prompt_tuning_exports_load_with_peft_in_a_fresh_process(runs, tmp_path):
    run, dataset = runs("text", "tiny-bert", "prompt")
    texts = split_inputs(dataset, "text")
    result = export_run(run, "hf", tmp_path / "hf", dataset_dir=dataset)
    assert_offered_and_exact(result, len(texts))
    loaded = fresh_process(PLAIN_PEFT, str(result.path), json.dumps(texts))
    assert loaded["type"] == "PeftModelForSequenceClassification"
    assert_same_predictions(loaded["probabilities"], load_predictor(run).predict_proba(texts))
    # The adapter alone, checked on the base model it was trained from: a small fraction of the whole model.
    adapter = export_run(run, "adapter", tmp_path / "adapter", dataset_dir=dataset)
    assert_offered_and_exact(adapter, len(texts))
    assert (adapter.path / "adapter_model.safetensors").is_file()
    assert adapter.model_bytes < result.model_bytes / 10
    assert "PeftModel.from_pretrained" in (adapter.path / "README.md").read_text()


PLAIN_EFFICIENTNET = """
import json, runpy, sys
import numpy as np, torch
folder, pixels = sys.argv[1], np.load(sys.argv[2])
script = runpy.run_path(folder + "/load_model.py")  # the export's own loading script, as a user runs it
scripted = torch.jit.load(folder + "/model.torchscript.pt")
with torch.no_grad():
    out = [m(torch.from_numpy(pixels)).softmax(-1).tolist() for m in (script["load_model"](folder), scripted)]
print(json.dumps(out))
"""


@pytest.mark.slow  # trains a tiny model, exports it, starts fresh processes
def test_hf_export_of_an_efficientnet_run_is_weights_a_loading_script_and_torchscript(runs, tmp_path):
    from core.models.image_inputs import eval_tensor, load_working_image

    run, dataset = runs("image", "tiny-image", "full")
    result = export_run(run, "hf", tmp_path / "hf", dataset_dir=dataset)
    images = split_inputs(dataset, "image")
    assert_offered_and_exact(result, len(images))
    assert [c.name for c in result.checks] == ["model.safetensors + load_model.py", "model.torchscript.pt"]
    assert all(c.agreement == 1.0 for c in result.checks)
    predictor = load_predictor(run)
    pixels = np.stack([eval_tensor(load_working_image(p, predictor.image), predictor.image).numpy() for p in images])
    np.save(tmp_path / "pixels.npy", pixels)
    from_script, from_torchscript = fresh_process(PLAIN_EFFICIENTNET, str(result.path), str(tmp_path / "pixels.npy"))
    expected = predictor.predict_proba(images)
    assert_same_predictions(from_script, expected)
    assert_same_predictions(from_torchscript, expected)


@pytest.mark.parametrize("task,model", [("text", "tiny-bert"), ("image", "tiny-image")])
@pytest.mark.slow  # trains a tiny model, exports it, starts a fresh process
def test_onnx_export_gives_the_trained_models_predictions(task, model, runs, tmp_path):
    import onnxruntime

    run, dataset = runs(task, model, "full")
    result = export_run(run, "onnx", tmp_path / "onnx", dataset_dir=dataset)
    inputs = split_inputs(dataset, task)
    assert_offered_and_exact(result, len(inputs))
    preprocessing = json.loads((result.path / "preprocessing.json").read_text())
    session = onnxruntime.InferenceSession(str(result.path / "model.onnx"), providers=["CPUExecutionProvider"])
    # Dynamic axes: batch (and sequence for text) are named symbols, not the traced example's sizes.
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert all(isinstance(shape[0], str) for shape in shapes.values())
    predictor = load_predictor(run)
    if task == "text":
        assert preprocessing["max_length"] == predictor.max_length and (result.path / "tokenizer.json").is_file()
        assert all(isinstance(shape[1], str) for shape in shapes.values())
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(result.path))  # the export's own tokenizer files
        feeds = dict(tokenizer(inputs, truncation=True, padding=True, return_tensors="np", return_token_type_ids=False))
    else:
        from core.models.image_inputs import eval_tensor, load_working_image

        assert preprocessing["size"] == predictor.image.size and preprocessing["mean"] == predictor.image.mean
        feeds = {"pixel_values": np.stack([eval_tensor(load_working_image(p, predictor.image), predictor.image).numpy()
                                           for p in inputs])}
    logits = session.run(None, feeds)[0]  # every test example in one batch: not the traced batch size
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    assert_same_predictions(probabilities / probabilities.sum(1, keepdims=True), predictor.predict_proba(inputs))


@pytest.mark.parametrize("task,model,int8_ops", [("text", "tiny-bert", {"MatMulInteger", "DynamicQuantizeLinear"}),
                                                 ("image", "tiny-image", {"QuantizeLinear", "DequantizeLinear"})])
@pytest.mark.slow  # trains a tiny model, exports and quantizes it, starts a fresh process
def test_int8_export_runs_and_is_verified(task, model, int8_ops, runs, tmp_path):
    import onnx

    run, dataset = runs(task, model, "full")
    result = export_run(run, "onnx-int8", tmp_path / "int8", dataset_dir=dataset)
    # Random weights: the int8 model may or may not keep the accuracy, but it was run and judged.
    assert result.agreement is not None and 0 <= result.agreement <= 1 and result.export_accuracy is not None
    assert result.reason
    lost = round((result.pytorch_accuracy - result.export_accuracy) * result.test_examples)
    assert result.accepted == (lost <= allowed_drop(result.test_examples)), result.reason
    graph = onnx.load(str(result.path / "model.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert int8_ops <= ops, ops
    if task == "text":  # the attention's products in int8, the feed-forward layers' (intermediate size) in float32
        import json

        size = json.loads((run / "model" / "config.json").read_text())["intermediate_size"]
        shapes = {init.name: tuple(init.dims) for init in graph.initializer}
        feed_forward = [node for node in graph.node if node.op_type in ("MatMul", "Gemm", "MatMulInteger")
                        and any(size in shapes.get(i, ()) for i in node.input)]
        assert feed_forward and {node.op_type for node in feed_forward} <= {"MatMul", "Gemm"}
        assert "feed-forward layers stay in float32" in (result.path / "README.md").read_text()
    if task == "image":  # static: every convolution reads int8 weights (through DequantizeLinear), none stays float
        made_by = {out: node.op_type for node in graph.node for out in node.output}
        convs = [node for node in graph.node if node.op_type == "Conv"]
        assert convs and all(made_by.get(node.input[1]) == "DequantizeLinear" for node in convs)
    float32_bytes = sum(p.numel() * 4 for p in load_predictor(run).model.parameters())
    assert result.model_bytes < 0.6 * float32_bytes
    assert "int8" in (result.path / "README.md").read_text()


@pytest.mark.slow  # trains a tiny model
def test_an_adapter_export_of_full_fine_tuning_is_refused_plainly(runs, tmp_path):
    run, dataset = runs("text", "tiny-bert", "full")
    with pytest.raises(ExportError, match=r"^Full fine-tuning trains the whole model's weights, not an adapter"):
        export_run(run, "adapter", tmp_path / "adapter", dataset_dir=dataset)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


@pytest.mark.slow  # trains a tiny model on classes with Markdown in their names, exports it
def test_the_model_card_shows_class_names_as_typed(tmp_path):
    rows = [(" ".join(WORDS["pos" if i % 2 else "neg"].split()[: 2 + i % 5]), NASTY_LABELS[i % 2],
             "train" if i < 24 else "val" if i < 32 else "test", str(i)) for i in range(40)]
    (tmp_path / "data").mkdir()
    pd.DataFrame(rows, columns=["input", "label", "split", "source"]).to_csv(tmp_path / "data" / "examples.csv",
                                                                            index=False)
    train_run(tmp_path / "data", NASTY_LABELS, "text", RunConfig(model="tiny-bert", method="full", epochs=1),
              tmp_path / "run", NullReporter())
    result = export_run(tmp_path / "run", "hf", tmp_path / "hf", dataset_dir=tmp_path / "data",
                        dataset_name="**my** <i>data</i>")
    card = (result.path / "README.md").read_text()
    assert "<b>" not in card and "<i>" not in card and "[win](" not in card
    assert md(NASTY_LABELS[0]) in card and r"\<b\>\*x\*\</b\>" in card
    assert live_markup(card) == []  # no link, image or HTML anywhere in the card
    assert rendered_text(md(NASTY_LABELS[1])) == NASTY_LABELS[1]
    # In the class table the name's | is escaped, so its row keeps two cells (three unescaped pipes).
    [row] = [line for line in card.splitlines() if line.startswith("| " + md(NASTY_LABELS[1]) + " | ")][:1]
    assert len(re.findall(r"(?<!\\)\|", row)) == 3


def test_markdown_text_shows_what_was_typed():
    for typed in ["[x](https://evil.example)", "<img src=x onerror=alert(1)>", "# heading", "1. item", "a|b",
                  "**bold** _it_ `code`", "www.evil.example", "plain"]:
        assert live_markup(md(typed)) == [] and rendered_text(md(typed)) == typed
    assert live_markup("[x](https://evil.example)") != []  # the check above can fail


def test_cli_refuses_a_bad_format_and_an_unknown_run_in_one_sentence(capsys):
    assert cli_main(["export", "1", "--format", "tflite", "--out", "x"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "There is no export format 'tflite'; choose one of: hf, adapter, onnx, onnx-int8."
    assert cli_main(["export", "99", "--format", "onnx", "--out", "x"]) == 2
    assert capsys.readouterr().err.strip() == "There is no run 99; `python -m core runs` lists them."
    assert cli_main(["export", "no/such/folder", "--format", "onnx", "--out", "x"]) == 2
    assert capsys.readouterr().err.strip().count(". ") == 0


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process), exported through the command line
def test_cli_exports_a_run_by_id_with_its_card_and_zip(tuneboard_home, tmp_path, capsys):
    run_id = use_run(text_run(), tuneboard_home)
    out = tmp_path / "export"
    assert cli_main(["export", str(run_id), "--format", "hf", "--out", str(out), "--zip", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == "offered" and answer["agreement"] == 1.0
    card = (out / "README.md").read_text()
    assert "messages" in card and "Always the most common class" in card  # the dataset's name and stored baselines
    with zipfile.ZipFile(answer["zip"]) as archive:
        names = set(archive.namelist())
    assert {"export/README.md", "export/model.safetensors", "export/config.json"} <= names
    # The same folder again is refused in one sentence: an export never writes over another.
    assert cli_main(["export", str(run_id), "--format", "onnx", "--out", str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
