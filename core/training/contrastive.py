"""The contrastive stage of a method that adapts the backbone before its head trains (core/methods/fewshot.py):
pairs of training texts, the body learns to embed same-class texts close together and the others apart.

The embedding is the input of the model's own classifier, caught with a hook (BERT: the pooler's output; a
(B, T, H) input such as RoBERTa's head reads is cut to its first token, as core.training.features does), so the
head stage that follows trains on exactly what was shaped here and the saved model is the plain classifier.
"""

from __future__ import annotations

import time

import torch

from core.methods import get_method
from core.models.base import BuiltModel
from core.models.text_inputs import Split, collate_text, tokenize
from core.training.device import DeviceSetup
from core.training.loop import PROGRESS_INTERVAL_S, Throttle, TrainingCancelled, make_scheduler, FitSettings, to_device
from core.training.progress import Progress, Reporter


class _HeadInput:
    """Catches what the classifier receives on each forward pass, with its gradient."""

    def __init__(self, built: BuiltModel) -> None:
        self.value: torch.Tensor | None = None
        head = built.base_model().get_submodule(built.head_names[0])
        self.handle = head.register_forward_pre_hook(self._keep, with_kwargs=True)

    def _keep(self, _module, args, kwargs):
        x = args[0] if args else next(iter(kwargs.values()))
        self.value = x[:, 0] if x.ndim == 3 else x  # (B, H)

    def remove(self) -> None:
        self.handle.remove()


def adapt_backbone(built: BuiltModel, train: Split, config, setup: DeviceSetup, reporter: Reporter) -> dict:
    """Train the body on pairs of `train`'s texts, in place; the head's weights are untouched and every weight is
    frozen again on return except the head's. Returns what it did (pairs, steps, seconds, final loss)."""
    method = get_method(built.method)
    pairs = method.pairs(train.labels, config.preset, config.seed)
    if not pairs:
        reporter.log("Few-shot: no pairs could be made from the training examples; the head alone trains.")
        return {"pairs": 0, "steps": 0, "seconds": 0.0}
    token_ids = tokenize(built.tokenizer, list(train.inputs), built.max_length)
    pad_id = built.tokenizer.pad_token_id if built.tokenizer.pad_token_id is not None else 0
    body = method.body_parameters(built)
    head_state = [(p, p.requires_grad) for p in built.model.parameters()]
    for p in built.model.parameters():
        p.requires_grad = False
    for p in body:
        p.requires_grad = True
    torch.manual_seed(config.seed)
    settings = FitSettings(epochs=1, learning_rate=method.body_learning_rate, batch_size=method.pair_batch,
                           warmup_ratio=0.1, schedule="linear")
    optimizer = torch.optim.AdamW(body, lr=method.body_learning_rate, weight_decay=0.01)
    batches = [pairs[i:i + method.pair_batch] for i in range(0, len(pairs), method.pair_batch)]
    scheduler = make_scheduler(optimizer, len(batches), settings)
    caught = _HeadInput(built)
    throttle, start, loss_value = Throttle(PROGRESS_INTERVAL_S), time.perf_counter(), float("nan")
    reporter.log(f"Few-shot: learning from {len(pairs):,} pairs of the {len(train)} training texts "
                 f"({sum(t for _, _, t in pairs):.0f} same-class), batch {method.pair_batch}, learning rate "
                 f"{method.body_learning_rate:g}.")
    built.model.train()
    try:
        for step, batch in enumerate(batches, start=1):
            if reporter.should_stop():
                raise TrainingCancelled()
            # one forward over both sides: (2B, T) -> (2B, H)
            positions = [i for i, _, _ in batch] + [j for _, j, _ in batch]
            inputs, _, _ = collate_text(token_ids, positions, train.labels, pad_id)
            with setup.autocast():
                built.model(**to_device(inputs, setup.device))
            embedded = caught.value
            target = torch.tensor([t for _, _, t in batch], device=embedded.device)
            loss = method.pair_loss(embedded[:len(batch)], embedded[len(batch):], target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = float(loss.detach())
            if throttle.ready():
                elapsed = time.perf_counter() - start
                reporter.progress(Progress(step=step, total_steps=len(batches), epoch=step / len(batches),
                                           message=f"Learning from pairs of your texts: {step}/{len(batches)}",
                                           loss=loss_value, learning_rate=scheduler.get_last_lr()[0],
                                           samples_per_second=2 * step * method.pair_batch / max(elapsed, 1e-9),
                                           eta_seconds=elapsed / step * (len(batches) - step)))
    finally:
        caught.remove()
        for p, wanted in head_state:
            p.requires_grad = wanted
        built.model.eval()
    seconds = time.perf_counter() - start
    reporter.log(f"Few-shot: pair stage done in {seconds:.1f} s ({len(batches)} steps, last pair loss "
                 f"{loss_value:.4f}); now the head trains on the adapted model.")
    return {"pairs": len(pairs), "steps": len(batches), "seconds": round(seconds, 3)}
