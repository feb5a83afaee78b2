"""Full fine-tuning trains only the word-embedding rows of tokens the training texts contain
(core/training/seen_rows.py), and ends with the weights the whole-table AdamW gives: the rows it trained, and every
other row shrunk by AdamW's weight decay alone.

The comparison run trains the whole table (the swap turned off by monkeypatching the project's own switch, not
mocked). The learning rate and weight decay are large on purpose: a missing or wrong decay moves unseen rows by
about 3% of their size, far above the tolerance.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from core.models.build import build_model
from core.run_config import RunConfig
from core.training import seen_rows, train_run
from core.training.data import load_splits
from core.models.text_inputs import TextBatches
from tests.test_methods_train import TEXT_LABELS, Recorder, write_text_dataset

CONFIG = dict(model="tiny-bert", method="full", epochs=2, batch_size=4, learning_rate=0.01, weight_decay=0.3,
              early_stopping_patience=0, seed=3)


def trained_weights(dataset, out, whole_table: bool, monkeypatch) -> tuple[dict[str, torch.Tensor], list[str]]:
    with monkeypatch.context() as patch:
        if whole_table:
            patch.setattr(seen_rows, "train_seen_rows_only", lambda *args: None)
        reporter = Recorder()
        train_run(dataset, TEXT_LABELS, "text", RunConfig(**CONFIG), out, reporter)
    return load_file(str(out / "model" / "model.safetensors")), reporter.lines


def test_training_the_seen_rows_only_gives_the_whole_table_adamw_weights(tmp_path, monkeypatch):
    dataset = write_text_dataset(tmp_path / "data")
    seen_only, lines = trained_weights(dataset, tmp_path / "seen", False, monkeypatch)
    whole, _ = trained_weights(dataset, tmp_path / "whole", True, monkeypatch)

    assert any("Word embeddings:" in line for line in lines), lines
    assert seen_only.keys() == whole.keys()
    for name, value in whole.items():
        torch.testing.assert_close(seen_only[name], value, rtol=1e-5, atol=1e-6, msg=name)

    # the rows no training text contains moved, by the decay alone (so the test above checked the decay)
    table = next(name for name in whole if name.endswith("word_embeddings.weight"))
    config = RunConfig(**CONFIG)
    built = build_model("text", config, TEXT_LABELS)  # tiny-bert's random weights come from the seed
    train = TextBatches(load_splits(dataset, TEXT_LABELS)["train"], built.tokenizer, 64)
    seen = seen_rows.seen_token_ids(train.token_ids, whole[table].shape[0])
    unseen = torch.ones(whole[table].shape[0], dtype=torch.bool)
    unseen[seen] = False
    unseen[train.pad_id] = False
    before = built.model.get_input_embeddings().weight.detach()
    ratio = whole[table][unseen].norm() / before[unseen].norm()
    assert 0.9 < ratio < 0.99, ratio


@pytest.mark.parametrize("method", ["lora", "bitfit"])
def test_methods_with_a_frozen_table_keep_it(method, tmp_path):
    """Nothing to swap where the table does not train: the run's log says nothing about rows."""
    dataset = write_text_dataset(tmp_path / "data")
    reporter = Recorder()
    train_run(dataset, TEXT_LABELS, "text", RunConfig(**{**CONFIG, "method": method, "epochs": 1}), tmp_path / "out",
              reporter)
    assert not any("Word embeddings:" in line for line in reporter.lines)
