"""The training loop: AdamW, warmup then linear or cosine decay, gradient accumulation, optional class
weights, early stopping on validation macro-F1 with the best weights restored, a checkpoint every epoch and every
few minutes inside one.

`fit` works on anything that yields batches (text, images, or cached features for head-only training):
    data.train(batch_size, seed, epoch) -> iterator of (inputs, labels, positions); data.num_train_batches(batch_size)
    data.evaluate(batch_size)    -> the same, in a fixed order;                len(data)
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from core.evaluation.metrics import accuracy_and_macro_f1
from core.models.base import logits_of
from core.training import distributed, seen_rows
from core.training.progress import Progress, Reporter
from core.training.checkpoint import (
    LoopState, has_checkpoint, load_checkpoint, load_trainable_state, save_checkpoint, trainable_state,
)
from core.training.device import DeviceSetup
from core.training.presets import DEFAULT_PATIENCE

PROGRESS_INTERVAL_S = 1.0  # the reporter hears at most about once a second
LOSS_POINTS = 100  # about this many train_loss points per run
# Besides each epoch's end, a checkpoint after the first optimizer step this long after the last one: a killed
# worker loses minutes, not a long epoch. Writing one takes about a second for MiniLM full fine-tuning.
CHECKPOINT_INTERVAL_S = 180.0


def checkpoint_interval() -> float:
    """Seconds between checkpoints inside an epoch; TUNEBOARD_CHECKPOINT_SECONDS changes it (0: after every step)."""
    return float(os.environ.get("TUNEBOARD_CHECKPOINT_SECONDS", CHECKPOINT_INTERVAL_S))


class TrainingCancelled(Exception):
    """Raised within a step of a cancel request (reporter.should_stop() returned True)."""


@dataclass
class FitSettings:
    epochs: int
    learning_rate: float
    batch_size: int
    eval_batch_size: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    schedule: str = "linear"  # "linear" | "cosine"
    grad_accum: int = 1
    patience: int = DEFAULT_PATIENCE
    seed: int = 42
    class_weights: torch.Tensor | None = None  # (num_labels,) loss weights, or None
    max_grad_norm: float = 1.0
    # The new classifier starts from random weights: it learns at a higher rate than the pretrained rest, so it
    # does not sit on the majority class while the backbone (or its adapter) adapts slowly. ids of its parameters.
    head_param_ids: frozenset[int] = frozenset()
    head_lr_scale: float = 10.0
    checkpoint: bool = True  # write output_dir/checkpoint/ after every epoch and every checkpoint_interval_s
    checkpoint_interval_s: float = field(default_factory=checkpoint_interval)
    phase: str = "Training"  # shown in progress messages


def make_optimizer(model: nn.Module, settings: FitSettings) -> torch.optim.Optimizer:
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            # Biases and norm scales (1-D) are not decayed, as in BERT's recipe.
            key = (id(param) in settings.head_param_ids, param.ndim >= 2)
            groups.setdefault(key, []).append(param)
    param_groups = [
        {"params": params, "weight_decay": settings.weight_decay if decay else 0.0,
         "lr": settings.learning_rate * (settings.head_lr_scale if head else 1.0)}
        for (head, decay), params in sorted(groups.items())
    ]
    # Fused: one kernel over every tensor, the same update. On the CPU, torch's default AdamW loops tensor by
    # tensor: 92 ms of a 420 ms MiniLM full fine-tuning step (batch 16, 32 tokens), 22 ms fused (+27% samples/s).
    try:
        return torch.optim.AdamW(param_groups, lr=settings.learning_rate, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(param_groups, lr=settings.learning_rate)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, settings: FitSettings):
    warmup = int(round(settings.warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)  # never 0: the first step already learns
        progress = (step - warmup) / max(1, total_steps - warmup)
        if settings.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return max(0.0, 1.0 - progress)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def to_device(inputs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return inputs
    return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}


@torch.no_grad()
def predict_logits(model: nn.Module, data, setup: DeviceSetup, batch_size: int,
                   reporter: Reporter | None = None) -> np.ndarray:
    """(N, num_labels) float32 logits in the split's order. Always in float32, even where training steps run under
    bf16 / fp16 autocast: the figures a run reports are then exactly what its saved model, its exports and the API
    answer (on a CPU with AMX, bf16 evaluation moved probabilities by up to 0.02 against the same weights in fp32)."""
    model.eval()
    out: np.ndarray | None = None
    for inputs, _, positions in data.evaluate(batch_size):
        if reporter is not None and reporter.should_stop():
            raise TrainingCancelled()
        logits = logits_of(model(**to_device(inputs, setup.device))).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(data), logits.shape[1]), dtype=np.float32)
        out[positions] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def validation_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.as_tensor(np.array(labels, dtype=np.int64))))
    accuracy, macro_f1 = accuracy_and_macro_f1(labels, logits.argmax(axis=1), logits.shape[1])
    return {"val_accuracy": accuracy, "val_macro_f1": macro_f1, "val_loss": loss}


class Throttle:
    def __init__(self, interval: float) -> None:
        self.interval, self.last = interval, 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


def _improved(state: LoopState, metrics: dict[str, float]) -> bool:
    if state.best_metric is None:
        return True
    if metrics["val_macro_f1"] > state.best_metric + 1e-9:
        return True
    # Equal macro-F1 (common on small validation sets): prefer the lower validation loss.
    return abs(metrics["val_macro_f1"] - state.best_metric) <= 1e-9 and metrics["val_loss"] < (state.best_loss or math.inf)


def fit(model: nn.Module, set_train_mode: Callable[[], None], train_data, val_data, settings: FitSettings,
        setup: DeviceSetup, reporter: Reporter, output_dir: Path, resume: bool = False) -> LoopState:
    """Train `model` in place; on return it holds the best validation weights (or the last, without validation)."""
    # Before the optimizer exists, so it holds the seen word-embedding rows rather than the whole table; the whole
    # table comes back however the loop ends (cancelled, failed), as the whole-table AdamW would have left it.
    stand_in = seen_rows.train_seen_rows_only(model, train_data)
    if stand_in is not None:
        reporter.log(f"Word embeddings: {len(stand_in.seen):,} of {stand_in.table.num_embeddings:,} rows hold a token "
                     f"of the training texts and train; the others get AdamW's weight decay alone, as their zero "
                     f"gradient would (the same weights as training the whole table, less work per step).")
    try:
        return _fit(model, set_train_mode, train_data, val_data, settings, setup, reporter, output_dir, resume,
                    stand_in)
    finally:
        seen_rows.restore_table(model, stand_in)


def _fit(model: nn.Module, set_train_mode: Callable[[], None], train_data, val_data, settings: FitSettings,
         setup: DeviceSetup, reporter: Reporter, output_dir: Path, resume: bool,
         stand_in: seen_rows.SeenRowsEmbedding | None) -> LoopState:
    torch.manual_seed(settings.seed)
    optimizer = make_optimizer(model, settings)
    if stand_in is not None:  # the unseen rows' weight decay, step by step as AdamW applies it
        stand_in.follow(optimizer)
    # Several processes (core/training/distributed.py): each takes its share of every global batch.
    batch_size = distributed.per_process_batch(settings.batch_size)
    all_batches = train_data.num_train_batches(batch_size)
    batches_per_epoch = distributed.batches_per_process(all_batches)
    stepped = distributed.wrap(model, setup.device)  # averages the gradients over the processes
    if distributed.world_size() > 1:
        reporter.log(f"Data-parallel: {distributed.world_size()} processes, {batch_size} examples each per batch "
                     f"({batch_size * distributed.world_size()} in all).")
    steps_per_epoch = -(-batches_per_epoch // settings.grad_accum)
    total_steps = settings.epochs * steps_per_epoch
    scheduler = make_scheduler(optimizer, total_steps, settings)
    loss_fn = nn.CrossEntropyLoss(
        weight=settings.class_weights.to(setup.device) if settings.class_weights is not None else None
    )
    scaler = setup.grad_scaler()
    state, best = LoopState(), None
    if resume and settings.checkpoint and has_checkpoint(output_dir):
        state, best = load_checkpoint(output_dir, model, optimizer, scheduler)
        reporter.log(f"Resumed from the checkpoint after epoch {state.epochs_done} (step {state.step})."
                     if not state.batches_into_epoch else
                     f"Resumed from the checkpoint inside epoch {state.epochs_done + 1}, after batch "
                     f"{state.batches_into_epoch} of {batches_per_epoch} (step {state.step}).")
    has_val = val_data is not None and len(val_data) > 0
    log_every = max(1, total_steps // LOSS_POINTS)
    throttle = Throttle(PROGRESS_INTERVAL_S)
    trainable = [p for p in model.parameters() if p.requires_grad]
    session_start, session_steps = time.perf_counter(), 0
    # Running loss stays a device tensor between log points: no GPU sync on every batch.
    loss_sum, loss_count = torch.zeros((), device=setup.device), 0
    last_checkpoint = time.monotonic()

    for epoch in range(state.epochs_done, settings.epochs):
        set_train_mode()
        optimizer.zero_grad(set_to_none=True)
        epoch_start = time.perf_counter()
        # Each epoch's order (and image augmentation) depends only on (seed, epoch): a resumed run sees the same
        # batches. Resuming inside an epoch draws the batches already trained and drops them, so the random
        # draws after them are the uninterrupted run's (for images this decodes them once more: seconds).
        batches = distributed.my_share(train_data.train(batch_size, settings.seed * 1000 + epoch, epoch), all_batches)
        skip, state.batches_into_epoch = state.batches_into_epoch, 0
        for i, (inputs, labels, _) in enumerate(itertools.islice(batches, skip, None), start=skip):
            if distributed.any_process(reporter.should_stop(), setup.device):
                raise TrainingCancelled()
            with setup.autocast():
                logits = logits_of(stepped(**to_device(inputs, setup.device)))
            loss = loss_fn(logits.float(), labels.to(setup.device))
            scaled = loss / settings.grad_accum
            (scaler.scale(scaled) if scaler else scaled).backward()
            loss_sum, loss_count = loss_sum + loss.detach(), loss_count + 1
            state.samples_seen += len(labels) * distributed.world_size()  # every process took as many
            if (i + 1) % settings.grad_accum and i + 1 < batches_per_epoch:
                continue
            # 1) one optimizer step: unscale, clip, step, advance the schedule
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            session_steps += 1
            # 2) curves and progress
            fraction = epoch + (i + 1) / batches_per_epoch
            if state.step % log_every == 0:
                reporter.metrics(state.step, fraction, {"train_loss": loss_sum.item() / loss_count,
                                                        "learning_rate": scheduler.get_last_lr()[0]})
            if throttle.ready():
                elapsed = time.perf_counter() - session_start
                seconds_per_step = elapsed / session_steps
                reporter.progress(Progress(
                    step=state.step, total_steps=total_steps, epoch=fraction,
                    message=f"{settings.phase}: epoch {epoch + 1}/{settings.epochs}",
                    loss=loss_sum.item() / loss_count, learning_rate=scheduler.get_last_lr()[0],
                    samples_per_second=state.samples_seen / max(1e-9, state.step_seconds + time.perf_counter() - epoch_start),
                    eta_seconds=seconds_per_step * (total_steps - state.step),
                ))
            if state.step % log_every == 0:
                loss_sum, loss_count = torch.zeros((), device=setup.device), 0
            # 3) a checkpoint inside the epoch, every few minutes (never after its last batch: the epoch's own
            # checkpoint follows validation)
            if (settings.checkpoint and distributed.is_main() and i + 1 < batches_per_epoch
                    and time.monotonic() - last_checkpoint >= settings.checkpoint_interval_s):
                state.batches_into_epoch = i + 1
                state.step_seconds += time.perf_counter() - epoch_start
                save_checkpoint(output_dir, model, best, optimizer, scheduler, state)
                state.batches_into_epoch, epoch_start, last_checkpoint = 0, time.perf_counter(), time.monotonic()
        state.step_seconds += time.perf_counter() - epoch_start
        state.epochs_done = epoch + 1

        # 4) validation, early stopping, checkpoint
        stop = False
        if has_val:
            metrics = validation_metrics(
                predict_logits(model, val_data, setup, settings.eval_batch_size, reporter), val_data.split.labels
            )
            reporter.metrics(state.step, float(epoch + 1), metrics)
            state.history.append({"epoch": epoch + 1, **metrics})
            reporter.log(f"Epoch {epoch + 1}/{settings.epochs}: validation accuracy {metrics['val_accuracy']:.4f}, "
                         f"macro-F1 {metrics['val_macro_f1']:.4f}, loss {metrics['val_loss']:.4f}")
            if _improved(state, metrics):
                state.best_metric, state.best_loss = metrics["val_macro_f1"], metrics["val_loss"]
                state.best_epoch, state.epochs_without_improvement = epoch + 1, 0
                best = trainable_state(model)
            else:
                state.epochs_without_improvement += 1
                stop = 0 < settings.patience <= state.epochs_without_improvement
        if settings.checkpoint and distributed.is_main():
            save_checkpoint(output_dir, model, best, optimizer, scheduler, state)
            last_checkpoint = time.monotonic()
        if stop:
            reporter.log(f"Stopped early: no better validation macro-F1 for {settings.patience} epochs.")
            break

    if best is not None:
        load_trainable_state(model, best)
        reporter.log(f"Restored the best weights (epoch {state.best_epoch}, validation macro-F1 {state.best_metric:.4f}).")
    return state
