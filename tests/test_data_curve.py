"""Would more data help? The learning curve of the head-only model and its reading at twice the data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.training.data_curve import FRACTIONS, MIN_VALIDATION, learning_curve

CENTERS = np.random.default_rng(0).normal(size=(5, 64)) * 0.35  # five overlapping classes


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 5, n)
    return CENTERS[y] + rng.normal(size=(n, 64)), y


@pytest.mark.slow  # eleven logistic regressions on 2,000 examples and a bootstrap: several seconds
def test_the_reading_at_twice_the_data_holds_on_data_where_the_answer_is_known():
    rng = np.random.default_rng(1)
    (train_x, train_y), (val_x, val_y), (more_x, more_y) = draw(2000, rng), draw(800, rng), draw(2000, rng)
    curve = learning_curve(train_x, train_y, val_x, val_y)
    assert [p.fraction for p in curve.points] == list(FRACTIONS)
    assert [p.examples for p in curve.points] == [200, 500, 1000, 2000]
    assert curve.points[0].accuracy < curve.points[-1].accuracy  # more data helps here, by construction
    # What twice the data really gives: the same head trained on 4,000 examples.
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    actual = float(np.mean(head.fit(np.vstack([train_x, more_x]), np.r_[train_y, more_y]).predict(val_x) == val_y))
    assert curve.doubled_low <= curve.doubled <= curve.doubled_high
    assert curve.doubled > curve.current
    assert curve.doubled_low - 0.01 <= actual <= curve.doubled_high + 0.01


def test_a_curve_that_is_already_flat_promises_no_gain():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 1200)
    x = np.column_stack([y * 10.0, rng.normal(size=(1200, 8))])  # perfectly separable: flat at 100%
    curve = learning_curve(x[:800], y[:800], x[800:], y[800:])
    assert curve.current == 1.0 and curve.doubled == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow  # builds a tiny model and extracts its features (a few seconds)
def test_the_curve_of_a_stored_dataset_reads_cached_features(tuneboard_home):
    from core.datasets.store import dataset_dir
    from core.training.data_curve import data_curve
    from storage.datasets import get_dataset
    from tests.tiny_training import make_dataset

    dataset = get_dataset(make_dataset(rows=160))  # 80 training, 40 validation examples
    first = data_curve(dataset_dir(dataset), ["ham", "spam"], "text", "tiny-bert")
    assert not first.note and len(first.points) == len(FRACTIONS) and first.validation_examples == 40
    assert list((tuneboard_home / "cache" / "features").glob("*.safetensors"))  # the head-only method's cache
    assert data_curve(dataset_dir(dataset), ["ham", "spam"], "text", "tiny-bert") == first  # same draws, same curve
    small = get_dataset(make_dataset(name="small", rows=60))  # 15 validation examples
    assert f"at least {MIN_VALIDATION} are needed" in data_curve(dataset_dir(small), ["ham", "spam"], "text",
                                                                 "tiny-bert").note
