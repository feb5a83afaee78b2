"""Every tuning method learns, on every task it applies to: trained on the bundled pretrained models with the
method's own Quick preset, its test macro-F1 beats always answering the most common class by at least 0.2.

The data are small generated sets a pretrained model can learn in a few dozen steps (two classes of short texts
told apart by their words; red and blue pictures). The random tiny models of test_methods_train.py show which
weights train, not whether a method learns: their frozen features carry almost nothing.
"""

from __future__ import annotations

import pytest

from core.methods import methods_for
from core.run_config import RunConfig
from core.training import train_run
from tests.test_methods_train import IMAGE_LABELS, TEXT_LABELS, Recorder, write_image_dataset, write_text_dataset

CASES = [(task, method.key) for task in ("text", "image") for method in methods_for(task)]
# Small inputs keep each run to seconds: the generated texts are a few words, the pictures flat colour.
SIZES = {"text": {"model": "minilm", "max_length": 16}, "image": {"model": "efficientnet-lite0", "image_size": 96}}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    return {"text": write_text_dataset(root / "text", n=100), "image": write_image_dataset(root / "image", n=48)}


@pytest.mark.slow
@pytest.mark.parametrize("task,method", CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_method_learns_more_than_the_majority_baseline(task, method, datasets, tmp_path):
    labels = TEXT_LABELS if task == "text" else IMAGE_LABELS
    config = RunConfig(method=method, preset="quick", seed=1, **SIZES[task])
    result = train_run(datasets[task], labels, task, config, tmp_path, Recorder())
    majority = result.metrics["baselines"]["majority"]["macro_f1"]
    assert result.metrics["macro_f1"] >= majority + 0.2, (method, result.metrics["macro_f1"], majority)
