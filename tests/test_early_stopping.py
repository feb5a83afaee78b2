"""Early stopping: when the validation score stops improving, training ends `patience` epochs after its best
epoch and the model holds that best epoch's weights, not the last ones.

The data makes the validation curve flat on purpose: the validation labels are the training labels swapped, so
from the first epoch on the model gets every validation example wrong (macro-F1 0.0 every epoch) while the
validation loss keeps rising as it learns the training labels better. Epoch 1 is the best; the weights keep
changing after it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.training.progress import NullReporter
from core.models.text_inputs import Split
from core.training.device import choose_device
from core.training.features import FeatureBatches
from core.training.loop import FitSettings, fit

FEATURES = torch.eye(2).repeat(8, 1)  # (16, 2): one-hot rows, alternating class 0 / class 1
TRAIN_LABELS = np.array([0, 1] * 8)


class Probe(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(2, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class Snapshots(NullReporter):
    """The model's weights as each epoch's validation metrics are reported (after that epoch's training)."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.weights = model, []

    def metrics(self, step, epoch, values) -> None:
        if "val_macro_f1" in values:
            self.weights.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})


def train(epochs: int, patience: int, tmp_path) -> tuple[Probe, object, Snapshots]:
    model = Probe()
    train_data = FeatureBatches(FEATURES, Split(list(range(16)), [""] * 16, TRAIN_LABELS))
    val_data = FeatureBatches(FEATURES, Split(list(range(16)), [""] * 16, 1 - TRAIN_LABELS))
    settings = FitSettings(epochs=epochs, learning_rate=0.5, batch_size=4, warmup_ratio=0.0, schedule="linear",
                           patience=patience, checkpoint=False)
    reporter = Snapshots(model)
    state = fit(model, model.train, train_data, val_data, settings, choose_device("cpu"), reporter, tmp_path)
    return model, state, reporter


def test_a_flat_validation_curve_stops_after_patience_epochs_and_keeps_the_best_epoch(tmp_path):
    model, state, seen = train(epochs=20, patience=2, tmp_path=tmp_path)

    assert [h["val_macro_f1"] for h in state.history] == [0.0, 0.0, 0.0]  # flat
    assert state.epochs_done == 3 and state.best_epoch == 1  # the best epoch, then `patience` more
    # The weights went on changing after epoch 1, and the model came back to epoch 1's.
    first, last = seen.weights[0], seen.weights[-1]
    assert not torch.equal(first["linear.weight"], last["linear.weight"])
    assert all(torch.equal(value, first[name]) for name, value in model.state_dict().items())


def test_patience_zero_never_stops_early(tmp_path):
    _, state, _ = train(epochs=5, patience=0, tmp_path=tmp_path)
    assert state.epochs_done == 5
