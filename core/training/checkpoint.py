"""Checkpoints for resume (after every epoch and every few minutes inside one), written without pickle: tensors in safetensors, the rest in JSON.

output_dir/checkpoint/
  weights.safetensors    trainable parameters + buffers (batch-norm statistics) when it was written
  best.safetensors       the same, at the best validation macro-F1 so far (restored at the end)
  optimizer.safetensors  AdamW moments per parameter ("<param index>.<name>")
  rng.safetensors        torch (and CUDA) random state, so dropout continues the same sequence
  state.json             epoch, batches done in it, step, best metric, patience counter, optimizer groups,
                         scheduler state

A checkpoint is written to a temporary folder and renamed into place, so a crash never leaves half of one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from storage.paths import CHECKPOINT_DIR

# Inside output_dir/CHECKPOINT_DIR (see the docstring above).
WEIGHTS_FILE, BEST_FILE, OPTIMIZER_FILE, RNG_FILE, STATE_FILE = (
    "weights.safetensors", "best.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json",
)


@dataclass
class LoopState:
    epochs_done: int = 0
    batches_into_epoch: int = 0  # batches of epoch `epochs_done` already trained (a checkpoint inside an epoch)
    step: int = 0  # optimizer steps done
    best_metric: float | None = None  # validation macro-F1
    best_loss: float | None = None  # validation loss at the best epoch (tie-break)
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # per-epoch validation metrics
    samples_seen: int = 0
    step_seconds: float = 0.0  # time inside training steps (for samples/s)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What changes during training: parameters that require grad, plus all buffers. Detached CPU copies."""
    wanted = {n for n, p in model.named_parameters() if p.requires_grad} | {n for n, _ in model.named_buffers()}
    # state_dict() leaves out non-persistent buffers (e.g. position ids), which load_state_dict would reject.
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items() if k in wanted}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f"checkpoint does not match the model: unexpected {result.unexpected_keys[:5]}")


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in state.items()}


def _optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in sd["state"].items():
        for name, value in values.items():
            key = f"{index}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value.detach().to("cpu").contiguous()
            else:
                scalars[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _moments_like_their_parameters(optimizer: torch.optim.Optimizer) -> None:
    """Files hold tensors contiguous; a moment of a channels_last weight goes back to channels_last. Otherwise the
    fused AdamW step after a resume takes a different path than the uninterrupted run's and, under bf16 autocast,
    the resumed model drifts from it (1e-5 in probabilities after 3 epochs of the tiny image model)."""
    for param, values in optimizer.state.items():
        for name, value in values.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                values[name] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def save_checkpoint(output_dir: Path, model: nn.Module, best: dict[str, torch.Tensor] | None,
                    optimizer: torch.optim.Optimizer, scheduler, state: LoopState) -> None:
    final = output_dir / CHECKPOINT_DIR
    tmp = output_dir / (CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_contiguous(trainable_state(model)), str(tmp / WEIGHTS_FILE))
    if best is not None:
        save_file(_contiguous(best), str(tmp / BEST_FILE))
    opt_tensors, opt_meta = _optimizer_to_files(optimizer)
    save_file(opt_tensors, str(tmp / OPTIMIZER_FILE))
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    save_file(rng, str(tmp / RNG_FILE))
    scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    (tmp / STATE_FILE).write_text(json.dumps(
        {"loop": asdict(state), "optimizer": opt_meta, "scheduler": scheduler_state}, indent=1,
    ))
    old = output_dir / (CHECKPOINT_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def has_checkpoint(output_dir: Path) -> bool:
    return (output_dir / CHECKPOINT_DIR / STATE_FILE).is_file()


def load_checkpoint(output_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler) -> tuple[LoopState, dict[str, torch.Tensor] | None]:
    """Restore model, optimizer, scheduler and RNG in place; returns (loop state, best weights or None)."""
    folder = output_dir / CHECKPOINT_DIR
    saved = json.loads((folder / STATE_FILE).read_text())
    load_trainable_state(model, load_file(str(folder / WEIGHTS_FILE)))
    device = next(model.parameters()).device
    opt_tensors = {k: v.to(device) if not k.endswith(".step") else v
                   for k, v in load_file(str(folder / OPTIMIZER_FILE)).items()}
    optimizer.load_state_dict(_optimizer_from_files(opt_tensors, saved["optimizer"]))
    _moments_like_their_parameters(optimizer)
    # The lambdas themselves are code, not saved; LambdaLR.load_state_dict still expects the key (None = keep).
    scheduler.load_state_dict({**saved["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
    rng = load_file(str(folder / RNG_FILE))
    torch.set_rng_state(rng["torch"])
    if torch.cuda.is_available():
        cuda_states = [rng[k] for k in sorted(k for k in rng if k.startswith("cuda"))]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    best_path = folder / BEST_FILE
    best = load_file(str(best_path)) if best_path.is_file() else None
    return LoopState(**saved["loop"]), best


def remove_checkpoint(output_dir: Path) -> None:
    shutil.rmtree(output_dir / CHECKPOINT_DIR, ignore_errors=True)
