"""The optimizer training builds: fused AdamW, no weight decay on biases and norms, the new head at a higher rate."""

from __future__ import annotations

from torch import nn

from core.training.loop import FitSettings, make_optimizer


def test_fused_adamw_with_decay_only_on_matrices_and_a_faster_head():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    head = model[2]
    model[1].weight.requires_grad = False  # frozen weights are left out
    settings = FitSettings(epochs=1, learning_rate=1e-3, batch_size=4, weight_decay=0.05,
                           head_param_ids=frozenset(id(p) for p in head.parameters()), head_lr_scale=10.0)
    optimizer = make_optimizer(model, settings)
    assert optimizer.defaults["fused"] is True
    by_param = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    assert id(model[1].weight) not in by_param
    assert (by_param[id(model[0].weight)]["weight_decay"], by_param[id(model[0].weight)]["lr"]) == (0.05, 1e-3)
    assert (by_param[id(model[0].bias)]["weight_decay"], by_param[id(model[1].bias)]["weight_decay"]) == (0.0, 0.0)
    assert (by_param[id(head.weight)]["lr"], by_param[id(head.weight)]["weight_decay"]) == (1e-2, 0.05)
    assert (by_param[id(head.bias)]["lr"], by_param[id(head.bias)]["weight_decay"]) == (1e-2, 0.0)
