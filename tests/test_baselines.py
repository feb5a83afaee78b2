"""Untuned baselines: majority and zero-shot, and the per-dataset cache of the zero-shot score.

The zero-shot tests run the bundled all-MiniLM-L6-v2 (a real model; about 2 s on a CPU).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.baselines import cached_zero_shot_baseline, majority_baseline, zero_shot_baseline
from core.catalog import minilm_path
from core.datasets.files import EXAMPLES_FILE

TEXTS = ["I want my money back, the charge was wrong", "refund the double payment on my card please",
         "the parcel never arrived at my door", "where is my delivery, the package is late"]
LABELS = ["billing", "delivery"]
TRUE = np.array([0, 0, 1, 1])


def test_majority_always_answers_the_most_common_training_class():
    result = majority_baseline(np.array([1, 1, 1, 0]), np.array([1, 0, 1, 1]), 2)
    assert result["predicted_label_id"] == 1 and result["accuracy"] == 0.75


needs_minilm = pytest.mark.skipif(minilm_path() is None, reason="the bundled MiniLM package is not installed")


@pytest.mark.slow
@needs_minilm
def test_zero_shot_matches_texts_to_label_names():
    result = zero_shot_baseline(TEXTS, TRUE, LABELS)
    assert result["accuracy"] == 1.0  # these texts say their class in other words


@pytest.mark.slow
@needs_minilm
def test_zero_shot_is_computed_once_per_dataset_and_keyed_by_its_content(tmp_path):
    dataset, cache = tmp_path / "dataset", tmp_path / "cache"
    dataset.mkdir()
    (dataset / EXAMPLES_FILE).write_text("input,label,split,source\n")
    first = cached_zero_shot_baseline(dataset, cache, TEXTS, TRUE, LABELS)
    assert first == zero_shot_baseline(TEXTS, TRUE, LABELS)
    stored = list((cache / "baselines").glob("*.json"))
    assert len(stored) == 1
    # Served from the file: a doctored file shows that the second call did not recompute.
    stored[0].write_text('{"accuracy": 0.123, "macro_f1": 0.1, "model": "all-MiniLM-L6-v2"}')
    assert cached_zero_shot_baseline(dataset, cache, TEXTS, TRUE, LABELS)["accuracy"] == 0.123
    # Other examples or other label names are another dataset: computed anew.
    (dataset / EXAMPLES_FILE).write_text("input,label,split,source\nx,billing,test,\n")
    assert cached_zero_shot_baseline(dataset, cache, TEXTS, TRUE, LABELS)["accuracy"] == 1.0
    assert cached_zero_shot_baseline(dataset, cache, TEXTS, TRUE, ["money", "parcel"])["model"] == "all-MiniLM-L6-v2"
    assert len(list((cache / "baselines").glob("*.json"))) == 3
