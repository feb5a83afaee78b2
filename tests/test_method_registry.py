"""The method registry: a new tuning method is one module and one `register` call, and everything else —
presets, training, saving, loading, predicting, the Train page and the CLI — picks it up without any other file
changing. The toy method here trains only the last layer norm (plus the new classifier)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.serving.inference import load_predictor
from core.methods import METHODS, TuningMethod, get_method, methods_for, register, settings_for, unregister
from core.methods.base import in_head, train_only
from core.models.base import BuiltModel
from core.run_config import RunConfig
from core.training import train_run
from core.training.presets import resolve
from core.training.run import prepare_model
from tests.conftest import ROOT
from tests.test_methods_train import TEXT_LABELS, Recorder, saved_weights, write_text_dataset


@dataclass(frozen=True)
class LastLayerNorm(TuningMethod):
    def apply(self, built: BuiltModel, config: Any) -> None:
        norms = [n for n, m in built.model.named_modules() if isinstance(m, torch.nn.LayerNorm)]
        last = norms[-1]
        train_only(built.model, lambda name: name.startswith(last + ".") or in_head(name, built.head_names))


TOY = LastLayerNorm(
    "last-norm", "Last layer norm", "Only the last layer norm and the classifier train.", ("text",),
    presets={"text": {"quick": (1e-2, 6), "balanced": (1e-2, 8), "best": (5e-3, 10)}},
)


@pytest.fixture
def toy_method():
    register(TOY)
    yield TOY
    unregister(TOY.key)


@pytest.mark.slow
def test_a_registered_method_trains_saves_reloads_and_predicts(toy_method, tmp_path):
    """On the bundled MiniLM: a random tiny BERT's first-token features carry almost nothing about the words,
    so only a pretrained backbone shows whether the last norm and the classifier learned."""
    data = write_text_dataset(tmp_path / "data", n=80)
    config = RunConfig(model="minilm", method="last-norm", epochs=3, seed=5)
    start = {k: v.clone() for k, v in prepare_model("text", config, TEXT_LABELS).model.state_dict().items()}

    result = train_run(data, TEXT_LABELS, "text", config, tmp_path / "run", Recorder())

    # 1) it trained exactly what the method says: the last layer norm and the classifier, nothing else
    after = saved_weights(tmp_path / "run")
    changed = {name for name in start if not torch.equal(start[name], after[name])}
    assert changed == {"bert.encoder.layer.5.output.LayerNorm.weight", "bert.encoder.layer.5.output.LayerNorm.bias",
                       "classifier.weight", "classifier.bias"}
    # 2) it learned: well above always answering the most common class
    assert result.metrics["macro_f1"] > result.metrics["baselines"]["majority"]["macro_f1"] + 0.2
    # 3) the saved run reloads on its own and predicts
    predictor = load_predictor(tmp_path / "run")
    assert predictor.info["method"] == "last-norm" and not predictor.info["needs_adapter"]
    assert [max(p, key=p.get) for p in predictor.predict(["good great happy love", "bad awful sad hate"])] == [
        "pos", "neg"]


def test_a_registered_method_has_its_presets_and_the_common_settings(toy_method):
    assert toy_method in methods_for("text") and toy_method not in methods_for("image")
    resolved = resolve("text", RunConfig(method="last-norm", preset="balanced"))
    assert (resolved.learning_rate, resolved.epochs) == (1e-2, 8)
    shown = {f.name for f in settings_for("text", toy_method)}
    assert "learning_rate" in shown and "max_length" in shown
    assert not shown & {"lora_rank", "lora_alpha", "num_virtual_tokens", "image_size"}


def test_the_train_page_and_the_cli_offer_a_registered_method(toy_method, capsys):
    from core.__main__ import main
    from tests.tiny_training import make_dataset

    make_dataset(name="tickets")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["train_model_text"] = "other"
    at.session_state["train_model_other"] = "tiny-bert"
    at.run()
    at = at.switch_page("pages/train.py").run()
    assert not at.exception
    assert "Last layer norm" in at.radio(key="train_method_text").options
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "last-norm" in capsys.readouterr().out


def test_method_specific_settings_show_only_for_their_methods():
    lora, full, prompt = get_method("lora"), get_method("full"), get_method("prompt")
    assert {"lora_rank", "lora_alpha"} <= {f.name for f in settings_for("text", lora)}
    assert not {"lora_rank", "num_virtual_tokens"} & {f.name for f in settings_for("image", full)}
    assert "num_virtual_tokens" in {f.name for f in settings_for("text", prompt)}
    assert "image_size" in {f.name for f in settings_for("image", lora)}
    assert "image_size" not in {f.name for f in settings_for("text", lora)}


def test_a_method_key_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered already"):
        register(METHODS["lora"])
